"""Wiring: the one place adapters are chosen and handed to the service."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from cart_recovery.adapters.export.files import FileExporter
from cart_recovery.adapters.files import FileDocs
from cart_recovery.adapters.links import LinkMaker, Tokens
from cart_recovery.adapters.llm import LineWriterConfig, make_line_writer
from cart_recovery.adapters.mail import OutboxFolder, SmtpMailer, parse_smtp_url
from cart_recovery.adapters.mail_events.mailgun import MailgunEvents
from cart_recovery.adapters.mail_events.postmark import PostmarkEvents
from cart_recovery.adapters.mail_events.sendgrid import SendGridEvents, load_public_key
from cart_recovery.adapters.mail_events.sns import SnsEvents
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.adapters.storefronts.generic import GenericSource
from cart_recovery.adapters.storefronts.shopify import ShopifySource
from cart_recovery.adapters.storefronts.standard_webhooks import StandardWebhooksSource
from cart_recovery.bootstrap.backups import backup_schedule
from cart_recovery.bootstrap.downloads import export_download
from cart_recovery.config.first_run import new_config_text
from cart_recovery.config.mail_events import MailEventSettings
from cart_recovery.config.settings import CONFIG_NAME, EmbeddedSettings
from cart_recovery.domain.privacy import EmailKey
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from cart_recovery.embedded.alerts import AlertSchedule
from cart_recovery.embedded.clock import SystemClock
from cart_recovery.embedded.doc_sync import DocSyncSchedule
from cart_recovery.embedded.ingest import IngestQueue
from cart_recovery.embedded.metrics import Metrics
from cart_recovery.embedded.reports import ReportSchedule
from cart_recovery.embedded.timers import TimerLoop
from cart_recovery.ports import (
    Clock,
    Closable,
    DocsDrive,
    Exporter,
    LineWriter,
    Mailer,
    MailEvents,
    Source,
)
from cart_recovery.service import AlertMonitor, Happening, Service
from cart_recovery.service.doc_sync import DocSync
from cart_recovery.service.reports import Reports
from cart_recovery.web.admin import session_key
from cart_recovery.web.app import create_app
from cart_recovery.web.context import OwnerAccess, WebContext


def init_data_dir(data_dir: Path) -> list[Path]:
    """First run: create the folder with the default docs and a config with fresh secrets.
    Never overwrites a file that exists. Returns the files it created."""
    data_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for name, text in (
        (CONFIG_NAME, None),
        ("rules.txt", DEFAULT_RULES_TEXT),
        ("voice.txt", DEFAULT_VOICE_TEXT),
    ):
        path = data_dir / name
        if path.exists():
            continue
        content = new_config_text() if text is None else text
        mode = 0o600 if text is None else 0o644  # the config holds secrets
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        created.append(path)
    (data_dir / "outbox").mkdir(exist_ok=True)
    return created


def make_reports(
    settings: EmbeddedSettings, store: SqliteStore, docs: FileDocs, service: Service
) -> Reports:
    """The nightly export (files, plus Google Sheets when configured) and the summary."""
    exporters: list[Exporter] = [FileExporter(settings.export_dir)]
    if settings.sheets_spreadsheet_id:
        from cart_recovery.adapters.export.sheets import sheets_exporter

        sheets = sheets_exporter(
            settings.sheets_spreadsheet_id, settings.sheets_service_account_file
        )
        if sheets is not None:
            exporters.append(sheets)
    return Reports(
        store=store,
        docs=docs,
        exporters=exporters,
        action_url=service.links.action_url,
        mailer=service.mailer,
        lines=service.lines,
        owners=settings.owner_emails,
        sender=settings.mail_from,
        locale=settings.default_locale,
        window_days=settings.export_window_days,
    )


def make_sources(settings: EmbeddedSettings) -> dict[str, Source]:
    """The storefront sources the settings enable (each with its own secrets)."""
    sources: dict[str, Source] = {"generic": GenericSource(settings.webhook_secrets)}
    if settings.shopify_secrets:
        sources["shopify"] = ShopifySource(settings.shopify_secrets)
    if settings.standard_webhooks_secrets:
        sources["standard"] = StandardWebhooksSource(settings.standard_webhooks_secrets)
    return sources


def make_mail_events(settings: MailEventSettings) -> dict[str, MailEvents]:
    """The mail providers' bounce and complaint webhooks the settings enable (SES needs its
    topics: any AWS account could otherwise subscribe the URL to a topic of its own)."""
    hooks: dict[str, MailEvents] = {}
    if settings.sns_topic_arns:
        hooks["ses"] = SnsEvents(settings.sns_topic_arns, settings.sns_cert_url_pattern)
    if settings.postmark_webhook_users:
        hooks["postmark"] = PostmarkEvents(settings.postmark_webhook_users)
    if settings.sendgrid_webhook_public_key:
        key = load_public_key(settings.sendgrid_webhook_public_key)
        hooks["sendgrid"] = SendGridEvents(key)
    if settings.mailgun_webhook_signing_key:
        hooks["mailgun"] = MailgunEvents(settings.mailgun_webhook_signing_key)
    return hooks


def open_store(settings: EmbeddedSettings) -> SqliteStore:
    """The data folder's database, its unsubscribe list keyed with the signing key. Anything
    that opens the embedded store (the service, the CLI, reports) opens it through here."""
    if not settings.signing_key:
        raise ValueError(f"{settings.data_dir / CONFIG_NAME}: 'signing_key' is not set")
    return SqliteStore(
        settings.database,
        synchronous=settings.sqlite_synchronous,
        email_key=EmailKey.from_signing_key(settings.signing_key),
    )


def line_writer_config(settings: EmbeddedSettings) -> LineWriterConfig:
    """The line writer the settings name, and what it needs."""
    return LineWriterConfig(
        kind=settings.line_writer,
        timeout=settings.llm_timeout_seconds,
        anthropic_model=settings.anthropic_model,
        anthropic_base_url=settings.anthropic_base_url,
        anthropic_api_key=settings.anthropic_api_key,
        bedrock_model=settings.bedrock_model,
        bedrock_region=settings.bedrock_region,
        bedrock_endpoint_url=settings.bedrock_endpoint_url,
    )


def owner_access(settings: EmbeddedSettings) -> OwnerAccess:
    return OwnerAccess(
        admin_token=settings.admin_token,
        session_key=session_key(settings.signing_key),
        https_only=settings.base_url.startswith("https://"),
    )


def make_mailer(settings: EmbeddedSettings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(parse_smtp_url(settings.smtp_url))
    return OutboxFolder(settings.outbox)


def make_doc_sync(
    settings: EmbeddedSettings, service: Service, clock: Clock, drive: DocsDrive | None
) -> DocSyncSchedule | None:
    """The Google Docs sync, when both Doc ids are set (else the docs are edited here)."""
    rules_id, voice_id = settings.google_docs_rules_id, settings.google_docs_voice_id
    if not (rules_id and voice_id):
        return None
    if drive is None:
        from cart_recovery.adapters.drive import DriveDocs

        assert settings.google_service_account_file is not None  # the settings check it
        drive = DriveDocs(settings.google_service_account_file, api_root=settings.google_api_root)
    sync = DocSync(service, drive, {"rules": rules_id, "voice": voice_id}, settings.owner_emails)
    return DocSyncSchedule(sync, clock)


def doc_links(settings: EmbeddedSettings) -> dict[str, str]:
    """The docs followed from a Google Doc, each with the Doc's link (for the dashboard)."""
    if not (settings.google_docs_rules_id and settings.google_docs_voice_id):
        return {}
    ids = {"rules": settings.google_docs_rules_id, "voice": settings.google_docs_voice_id}
    return {doc: f"https://docs.google.com/document/d/{i}/edit" for doc, i in ids.items()}


