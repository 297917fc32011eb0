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
    signing_key: str = field(default="", repr=False)
    admin_token: str = field(default="", repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "Your Store <shop@example.com>"
    default_locale: str = "en_US"
    sqlite_synchronous: str = "FULL"
    config_file: Path | None = None

    @property
    def database(self) -> Path:
        return self.data_dir / "cart-recovery.sqlite3"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

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
        "signing_key",
        "admin_token",
        "smtp_url",
        "mail_from",
        "default_locale",
        "sqlite_synchronous",
    }
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
    return Settings(
        data_dir=data_dir,
        host=host,
        port=port,
        base_url=base_url.rstrip("/"),
        webhook_secrets=tuple(secrets_raw),
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

# Signs unsubscribe and return links. Changing it breaks links in emails already sent.
signing_key = "{secrets.token_urlsafe(32)}"

# The owner's dashboard login.
admin_token = "{secrets.token_urlsafe(24)}"

mail_from = "Your Store <shop@example.com>"
# Without smtp_url, emails are written as .eml files to the outbox folder.
# smtp_url = "smtp://user:password@smtp.example.com:587?starttls=true"
"""
