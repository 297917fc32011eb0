"""One typed settings model for both runtimes, parsed once from an injected mapping.

``Settings`` holds what both runtimes share (the public URL, the sender, the owners, the line
writer, the Sheet); ``EmbeddedSettings`` adds the one-process runtime's part (data folder,
listener, storefront secrets, SMTP, SQLite), read from ``config.toml`` with ``CART_RECOVERY_*``
variables over it; ``AwsSettings`` adds the AWS runtime's part (tables, queue, Scheduler,
secret ids, endpoints), read from ``CR_*`` variables with SSM parameters over them.

Each runtime's sources are merged into one mapping, remembering where each key came from, and
converted once (``msgspec.convert``); an error names the key and where it came from: the
file, the environment variable or the SSM parameter. Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from cart_recovery.adapters.storefronts.standard_webhooks import load_secret as load_standard_secret
from cart_recovery.config import SettingsError as SettingsError
from cart_recovery.config.mail_events import MailEventSettings, read_mail_events
from cart_recovery.domain.address import AddressError, recipient_address

CONFIG_NAME = "config.toml"
RULES_NAME = "rules.txt"
VOICE_NAME = "voice.txt"

LINE_WRITERS = ("template", "anthropic", "bedrock")
DEFAULT_MAIL_FROM = "Your Store <shop@example.com>"


Url = Annotated[str, msgspec.Meta(pattern=r"^https?://")]
OptionalUrl = Annotated[str, msgspec.Meta(pattern=r"^(?:https?://|$)")]  # "": not given
Secret = Annotated[str, msgspec.Meta(min_length=16)]
Rotating = Annotated[tuple[Secret, ...], msgspec.Meta(max_length=2)]  # two during a rotation

# Left out of repr (and so of every log line and error that shows settings).
_SECRET_FIELDS = frozenset(
    {
        "webhook_secrets",
        "shopify_secrets",
        "standard_webhooks_secrets",
        "signing_key",
        "admin_token",
        "smtp_url",
        "anthropic_api_key",
        "credentials",
    }
)


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What both runtimes share."""

    base_url: OptionalUrl = ""  # the embedded runtime derives one from host and port
    mail_from: str = DEFAULT_MAIL_FROM
    default_locale: str = "en_US"
    owner_emails: tuple[str, ...] = ()
    sheets_spreadsheet_id: str | None = None
    export_window_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 14
    # The rules and voice followed from two Google Docs (README: "Rules and voice in Google Docs")
    google_docs_rules_id: str | None = None
    google_docs_voice_id: str | None = None
    google_api_root: Url = "https://www.googleapis.com"
    # The line writer (README: "The line writer"): who may polish the opening line.
    line_writer: Literal["template", "anthropic", "bedrock"] = "template"
    anthropic_model: str = "claude-haiku-4-5"
    anthropic_base_url: Url = "https://api.anthropic.com"
    anthropic_api_key: str = ""
    bedrock_model: str = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    bedrock_region: str | None = None
    bedrock_endpoint_url: Url | None = None
    llm_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 3.0

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if name not in _SECRET_FIELDS
        )
        return f"{type(self).__name__}({shown})"