def watch(
    settings: EmbeddedSettings, store: SqliteStore, service: Service, metrics: Metrics
) -> AlertMonitor:
    """The owner's alerts, kept in the store and told every happening (with the metrics).
    They go through the service's own mailer: when that is what fails, they still reach the
    log and the dashboard."""
    alerts = AlertMonitor(
        store, store, service.mailer, owners=settings.owner_emails, sender=settings.mail_from
    )
    service.alerts = alerts

    def observe(happening: Happening) -> None:
        metrics.observe(happening)
        alerts.observe(happening)

    service.on_happening = observe
    return alerts


@dataclass
class Embedded:
    settings: EmbeddedSettings
    store: SqliteStore
    docs: FileDocs
    service: Service
    loop: TimerLoop
    clock: Clock
    tokens: Tokens
    app: Starlette
    metrics: Metrics
    reports: Reports
    report_schedule: ReportSchedule
    alert_schedule: AlertSchedule
    doc_sync: DocSyncSchedule | None = None

    def close(self) -> None:
        for part in (self.service.mailer, self.service.lines):
            if isinstance(part, Closable):
                part.close()
        self.store.close()


def embedded(
    settings: EmbeddedSettings,
    *,
    clock: Clock | None = None,
    mailer: Mailer | None = None,
    lines: LineWriter | None = None,
    drive: DocsDrive | None = None,
    run_timers: bool = True,
) -> Embedded:
    clock = clock or SystemClock()
    if not settings.signing_key:
        raise ValueError(f"{settings.data_dir / CONFIG_NAME}: 'signing_key' is not set")
    store = open_store(settings)
    docs = FileDocs(settings.rules_file, settings.voice_file, settings.data_dir / "doc-history")
    docs.rules()  # fail fast at start-up when neither the doc nor a last good copy parses
    docs.voice()
    tokens = Tokens(settings.signing_key)
    service = Service(
        store=store,
        mailer=mailer or make_mailer(settings),
        docs=docs,
        links=LinkMaker(settings.base_url, tokens),
        sender=settings.mail_from,
        message_id_domain=settings.message_id_domain,
        lines=lines or make_line_writer(line_writer_config(settings)),
        default_locale=settings.default_locale,
    )
    metrics = Metrics()
    alert_schedule = AlertSchedule(watch(settings, store, service, metrics), clock)
    loop = TimerLoop(service, store, clock)
    reports = make_reports(settings, store, docs, service)
    report_schedule = ReportSchedule(reports, clock, settings.export_dir)
    ingest_queue = IngestQueue(service, store)
    doc_sync = make_doc_sync(settings, service, clock, drive)
    loop.on_wakeup = metrics.wakeups.inc
    loop.on_error = metrics.errors.labels("wakeup").inc

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        ingest_queue.start()
        runs = [loop.run, report_schedule.run, alert_schedule.run]
        runs += [doc_sync.run] if doc_sync else []
        runs += [backup_schedule(settings, reports, clock).run] if settings.backup_keep else []
        tasks = [asyncio.create_task(run(stop)) for run in runs] if run_timers else []
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            ingest_queue.stop()

    ctx = WebContext(
        service=service,
        queue=store,
        clock=clock,
        tokens=tokens,
        store_name=lambda: docs.voice().store_name,
        on_ingest=loop.poke,
        schema_version=store.schema_version,
        metrics=metrics,
        sources=make_sources(settings),
        mail_events=make_mail_events(settings.mail_events),
        owner=owner_access(settings),
        accounts=store,
        doc_sources=doc_links(settings),
        export_file=export_download(lambda: reports, service.links, clock),
        ingester=ingest_queue.ingest,
    )
    app = create_app(ctx, lifespan=lifespan)
    parts = (store, docs, service, loop, clock, tokens, app, metrics, reports, report_schedule)
    return Embedded(settings, *parts, alert_schedule, doc_sync)
