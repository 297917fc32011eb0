"""Wiring for the AWS runtime: environment variables (and SSM ``/cr/config/``) → the service.

``aws(environ)`` returns an ``AwsApp`` that builds each part the first time a handler asks for
it, so an import connects to nothing and a function only touches the services it uses (the
webhook reads one secret and the queue; it never loads config or docs). ``current_app()`` keeps
one app per execution environment, built at the first invocation.

Environment variables (the SAM template sets them): the tables ``CR_STATE_TABLE``,
``CR_SENDS_TABLE``, ``CR_AUDIT_TABLE``, ``CR_UNSUB_TABLE``, ``CR_EVENT_IDS_TABLE``,
``CR_OWNERS_TABLE``; ``CR_EVENTS_QUEUE_URL``, ``CR_RULES_BUCKET``, ``CR_CONFIG_PATH``;
``CR_EXPORTS_BUCKET`` (the nightly export's files);
the secrets ``CR_WEBHOOK_SECRET_ID``, ``CR_SIGNING_SECRET_ID``, ``CR_SHEETS_SECRET_ID`` (the
Google service account's key JSON: the Sheet export and the Docs sync); ``CR_GOOGLE_API_ROOT``;
Scheduler's ``CR_SCHEDULER_GROUP``, ``CR_WAITER_ARN``, ``CR_SENDER_ARN``,
``CR_SCHEDULER_ROLE_ARN``, ``CR_DEAD_LETTER_ARN`` (the schedules' dead-letter queue);
``CR_SES_CONFIGURATION_SET``, ``CR_MAIL_FROM``, ``CR_BASE_URL``,
``CR_STORE_TIMEZONE``, ``CR_BEDROCK_MODEL``, ``CR_OWNER_EMAILS``; and boto3's ``AWS_REGION``,
credentials, and ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (local stand-ins).

SSM parameters under ``CR_CONFIG_PATH`` override the deployment's values for: ``mail_from``,
``base_url``, ``owner_emails`` (comma-separated), ``default_locale``, ``store_timezone``,
``bedrock_model``, ``message_id_domain``, ``sheets_spreadsheet_id``, ``export_window_days``,
``google_docs_rules_id`` and ``google_docs_voice_id`` (the two Google Docs the ``docs-sync``
function follows).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from cart_recovery.adapters.aws import metrics
from cart_recovery.adapters.aws.config import Secrets, parameters_under, secure_parameter
from cart_recovery.adapters.aws.docs import S3Docs
from cart_recovery.adapters.aws.dynamo import DynamoStore, Tables
from cart_recovery.adapters.aws.exports import S3Exporter
from cart_recovery.adapters.aws.messaging import EventBridgeHandOff, EventQueue, SesMailer
from cart_recovery.adapters.aws.messaging import QueueUnavailable as QueueUnavailable
from cart_recovery.adapters.aws.scheduler import EVENT_SOURCE as EVENT_SOURCE
from cart_recovery.adapters.aws.scheduler import STEP_EVENTS as STEP_EVENTS
from cart_recovery.adapters.aws.scheduler import SchedulerTimers
from cart_recovery.adapters.aws.ses_events import SesEventError as SesEventError
from cart_recovery.adapters.aws.ses_events import decode_message as decode_message
from cart_recovery.adapters.aws.ses_events import feedback_of as feedback_of
from cart_recovery.adapters.aws.ses_events import sns_message as sns_message
from cart_recovery.adapters.links import LinkMaker, Tokens
from cart_recovery.adapters.llm.template import TemplateLines
from cart_recovery.adapters.storefronts.generic import decode_event as decode_event
from cart_recovery.adapters.storefronts.generic import verify as verify
from cart_recovery.bootstrap.downloads import export_download
from cart_recovery.config.aws import PARAMETERS, AwsSettings, aws_settings
from cart_recovery.domain.address import recipient_address
from cart_recovery.domain.privacy import EmailKey
from cart_recovery.embedded.clock import SystemClock
from cart_recovery.ports import Clock, Exporter, LineWriter
from cart_recovery.service import Happening, Service
from cart_recovery.service.doc_sync import DocSync
from cart_recovery.service.reports import Reports

# The ``X as X`` imports above are handed over to the handlers, which reach adapters only
# through bootstrap (pyproject.toml's import-linter contracts): the generic source's decoder
# and signature check, the queue's error, the reminder events' names, and the reading of SES's
# bounce and complaint notifications as they come through SNS.

log = logging.getLogger("cart_recovery.aws")

CLAIM_GRACE = timedelta(minutes=15)  # far longer than a sender runs (30 s timeout)


class OnItsOwnLoop:
    """An ASGI app as a Lambda handler through Mangum, each invocation on an event loop of its
    own that is closed after it (Mangum would leave one open and set as the thread's loop)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from mangum import Mangum

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            answer: dict[str, Any] = Mangum(self.app, lifespan="off")(event, context)
            return answer
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class Clients:
    """boto3 clients, one per service, made on first use (making one connects to nothing)."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    @cached_property
    def session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=self.settings.region, **self.settings.credentials)

    def __call__(self, service: str) -> Any:
        with self._lock:
            if service not in self._made:
                from botocore.config import Config

                endpoint = self.settings.endpoints.get(service)
                options: dict[str, Any] = {
                    "connect_timeout": 3,
                    "read_timeout": 10,
                    "retries": {"mode": "standard", "max_attempts": 3},
                }
                if service == "s3":
                    # SigV4 for the presigned export link too (botocore presigns SigV2 else)
                    options["signature_version"] = "s3v4"
                if service == "s3" and endpoint:
                    options["s3"] = {"addressing_style": "path"}
                self._made[service] = self.session.client(
                    service, endpoint_url=endpoint, config=Config(**options)
                )
            return self._made[service]


class AwsApp:
    """The wired AWS runtime. Every part is built on first use and kept."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        clock: Clock | None = None,
        lines: LineWriter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_settings = aws_settings(environ)
        self.clock = clock or SystemClock()
        self.clients = Clients(self.base_settings)
        self._lines = lines
        self._monotonic = monotonic

    # ---- configuration and secrets ----------------------------------------------------------
    @cached_property
    def settings(self) -> AwsSettings:
        """The environment's settings with SSM's parameters over them (read once)."""
        params = parameters_under(self.clients("ssm"), self.base_settings.config_path)
        unknown = sorted(set(params) - PARAMETERS)
        if unknown:
            log.info(
                "SSM parameters not used by the functions", extra={"names": ", ".join(unknown)}
            )
        return self.base_settings.with_parameters(params)

    @cached_property
    def secrets(self) -> Secrets:
        return Secrets(self.clients("secretsmanager"), monotonic=self._monotonic)

    def webhook_secrets(self) -> tuple[str, ...]:
        return self.secrets.rotating(self.base_settings.webhook_secret_id)

    def refresh_webhook_secrets(self) -> bool:
        return self.secrets.refresh(self.base_settings.webhook_secret_id)

    @cached_property
    def tokens(self) -> Tokens:
        """The link signer. The signing key is read when a link is first made or read, so a
        function that never handles links (intake, waiter) never reads the secret."""
        return LazyTokens(lambda: self.secrets.current(self.base_settings.signing_secret_id))

    # ---- adapters ---------------------------------------------------------------------------
    @cached_property
    def queue(self) -> EventQueue:
        return EventQueue(self.clients("sqs"), self.base_settings.need("events_queue_url"))

    @cached_property
    def docs(self) -> S3Docs:
        return S3Docs(self.clients("s3"), self.base_settings.need("rules_bucket"))

    @cached_property
    def timers(self) -> SchedulerTimers:
        s = self.settings
        return SchedulerTimers(
            self.clients("scheduler"),
            waiter_arn=s.need("waiter_arn"),
            sender_arn=s.need("sender_arn"),
            role_arn=s.need("scheduler_role_arn"),
            timezone=s.store_timezone,
            clock=self.clock,
            group=s.scheduler_group,
            dead_letter_arn=s.dead_letter_arn or None,
        )

    @cached_property
    def store(self) -> DynamoStore:
        s = self.base_settings
        tables = Tables(
            state=s.state_table,
            sends=s.sends_table,
            audit=s.audit_table,
            unsub=s.unsub_table,
            event_ids=s.event_ids_table,
            owners=s.owners_table,
        )
        return DynamoStore(
            self.clients("dynamodb"),
            tables=tables,
            timers=self.timers,
            email_key=lambda: EmailKey.from_signing_key(
                self.secrets.current(self.base_settings.signing_secret_id)
            ),
        )

    @cached_property
    def mailer(self) -> SesMailer:
        return SesMailer(self.clients("ses"), self.settings.ses_configuration_set or None)

    @cached_property
    def lines(self) -> LineWriter:
        if self._lines is not None:
            return self._lines
        s = self.settings
        if s.line_writer != "bedrock":
            return TemplateLines()
        from cart_recovery.adapters.llm.bedrock import BedrockLines

        return BedrockLines(
            model=s.bedrock_model,
            region=s.bedrock_region,
            endpoint_url=s.bedrock_endpoint_url,
            session=self.clients.session,
        )

    @cached_property
    def links(self) -> LinkMaker:
        return LinkMaker(self.settings.need("base_url"), self.tokens)

    def message_id_domain(self) -> str:
        s = self.settings
        if s.message_id_domain:
            return s.message_id_domain
        address = recipient_address(s.need("mail_from").rpartition("<")[2].rstrip(">"))
        return address.rpartition("@")[2]

    @cached_property
    def service(self) -> Service:
        s = self.settings
        return Service(
            store=self.store,
            mailer=self.mailer,
            docs=self.docs,
            links=self.links,
            sender=s.need("mail_from"),
            message_id_domain=self.message_id_domain(),
            lines=self.lines,
            default_locale=s.default_locale,
            on_happening=log_happening,
            hand_off=EventBridgeHandOff(self.clients("events")),
        )

    def reports(self, exporters: list[Exporter] | None = None) -> Reports:
        s = self.settings
        return Reports(
            store=self.store,
            docs=self.docs,
            exporters=exporters if exporters is not None else self.exporters(),
            action_url=self.links.action_url,
            export_link=self.export_link,
            mailer=self.mailer,
            lines=self.lines,
            owners=s.owner_emails,
            sender=s.mail_from,
            locale=s.default_locale,
            window_days=s.export_window_days,
        )

    @cached_property
    def exports(self) -> S3Exporter | None:
        """The exports bucket ``CR_EXPORTS_BUCKET`` (None when it is not set)."""
        bucket = self.base_settings.exports_bucket
        return S3Exporter(self.clients("s3"), bucket) if bucket else None

    def export_link(self) -> str | None:
        """The link to the latest export in the summary email: the dashboard's download (it
        never expires; the owner logs in) when ``CR_DASHBOARD_URL`` is set, else a presigned
        S3 GET (valid only as long as the credentials that sign it)."""
        if self.exports is None:
            return None
        dashboard = self.base_settings.dashboard_url
        if dashboard:
            return f"{dashboard.rstrip('/')}/admin/exports/carts.xlsx"
        return self.exports.download_url()

    def exporters(self) -> list[Exporter]:
        """The exports bucket (``CR_EXPORTS_BUCKET``) and the Google Sheet when
        ``sheets_spreadsheet_id`` is configured (the service account key from Secrets Manager
        ``CR_SHEETS_SECRET_ID``); with neither, the rows are only counted in the log."""
        s = self.settings
        out: list[Exporter] = [] if self.exports is None else [self.exports]
        if s.sheets_spreadsheet_id:
            from cart_recovery.adapters.export.sheets import SheetsExporter

            out.append(SheetsExporter(s.sheets_spreadsheet_id, self.service_account_file))
        return out

    def doc_sync(self) -> DocSync | None:
        """The Google Docs sync when both Doc ids are configured (SSM ``google_docs_rules_id``
        and ``google_docs_voice_id``), else None. The Drive service account is the key in
        ``CR_SHEETS_SECRET_ID``; a refused revision mails the owners through SES and is counted
        in the ``DocRejected`` metric."""
        s = self.settings
        if not (s.google_docs_rules_id and s.google_docs_voice_id):
            return None
        from cart_recovery.adapters.drive import DriveDocs

        return DocSync(
            self.service,
            DriveDocs(self.service_account_file, api_root=s.google_api_root),
            {"rules": s.google_docs_rules_id, "voice": s.google_docs_voice_id},
            s.owner_emails,
            on_refused=metrics.doc_rejected,
        )

    @cached_property
    def service_account_file(self) -> Path:
        """The Google service account key (Sheets, Drive), written once per execution
        environment to a private temporary file (google-auth reads a file)."""
        folder = Path(tempfile.mkdtemp(prefix="cr-google-"))
        path = folder / "service-account.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.secrets.current(self.settings.drive_secret_id))
        return path

    @cached_property
    def link_pages(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """The unsubscribe function: the embedded app's link pages (``/u``, ``/r``, ``/a``)
        behind Mangum, which turns a Function URL event into an ASGI request and back."""
        from cart_recovery.web.links import LinkPages, links_app

        pages = LinkPages(
            service=lambda: self.service,
            tokens=self.tokens,
            now=self.now,
            store_name=lambda: self.docs.voice().store_name,
            accounts=lambda: self.store,  # cr-owners: a removed owner's links stop (GetItem)
        )
        return OnItsOwnLoop(links_app(pages))

    @cached_property
    def dashboard(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """The dashboard function: the embedded app's ``/admin`` (web/admin), the same pages
        over DynamoDB, behind the owner login. The admin token is the SecureString
        parameter ``dashboard_token_parameter``; the session cookie is for HTTPS only."""
        from starlette.applications import Starlette

        from cart_recovery.web.admin import AdminParts
        from cart_recovery.web.admin import routes as admin_routes
        from cart_recovery.web.admin.auth import session_key
        from cart_recovery.web.context import OwnerAccess

        signing_key = self.secrets.current(self.base_settings.signing_secret_id)
        access = OwnerAccess(
            admin_token=secure_parameter(
                self.clients("ssm"), self.base_settings.dashboard_token_parameter
            ),
            session_key=session_key(signing_key),
            https_only=True,
        )
        s = self.settings
        links = {"rules": s.google_docs_rules_id, "voice": s.google_docs_voice_id}
        parts = AdminParts(
            service=lambda: self.service,
            access=access,
            accounts=lambda: self.store,
            now=self.now,
            store_name=lambda: self.docs.voice().store_name,
            doc_sources={
                doc: f"https://docs.google.com/document/d/{i}/edit"
                for doc, i in links.items()
                if s.google_docs_rules_id and s.google_docs_voice_id
            },
            export_file=export_download(self.reports, self.links, self.clock),
        )
        return OnItsOwnLoop(Starlette(routes=admin_routes(parts)))

    # ---- per invocation ---------------------------------------------------------------------
    def begin(self) -> None:
        """At the start of each invocation: the docs are looked at again (a cheap conditional
        GET), so an owner's edit takes effect at the next wake-up."""
        docs = self.__dict__.get("docs")
        if isinstance(docs, S3Docs):
            docs.expire()

    def now(self) -> datetime:
        return self.clock.now()

    def send_reminder(self, cart_id: str, now: datetime) -> list[Happening]:
        """The sender: a claim that a crashed sender left behind (older than any sender runs)
        becomes ``uncertain`` first, as the embedded runtime does at start-up, so the cart
        moves on instead of waiting for it; then the reminder that is due."""
        for record in self.store.resolve_claims(now, cart_id=cart_id, older_than=CLAIM_GRACE):
            log.warning(
                "a claimed reminder was never finished: recorded as uncertain, not resent",
                extra={"cart_id": record.cart_id, "step": record.step},
            )
        return self.service.send_reminder(cart_id, now)


class LazyTokens(Tokens):
    """Tokens whose signing key is fetched on first use."""

    def __init__(self, key: Callable[[], str]) -> None:
        self._key = key
        self._ready_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Reached only for attributes not made yet: the serializers Tokens.__init__ makes.
        state = self.__dict__
        if name.startswith("__") or "_key" not in state or state.get("_ready"):
            raise AttributeError(name)
        with state["_ready_lock"]:
            if not state.get("_ready"):
                Tokens.__init__(self, state["_key"]())
                state["_ready"] = True
        return object.__getattribute__(self, name)


def log_happening(happening: Happening) -> None:
    """One structured log line per thing the service did (no addresses)."""
    fields = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in dataclasses.asdict(happening).items()
        if k != "recipient"
    }
    name = type(happening).__name__.lower()
    log.info(name, extra={"happening": name, **fields})


def aws(
    environ: Mapping[str, str],
    *,
    clock: Clock | None = None,
    lines: LineWriter | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> AwsApp:
    """The AWS runtime wired from ``environ`` (nothing is connected until first use)."""
    return AwsApp(environ, clock=clock, lines=lines, monotonic=monotonic)


_app: AwsApp | None = None
_app_lock = threading.Lock()


def current_app() -> AwsApp:
    """This execution environment's app, built at the first invocation from ``os.environ``."""
    global _app
    with _app_lock:
        if _app is None:
            from cart_recovery.embedded.logs import setup_logging

            setup_logging(os.environ.get("CR_LOG_LEVEL", "INFO"))
            _app = aws(os.environ)
        return _app


def use_app(app: AwsApp | None) -> None:
    """Install ``app`` as this environment's app (tests; None: build afresh next time)."""
    global _app
    with _app_lock:
        _app = app
