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
