"""Typed settings, parsed once: the TOML config file, then environment variables over it.

Errors name the key and the file. Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cart_recovery.adapters.storefronts.standard_webhooks import load_secret as load_standard_secret

CONFIG_NAME = "config.toml"
RULES_NAME = "rules.txt"
VOICE_NAME = "voice.txt"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = "http://127.0.0.1:8080"
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    shopify_secrets: tuple[str, ...] = field(default=(), repr=False)
    standard_webhooks_secrets: tuple[str, ...] = field(default=(), repr=False)
    signing_key: str = field(default="", repr=False)
    admin_token: str = field(default="", repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "Your Store <shop@example.com>"
    default_locale: str = "en_US"
    sqlite_synchronous: str = "FULL"
    config_file: Path | None = None
    # The line writer (README: "The line writer"): who may polish the opening line.
    line_writer: str = "template"  # template | anthropic | bedrock
    anthropic_model: str = "claude-haiku-4-5"
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_api_key: str = field(default="", repr=False)
    bedrock_model: str = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    bedrock_region: str | None = None
    bedrock_endpoint_url: str | None = None
    llm_timeout_seconds: float = 3.0
    owner_emails: tuple[str, ...] = ()
    sheets_spreadsheet_id: str | None = None
    sheets_service_account_file: Path | None = None

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
        host = urlsplit(self.base_url).hostname or "localhost"
        return host

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/webhooks/cart"


def _str(table: Mapping[str, Any], key: str, where: str, default: str | None) -> str | None:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"{where}: '{key}' must be a string")
    return value


LINE_WRITERS = ("template", "anthropic", "bedrock")
_LINE_WRITER_KEYS = {
    "line_writer",
    "anthropic_model",
    "anthropic_base_url",
    "anthropic_api_key",
    "bedrock_model",
    "bedrock_region",
    "bedrock_endpoint_url",
    "llm_timeout_seconds",
}


def _line_writer(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str
) -> dict[str, Any]:
    """The line writer's keys, each overridable by ``CART_RECOVERY_<KEY>``; the API key also by
    the SDK's own ``ANTHROPIC_API_KEY``, the region by ``AWS_REGION``/``AWS_DEFAULT_REGION``."""

    def pick(key: str, default: str | None) -> str | None:
        return environ.get(f"CART_RECOVERY_{key.upper()}") or _str(table, key, where, default)

    writer = (pick("line_writer", "template") or "template").strip().lower()
    if writer not in LINE_WRITERS:
        raise SettingsError(f"{where}: 'line_writer' must be one of {', '.join(LINE_WRITERS)}")
    raw: Any = environ.get("CART_RECOVERY_LLM_TIMEOUT_SECONDS") or table.get(
        "llm_timeout_seconds", Settings.llm_timeout_seconds
    )
    try:
        if isinstance(raw, bool):
            raise ValueError
        timeout = float(raw)
        if not 0 < timeout <= 60:
            raise ValueError
    except (TypeError, ValueError):
        raise SettingsError(
            f"{where}: 'llm_timeout_seconds' must be above 0 and at most 60"
        ) from None
    base_url = pick("anthropic_base_url", Settings.anthropic_base_url) or ""
    endpoint_url = pick("bedrock_endpoint_url", None) or None
    for key, url in (("anthropic_base_url", base_url), ("bedrock_endpoint_url", endpoint_url)):
        if url is not None and urlsplit(url).scheme not in {"http", "https"}:
            raise SettingsError(f"{where}: '{key}' must be an http(s) URL")
    api_key = (
        environ.get("CART_RECOVERY_ANTHROPIC_API_KEY")
        or environ.get("ANTHROPIC_API_KEY")
        or _str(table, "anthropic_api_key", where, "")
        or ""
    )
    region = (
        pick("bedrock_region", None)
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or None
    )
    if writer == "anthropic" and not api_key:
        raise SettingsError(
            f"{where}: line_writer 'anthropic' needs an API key: set "
            "CART_RECOVERY_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"
        )
    if writer == "bedrock" and not region:
        raise SettingsError(
            f"{where}: line_writer 'bedrock' needs a region: set 'bedrock_region' "
            "(or CART_RECOVERY_BEDROCK_REGION, AWS_REGION)"
        )
    return {
        "line_writer": writer,
        "anthropic_model": pick("anthropic_model", Settings.anthropic_model),
        "anthropic_base_url": base_url.rstrip("/"),
        "anthropic_api_key": api_key,
        "bedrock_model": pick("bedrock_model", Settings.bedrock_model),
        "bedrock_region": region,
        "bedrock_endpoint_url": endpoint_url,
        "llm_timeout_seconds": timeout,
    }


