"""Wiring for the AWS runtime: environment variables (and SSM ``/cr/config/``) → the service.

``aws(environ)`` returns an ``AwsApp`` that builds each part the first time a handler asks for
it, so an import connects to nothing and a function only touches the services it uses (the
webhook reads one secret and the queue; it never loads config or docs). ``current_app()`` keeps
one app per execution environment, built at the first invocation.

Environment variables (the SAM template sets them): the tables ``CR_STATE_TABLE``,
``CR_SENDS_TABLE``, ``CR_AUDIT_TABLE``, ``CR_UNSUB_TABLE``, ``CR_EVENT_IDS_TABLE``;
``CR_EVENTS_QUEUE_URL``, ``CR_RULES_BUCKET``, ``CR_CONFIG_PATH``;
the secrets ``CR_WEBHOOK_SECRET_ID``, ``CR_SIGNING_SECRET_ID``, ``CR_SHEETS_SECRET_ID``;
Scheduler's ``CR_SCHEDULER_GROUP``, ``CR_WAITER_ARN``, ``CR_SENDER_ARN``,
``CR_SCHEDULER_ROLE_ARN``; ``CR_SES_CONFIGURATION_SET``, ``CR_MAIL_FROM``, ``CR_BASE_URL``,
``CR_STORE_TIMEZONE``, ``CR_BEDROCK_MODEL``, ``CR_OWNER_EMAILS``; and boto3's ``AWS_REGION``,
credentials, and ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (local stand-ins).

SSM parameters under ``CR_CONFIG_PATH`` override the deployment's values for: ``mail_from``,
``base_url``, ``owner_emails`` (comma-separated), ``default_locale``, ``store_timezone``,
``bedrock_model``, ``message_id_domain``, ``sheets_spreadsheet_id``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cart_recovery.adapters.aws.config import Secrets, parameters_under
from cart_recovery.adapters.aws.docs import S3Docs
from cart_recovery.adapters.aws.dynamo import DynamoStore, Tables
from cart_recovery.adapters.aws.messaging import EventBridgeHandOff, EventQueue, SesMailer
from cart_recovery.adapters.aws.scheduler import SchedulerTimers
from cart_recovery.adapters.links import LinkMaker, Tokens
from cart_recovery.adapters.llm.template import TemplateLines
from cart_recovery.config.settings import SettingsError
from cart_recovery.domain.address import AddressError, recipient_address
from cart_recovery.domain.privacy import EmailKey
from cart_recovery.embedded.clock import Clock, SystemClock
from cart_recovery.ports import LineWriter
from cart_recovery.service import Happening, MailFailure, Service
from cart_recovery.service.reports import Exporter, Reports

if TYPE_CHECKING:
    from mangum import Mangum

log = logging.getLogger("cart_recovery.aws")

CLAIM_GRACE = timedelta(minutes=15)  # far longer than a sender runs (30 s timeout)

# boto3's own names for the per-service endpoint variables.
ENDPOINT_VARIABLES = {
    "dynamodb": "DYNAMODB",
    "sqs": "SQS",
    "events": "EVENTBRIDGE",
    "scheduler": "SCHEDULER",
    "ses": "SES",
    "s3": "S3",
    "ssm": "SSM",
    "secretsmanager": "SECRETS_MANAGER",
    "bedrock-runtime": "BEDROCK_RUNTIME",
}

_ENV = {
    "state_table": "CR_STATE_TABLE",
    "sends_table": "CR_SENDS_TABLE",
    "audit_table": "CR_AUDIT_TABLE",
    "unsub_table": "CR_UNSUB_TABLE",
    "event_ids_table": "CR_EVENT_IDS_TABLE",
    "events_queue_url": "CR_EVENTS_QUEUE_URL",
    "rules_bucket": "CR_RULES_BUCKET",
    "config_path": "CR_CONFIG_PATH",
    "webhook_secret_id": "CR_WEBHOOK_SECRET_ID",
    "signing_secret_id": "CR_SIGNING_SECRET_ID",
    "scheduler_group": "CR_SCHEDULER_GROUP",
    "waiter_arn": "CR_WAITER_ARN",
    "sender_arn": "CR_SENDER_ARN",
    "scheduler_role_arn": "CR_SCHEDULER_ROLE_ARN",
    "ses_configuration_set": "CR_SES_CONFIGURATION_SET",
    "mail_from": "CR_MAIL_FROM",
    "base_url": "CR_BASE_URL",
    "store_timezone": "CR_STORE_TIMEZONE",
    "bedrock_model": "CR_BEDROCK_MODEL",
    "owner_emails": "CR_OWNER_EMAILS",
    "drive_secret_id": "CR_SHEETS_SECRET_ID",
}

# Settings an SSM parameter under CR_CONFIG_PATH may set.
_PARAMETERS = {
    "mail_from",
    "base_url",
    "owner_emails",
    "default_locale",
    "store_timezone",
    "bedrock_model",
    "message_id_domain",
    "sheets_spreadsheet_id",
}


@dataclass(frozen=True)
class AwsSettings:
    """The AWS runtime's settings, parsed once. A value a function needs but was not given
    raises SettingsError naming its environment variable (``need``)."""

    state_table: str = "cr-state"
    sends_table: str = "cr-sends"
    audit_table: str = "cr-audit"
    unsub_table: str = "cr-unsub"
    event_ids_table: str = "cr-event-ids"
    events_queue_url: str = ""
    rules_bucket: str = "cr-rules-source"
    config_path: str = "/cr/config/"
    # Secrets Manager ids (names, not secrets)
    webhook_secret_id: str = "cr/webhook/secret"  # noqa: S105
    signing_secret_id: str = "cr/signing/key"  # noqa: S105
    drive_secret_id: str = "cr/drive/sa"  # noqa: S105
    scheduler_group: str = "default"
    waiter_arn: str = ""
    sender_arn: str = ""
    scheduler_role_arn: str = ""
    ses_configuration_set: str = "cr-sends-config"
    mail_from: str = ""
    base_url: str = ""
    store_timezone: str = "America/New_York"
    bedrock_model: str = ""
    owner_emails: tuple[str, ...] = ()
    default_locale: str = "en_US"
    message_id_domain: str = ""
    sheets_spreadsheet_id: str = ""
    region: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AwsSettings:
        values: dict[str, Any] = {}
        for name, variable in _ENV.items():
            raw = environ.get(variable, "").strip()
            if raw:
                values[name] = raw
        endpoints: dict[str, str] = {}
        for service, suffix in ENDPOINT_VARIABLES.items():
            url = environ.get(f"AWS_ENDPOINT_URL_{suffix}") or environ.get("AWS_ENDPOINT_URL")
            if url:
                endpoints[service] = url
        credentials = {
            k: environ[v]
            for k, v in (
                ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
                ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
                ("aws_session_token", "AWS_SESSION_TOKEN"),
            )
            if environ.get(v)
        }
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
        return cls(region=region, endpoints=endpoints, credentials=credentials).replace(values)

    def replace(self, values: Mapping[str, str]) -> AwsSettings:
        """These settings with ``values`` (text, as from the environment or SSM) over them."""
        parsed: dict[str, Any] = dict(values)
        if "owner_emails" in parsed:
            owners = tuple(o.strip() for o in parsed["owner_emails"].split(",") if o.strip())
            for owner in owners:
                try:
                    recipient_address(owner)
                except AddressError:
                    raise SettingsError(
                        f"owner_emails: {owner[:80]!r} is not an email address"
                    ) from None
            parsed["owner_emails"] = owners
        out = dataclasses.replace(self, **parsed)
        try:
            ZoneInfo(out.store_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"CR_STORE_TIMEZONE: {out.store_timezone!r} is not an IANA timezone"
            ) from None
        if not out.config_path.startswith("/"):
            raise SettingsError("CR_CONFIG_PATH must start with '/' (e.g. /cr/config/)")
        return out

    def with_parameters(self, parameters: Mapping[str, str]) -> AwsSettings:
        known = {k: v for k, v in parameters.items() if k in _PARAMETERS and v.strip()}
        unknown = sorted(set(parameters) - _PARAMETERS)
        if unknown:
            log.info(
                "SSM parameters not used by the functions", extra={"names": ", ".join(unknown)}
            )
        return self.replace({k: v.strip() for k, v in known.items()})

    def need(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            variable = _ENV.get(name, name)
            raise SettingsError(f"{variable} is not set (needed by this function)")
        return str(value)


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
        self.base_settings = AwsSettings.from_environ(environ)
        self.clock = clock or SystemClock()
        self.clients = Clients(self.base_settings)
        self._lines = lines
        self._monotonic = monotonic

    # ---- configuration and secrets ----------------------------------------------------------
    @cached_property
    def settings(self) -> AwsSettings:
        """The environment's settings with SSM's parameters over them (read once)."""
        params = parameters_under(self.clients("ssm"), self.base_settings.config_path)
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
        model = self.settings.bedrock_model
        if not model:
            return TemplateLines()
        from cart_recovery.adapters.llm.bedrock import BedrockLines

        return BedrockLines(
            model=model,
            region=self.settings.region,
            endpoint_url=self.settings.endpoints.get("bedrock-runtime"),
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
            mail_errors=(MailFailure,),
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
            mailer=self.mailer,
            lines=self.lines,
            owners=s.owner_emails,
            sender=s.mail_from,
            locale=s.default_locale,
        )

    def exporters(self) -> list[Exporter]:
        """The Google Sheet when ``sheets_spreadsheet_id`` is configured (the service account
        key from Secrets Manager ``CR_SHEETS_SECRET_ID``), else none: the rows are only
        counted in the log."""
        s = self.settings
        if not s.sheets_spreadsheet_id:
            return []
        from cart_recovery.adapters.export.sheets import SheetsExporter

        return [SheetsExporter(s.sheets_spreadsheet_id, self.service_account_file)]

    @cached_property
    def service_account_file(self) -> Path:
        """The Sheets service account key, written once per execution environment to a
        private temporary file (the exporter reads a file)."""
        folder = Path(tempfile.mkdtemp(prefix="cr-sheets-"))
        path = folder / "service-account.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.secrets.current(self.settings.drive_secret_id))
        return path

    @cached_property
    def link_pages(self) -> Mangum:
        """The unsubscribe function: the embedded app's link pages (``/u``, ``/r``, ``/a``)
        behind Mangum, which turns a Function URL event into an ASGI request and back."""
        from mangum import Mangum

        from cart_recovery.web.links import LinkPages, links_app

        pages = LinkPages(
            service=lambda: self.service,
            tokens=self.tokens,
            now=self.now,
            store_name=lambda: self.docs.voice().store_name,
        )
        return Mangum(links_app(pages), lifespan="off")

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