class EmbeddedSettings(Settings, frozen=True, kw_only=True):
    """The embedded runtime's part: one data folder, one process."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    webhook_secrets: Rotating = ()
    shopify_secrets: Rotating = ()
    standard_webhooks_secrets: Rotating = ()
    signing_key: str = ""
    admin_token: str = ""
    smtp_url: str | None = None
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"
    backup_keep: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0  # nightly copies kept; 0: off
    sheets_service_account_file: Path | None = None
    google_service_account_file: Path | None = None
    config_file: Path | None = None
    mail_events: MailEventSettings = MailEventSettings()  # config/mail_events.py

    @property
    def database(self) -> Path:
        return self.data_dir / "cart-recovery.sqlite3"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def export_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def rules_file(self) -> Path:
        return self.data_dir / RULES_NAME

    @property
    def voice_file(self) -> Path:
        return self.data_dir / VOICE_NAME

    @property
    def message_id_domain(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/webhooks/cart"


class AwsSettings(Settings, frozen=True, kw_only=True):
    """The AWS runtime's part. A value a function needs but was not given raises
    SettingsError naming its environment variable (``need``)."""

    state_table: str = "cr-state"
    sends_table: str = "cr-sends"
    audit_table: str = "cr-audit"
    unsub_table: str = "cr-unsub"
    event_ids_table: str = "cr-event-ids"
    owners_table: str = "cr-owners"
    events_queue_url: str = ""
    rules_bucket: str = "cr-rules-source"
    exports_bucket: str = ""  # the nightly export's files ("": none)
    config_path: Annotated[str, msgspec.Meta(pattern="^/")] = "/cr/config/"
    # Secrets Manager ids (names, not secrets)
    webhook_secret_id: str = "cr/webhook/secret"  # noqa: S105
    signing_secret_id: str = "cr/signing/key"  # noqa: S105
    drive_secret_id: str = "cr/drive/sa"  # noqa: S105
    dashboard_token_parameter: str = "/cr/dashboard/token"  # noqa: S105  (a SecureString)
    dashboard_url: str = ""  # the dashboard function's URL (the summary links the export there)
    scheduler_group: str = "default"
    waiter_arn: str = ""
    sender_arn: str = ""
    scheduler_role_arn: str = ""
    dead_letter_arn: str = ""  # the per-cart schedules' dead-letter queue ("": none)
    ses_configuration_set: str = "cr-sends-config"
    store_timezone: str = "America/New_York"
    message_id_domain: str = ""
    region: str | None = None
    endpoints: dict[str, str] = {}
    credentials: dict[str, str] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AwsSettings:
        return aws_settings(environ)

    def with_parameters(self, parameters: Mapping[str, str]) -> AwsSettings:
        """These settings with the SSM parameters under ``config_path`` over them (the ones in
        ``PARAMETERS``; others are not for the functions)."""
        raw = msgspec.structs.asdict(self)
        where = dict(_AWS_ORIGINS)
        for name, value in parameters.items():
            if name in PARAMETERS and value.strip():
                raw.update(_aws_value(name, value.strip()))
                where[name] = f"{self.config_path.rstrip('/')}/{name}"
        return _aws_checked(raw, where)

    def need(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            variable = AWS_ENV.get(name, name)
            raise SettingsError(f"{variable} is not set (needed by this function)")
        return str(value)


# ---- conversion: one mapping in, one typed value out ---------------------------------------
S = TypeVar("S", bound=Settings)

_EXPLAINED = {
    "port": "must be a number from 0 to 65535",
    "llm_timeout_seconds": "must be above 0 and at most 60",
    "line_writer": f"must be one of {', '.join(LINE_WRITERS)}",
    "sqlite_synchronous": "must be OFF, NORMAL, FULL or EXTRA",
    "backup_keep": "must be a whole number from 0 (no nightly backup) to 1000",
    "owner_emails": "must be a list of email addresses",
    "base_url": "must be an http(s) URL",
    "anthropic_base_url": "must be an http(s) URL",
    "bedrock_endpoint_url": "must be an http(s) URL",
    "config_path": "must start with '/' (e.g. /cr/config/)",
    "export_window_days": "must be a whole number of days from 1 to 366",
}
_KINDS = {"str": "a string", "int": "a whole number", "float": "a number", "array": "a list"}
_SECRET_NAMES = {
    "webhook_secrets": "webhook secret",
    "shopify_secrets": "Shopify secret",
    "standard_webhooks_secrets": "Standard Webhooks secret",
}


def _explain(key: str, detail: str) -> str:
    if key in _SECRET_NAMES:
        if "length >= 16" in detail:
            return f"'{key}': each {_SECRET_NAMES[key]} must be at least 16 characters"
        if "length <= 2" in detail:
            return f"'{key}' takes at most two (during a rotation)"
        return f"'{key}' must be a list of strings"
    if key in _EXPLAINED:
        return f"'{key}' {_EXPLAINED[key]}"
    wanted = re.match(r"Expected `(\w+)`", detail)
    if wanted and wanted[1] in _KINDS:
        return f"'{key}' must be {_KINDS[wanted[1]]}"
    return f"'{key}': {detail}"


def _path_hook(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str | Path):
        return Path(value).expanduser()
    raise NotImplementedError


def convert(kind: type[S], raw: Mapping[str, Any], where: Mapping[str, str], default: str) -> S:
    """``raw`` as a ``kind``; a bad value raises SettingsError naming the key and where it came
    from (``where[key]``, else ``default``)."""
    try:
        return msgspec.convert(dict(raw), kind, strict=False, dec_hook=_path_hook)
    except msgspec.ValidationError as e:
        detail, _, at = str(e).partition(" - at `$.")
        key = re.split(r"[\[.`]", at, maxsplit=1)[0] if at else ""
        raise SettingsError(f"{where.get(key, default)}: {_explain(key, detail)}") from None


def _check_owners(owners: tuple[str, ...], where: str) -> None:
    for owner in owners:
        try:
            recipient_address(owner)
        except AddressError:
            raise SettingsError(f"{where}: {_explain('owner_emails', '')}") from None


def _words(raw: str) -> list[str]:
    """A comma-separated variable's values."""
    return [w.strip() for w in raw.split(",") if w.strip()]