SECRET_ENV = {
    "shopify_secrets": "CART_RECOVERY_SHOPIFY_SECRET",
    "standard_webhooks_secrets": "CART_RECOVERY_STANDARD_WEBHOOKS_SECRET",
}


def _secret_list(
    table: Mapping[str, Any], environ: Mapping[str, str], key: str, where: str
) -> tuple[str, ...]:
    """A storefront source's secrets: one, or two during a rotation (the environment variable
    in ``SECRET_ENV``, comma-separated, over the file)."""
    raw: Any = table.get(key, [])
    if isinstance(raw, str):
        raw = [raw]
    env = environ.get(SECRET_ENV[key])
    if env:
        raw = [s.strip() for s in env.split(",") if s.strip()]
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise SettingsError(f"{where}: '{key}' must be a list of strings")
    if len(raw) > 2:
        raise SettingsError(f"{where}: '{key}' takes at most two (during a rotation)")
    for s in raw:
        if len(s) < 16:
            raise SettingsError(f"{where}: each of '{key}' must be at least 16 characters")
    return tuple(raw)


def load_settings(data_dir: Path, environ: Mapping[str, str]) -> Settings:
    """Read ``data_dir/config.toml`` (if present), then apply ``CART_RECOVERY_*`` variables."""
    env_dir = environ.get("CART_RECOVERY_DATA_DIR")
    if env_dir:
        data_dir = Path(env_dir)
    config_file = data_dir / CONFIG_NAME
    table: dict[str, Any] = {}
    if config_file.exists():
        try:
            table = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{config_file}: {e}") from None
    where = str(config_file)
    known = {
        "host",
        "port",
        "base_url",
        "webhook_secrets",
        "shopify_secrets",
        "standard_webhooks_secrets",
        "signing_key",
        "admin_token",
        "smtp_url",
        "mail_from",
        "default_locale",
        "sqlite_synchronous",
        "owner_emails",
        "sheets_spreadsheet_id",
        "sheets_service_account_file",
    }
    known |= _LINE_WRITER_KEYS
    for key in table:
        if key not in known:
            raise SettingsError(f"{where}: unknown key '{key}' (known: {', '.join(sorted(known))})")

    host = environ.get("CART_RECOVERY_HOST") or _str(table, "host", where, "127.0.0.1") or ""
    port_raw: Any = environ.get("CART_RECOVERY_PORT") or table.get("port", 8080)
    try:
        port = int(port_raw)
        if not 0 <= port <= 65535:
            raise ValueError
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: 'port' must be a number from 0 to 65535") from None

    secrets_raw: Any = table.get("webhook_secrets", [])
    if isinstance(secrets_raw, str):
        secrets_raw = [secrets_raw]
    if not isinstance(secrets_raw, list) or not all(isinstance(s, str) for s in secrets_raw):
        raise SettingsError(f"{where}: 'webhook_secrets' must be a list of strings")
    env_secrets = environ.get("CART_RECOVERY_WEBHOOK_SECRET")
    if env_secrets:
        secrets_raw = [s.strip() for s in env_secrets.split(",") if s.strip()]
    if len(secrets_raw) > 2:
        raise SettingsError(f"{where}: 'webhook_secrets' takes at most two (during a rotation)")
    for s in secrets_raw:
        if len(s) < 16:
            raise SettingsError(f"{where}: each webhook secret must be at least 16 characters")
    shopify_secrets = _secret_list(table, environ, "shopify_secrets", where)
    standard_secrets = _secret_list(table, environ, "standard_webhooks_secrets", where)
    for s in standard_secrets:
        try:
            load_standard_secret(s)
        except ValueError as e:
            raise SettingsError(f"{where}: 'standard_webhooks_secrets': {e}") from None

    base_url = environ.get("CART_RECOVERY_BASE_URL") or _str(table, "base_url", where, None)
    if not base_url:
        shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
        base_url = f"http://{shown}:{port}"
    if urlsplit(base_url).scheme not in {"http", "https"}:
        raise SettingsError(f"{where}: 'base_url' must be an http(s) URL")

    smtp_url = environ.get("CART_RECOVERY_SMTP_URL") or _str(table, "smtp_url", where, None)
    signing_key = _str(table, "signing_key", where, "") or ""
    synchronous = (_str(table, "sqlite_synchronous", where, "FULL") or "FULL").upper()
    if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise SettingsError(f"{where}: 'sqlite_synchronous' must be OFF, NORMAL, FULL or EXTRA")
    owners_raw: Any = table.get("owner_emails", [])
    if isinstance(owners_raw, str):
        owners_raw = [owners_raw]
    env_owners = environ.get("CART_RECOVERY_OWNER_EMAILS")
    if env_owners:
        owners_raw = [o.strip() for o in env_owners.split(",") if o.strip()]
    if not isinstance(owners_raw, list) or not all(
        isinstance(o, str) and "@" in o for o in owners_raw
    ):
        raise SettingsError(f"{where}: 'owner_emails' must be a list of email addresses")
    sheet_id = _str(table, "sheets_spreadsheet_id", where, None)
    sa_file = _str(table, "sheets_service_account_file", where, None)
    if bool(sheet_id) != bool(sa_file):
        raise SettingsError(
            f"{where}: 'sheets_spreadsheet_id' and 'sheets_service_account_file' go together"
        )
    return Settings(
        **_line_writer(table, environ, where),
        owner_emails=tuple(owners_raw),
        sheets_spreadsheet_id=sheet_id or None,
        sheets_service_account_file=Path(sa_file).expanduser() if sa_file else None,
        data_dir=data_dir,
        host=host,
        port=port,
        base_url=base_url.rstrip("/"),
        webhook_secrets=tuple(secrets_raw),
        shopify_secrets=shopify_secrets,
        standard_webhooks_secrets=standard_secrets,
        signing_key=signing_key,
        admin_token=_str(table, "admin_token", where, "") or "",
        smtp_url=smtp_url or None,
        mail_from=_str(table, "mail_from", where, Settings.mail_from) or Settings.mail_from,
        default_locale=_str(table, "default_locale", where, "en_US") or "en_US",
        sqlite_synchronous=synchronous,
        config_file=config_file if config_file.exists() else None,
    )