# ---- the embedded runtime: config.toml, then CART_RECOVERY_* --------------------------------
# The file's keys a CART_RECOVERY_<KEY> variable overrides (lists comma-separated).
_ENV_KEYS = (
    "host",
    "port",
    "base_url",
    "smtp_url",
    "owner_emails",
    "line_writer",
    "anthropic_model",
    "anthropic_base_url",
    "anthropic_api_key",
    "bedrock_model",
    "bedrock_region",
    "bedrock_endpoint_url",
    "llm_timeout_seconds",
    "google_docs_rules_id",
    "google_docs_voice_id",
    "google_service_account_file",
    "google_api_root",
)
SECRET_ENV = {
    "webhook_secrets": "CART_RECOVERY_WEBHOOK_SECRET",
    "shopify_secrets": "CART_RECOVERY_SHOPIFY_SECRET",
    "standard_webhooks_secrets": "CART_RECOVERY_STANDARD_WEBHOOKS_SECRET",
}
_LISTS = ("owner_emails", *SECRET_ENV)
_FIELDS = EmbeddedSettings.__struct_fields__ + MailEventSettings.__struct_fields__
FILE_KEYS = frozenset(_FIELDS) - {"data_dir", "config_file", "mail_events"}


def _read_file(config_file: Path) -> dict[str, Any]:
    if not config_file.exists():
        return {}
    try:
        table = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{config_file}: {e}") from None
    for key in table:
        if key not in FILE_KEYS:
            known = ", ".join(sorted(FILE_KEYS))
            raise SettingsError(f"{config_file}: unknown key '{key}' (known: {known})")
    # A list may be given as one string; an empty string is as if the key were absent.
    return {
        k: ([v] if k in _LISTS and isinstance(v, str) else v) for k, v in table.items() if v != ""
    }


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """The values the environment sets, each with its variable's name."""
    found: dict[str, tuple[Any, str]] = {}
    for key in _ENV_KEYS:
        variable = f"CART_RECOVERY_{key.upper()}"
        if environ.get(variable):
            value = environ[variable]
            found[key] = (_words(value) if key in _LISTS else value, variable)
    for key, variable in SECRET_ENV.items():
        if environ.get(variable):
            found[key] = (_words(environ[variable]), variable)
    if "anthropic_api_key" not in found and environ.get("ANTHROPIC_API_KEY"):
        found["anthropic_api_key"] = (environ["ANTHROPIC_API_KEY"], "ANTHROPIC_API_KEY")
    return found


def load_settings(data_dir: Path, environ: Mapping[str, str]) -> EmbeddedSettings:
    """Read ``data_dir/config.toml`` (if present), then apply ``CART_RECOVERY_*`` variables."""
    config_file = data_dir / CONFIG_NAME
    at = str(config_file)
    raw = _read_file(config_file)
    where = dict.fromkeys(raw, at)
    for key, (value, variable) in _from_environment(environ).items():
        raw[key], where[key] = value, variable
    if not raw.get("bedrock_region"):  # the AWS SDK's own variables last
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if region:
            raw["bedrock_region"], where["bedrock_region"] = region, "AWS_REGION"
    for key, change in (("line_writer", str.lower), ("sqlite_synchronous", str.upper)):
        if isinstance(raw.get(key), str):
            raw[key] = change(raw[key].strip())
    for key in ("base_url", "anthropic_base_url"):
        if isinstance(raw.get(key), str):
            raw[key] = raw[key].rstrip("/")
    host = raw.get("host", "127.0.0.1")
    raw["mail_events"] = read_mail_events(raw, where, environ, at)
    settings = convert(
        EmbeddedSettings,
        {
            "data_dir": data_dir,
            "config_file": config_file if config_file.exists() else None,
            **raw,
        },
        where,
        at,
    )
    if "base_url" not in raw:
        shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
        settings = msgspec.structs.replace(settings, base_url=f"http://{shown}:{settings.port}")
    _check_embedded(settings, where, at)
    return settings


def _check_embedded(s: EmbeddedSettings, where: Mapping[str, str], at: str) -> None:
    """What one key alone cannot say: keys that go together, and the secrets' formats."""
    _check_owners(s.owner_emails, where.get("owner_emails", at))
    for secret in s.standard_webhooks_secrets:
        try:
            load_standard_secret(secret)
        except ValueError as e:
            origin = where.get("standard_webhooks_secrets", at)
            raise SettingsError(f"{origin}: 'standard_webhooks_secrets': {e}") from None
    writer = where.get("line_writer", at)
    if s.line_writer == "anthropic" and not s.anthropic_api_key:
        raise SettingsError(
            f"{writer}: line_writer 'anthropic' needs an API key: set "
            "CART_RECOVERY_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"
        )
    if s.line_writer == "bedrock" and not s.bedrock_region:
        raise SettingsError(
            f"{writer}: line_writer 'bedrock' needs a region: set 'bedrock_region' "
            "(or CART_RECOVERY_BEDROCK_REGION, AWS_REGION)"
        )
    if bool(s.sheets_spreadsheet_id) != bool(s.sheets_service_account_file):
        raise SettingsError(
            f"{at}: 'sheets_spreadsheet_id' and 'sheets_service_account_file' go together"
        )
    if (s.google_docs_rules_id or s.google_docs_voice_id) and not s.google_service_account_file:
        raise SettingsError(
            f"{at}: 'google_docs_rules_id' and 'google_docs_voice_id' need "
            "'google_service_account_file' (a service account the Docs are shared with)"
        )