def new_config_text() -> str:
    """A first-run config file with freshly generated secrets."""
    return f"""\
# cart-recovery configuration. Environment variables (CART_RECOVERY_*) override these.
host = "127.0.0.1"
port = 8080
# The public URL of this service, used in the links inside emails.
# base_url = "https://recovery.your-store.com"

# The storefront signs each webhook with this secret (HMAC-SHA256). During a rotation,
# list the new and the old one: ["new...", "old..."].
webhook_secrets = ["{secrets.token_urlsafe(32)}"]

# Shopify: the app's client secret (Settings > Notifications > Webhooks shows it for webhooks
# made in the admin); Shopify's deliveries then go to POST /webhooks/shopify.
# shopify_secrets = ["..."]
# Standard Webhooks senders: the whsec_... secret; deliveries to POST /webhooks/standard.
# standard_webhooks_secrets = ["whsec_..."]

# Signs unsubscribe, return and owner action links, and keys the unsubscribe list (kept as
# keyed hashes of addresses). Keep it: changing it breaks links in emails already sent, and
# the service refuses to start on an unsubscribe list written under another key.
signing_key = "{secrets.token_urlsafe(32)}"

# The owner's dashboard login.
admin_token = "{secrets.token_urlsafe(24)}"

mail_from = "Your Store <shop@example.com>"
# Who gets the monthly summary (first Monday, 9am store time).
# owner_emails = ["you@your-store.com"]
# Without smtp_url, emails are written as .eml files to the outbox folder.
# smtp_url = "smtp://user:password@smtp.example.com:587?starttls=true"

# The nightly export (2am store time) goes to exports/ as .xlsx and .csv; to also fill a
# Google Sheet, share it with a service account and name both here:
# sheets_spreadsheet_id = "1AbC..."
# sheets_service_account_file = "/path/to/service-account.json"
"""