# ---- the AWS runtime: CR_* variables, then SSM parameters under CR_CONFIG_PATH ---------------
AWS_ENV = {
    "state_table": "CR_STATE_TABLE",
    "sends_table": "CR_SENDS_TABLE",
    "audit_table": "CR_AUDIT_TABLE",
    "unsub_table": "CR_UNSUB_TABLE",
    "event_ids_table": "CR_EVENT_IDS_TABLE",
    "owners_table": "CR_OWNERS_TABLE",
    "events_queue_url": "CR_EVENTS_QUEUE_URL",
    "rules_bucket": "CR_RULES_BUCKET",
    "exports_bucket": "CR_EXPORTS_BUCKET",
    "config_path": "CR_CONFIG_PATH",
    "webhook_secret_id": "CR_WEBHOOK_SECRET_ID",
    "signing_secret_id": "CR_SIGNING_SECRET_ID",
    "scheduler_group": "CR_SCHEDULER_GROUP",
    "waiter_arn": "CR_WAITER_ARN",
    "sender_arn": "CR_SENDER_ARN",
    "scheduler_role_arn": "CR_SCHEDULER_ROLE_ARN",
    "dead_letter_arn": "CR_DEAD_LETTER_ARN",
    "ses_configuration_set": "CR_SES_CONFIGURATION_SET",
    "mail_from": "CR_MAIL_FROM",
    "base_url": "CR_BASE_URL",
    "store_timezone": "CR_STORE_TIMEZONE",
    "bedrock_model": "CR_BEDROCK_MODEL",
    "owner_emails": "CR_OWNER_EMAILS",
    "drive_secret_id": "CR_SHEETS_SECRET_ID",
    "dashboard_token_parameter": "CR_DASHBOARD_TOKEN_PARAMETER",
    "dashboard_url": "CR_DASHBOARD_URL",
    "google_api_root": "CR_GOOGLE_API_ROOT",
}
_AWS_ORIGINS = dict(AWS_ENV)

# Settings an SSM parameter under CR_CONFIG_PATH may set.
PARAMETERS = frozenset(
    {
        "mail_from",
        "base_url",
        "owner_emails",
        "default_locale",
        "store_timezone",
        "bedrock_model",
        "message_id_domain",
        "sheets_spreadsheet_id",
        "export_window_days",
        "google_docs_rules_id",
        "google_docs_voice_id",
    }
)

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

# The AWS runtime's own defaults where they differ from the shared ones: no sender and no
# model unless the deployment names them (a function that needs the sender says so).
_AWS_DEFAULTS: dict[str, Any] = {"mail_from": "", "bedrock_model": ""}


def _aws_value(name: str, text: str) -> dict[str, Any]:
    """One setting given as text (a variable or a parameter), as the model's keys."""
    if name == "owner_emails":
        return {name: _words(text)}
    return {name: text}


def aws_settings(environ: Mapping[str, str]) -> AwsSettings:
    """The AWS runtime's settings from ``environ`` (the SAM template's ``CR_*`` variables and
    boto3's ``AWS_*``)."""
    raw: dict[str, Any] = dict(_AWS_DEFAULTS)
    for name, variable in AWS_ENV.items():
        text = environ.get(variable, "").strip()
        if text:
            raw.update(_aws_value(name, text))
    endpoints: dict[str, str] = {}
    for service, suffix in ENDPOINT_VARIABLES.items():
        url = environ.get(f"AWS_ENDPOINT_URL_{suffix}") or environ.get("AWS_ENDPOINT_URL")
        if url:
            endpoints[service] = url
    raw["endpoints"] = endpoints
    raw["credentials"] = {
        k: environ[v]
        for k, v in (
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            ("aws_session_token", "AWS_SESSION_TOKEN"),
        )
        if environ.get(v)
    }
    raw["region"] = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    return _aws_checked(raw, _AWS_ORIGINS)


def _aws_checked(raw: dict[str, Any], where: Mapping[str, str]) -> AwsSettings:
    # The model's line writer: Bedrock when the deployment names a model, else the template.
    raw["line_writer"] = "bedrock" if raw.get("bedrock_model") else "template"
    raw["bedrock_region"] = raw.get("region")
    raw["bedrock_endpoint_url"] = raw.get("endpoints", {}).get("bedrock-runtime")
    settings = convert(AwsSettings, raw, where, "environment")
    _check_owners(settings.owner_emails, where.get("owner_emails", "CR_OWNER_EMAILS"))
    try:
        ZoneInfo(settings.store_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        origin = where.get("store_timezone", "CR_STORE_TIMEZONE")
        raise SettingsError(
            f"{origin}: {settings.store_timezone!r} is not an IANA timezone"
        ) from None
    return settings
