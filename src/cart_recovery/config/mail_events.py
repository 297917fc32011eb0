"""The settings of the bounce and complaint webhooks (README: "Bounces and complaints"), one
provider's secret each; a provider without one is off (its URL answers 404).

Read as flat keys of ``config.toml`` (``postmark_webhook_users`` and so on), with a
``CART_RECOVERY_<KEY>`` variable over each (lists comma-separated), into one
``MailEventSettings`` the embedded settings hold as ``mail_events``. A bad value is refused
naming the key and where it came from; the secrets are kept out of ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import msgspec

from cart_recovery.adapters.mail_events import postmark, sendgrid, sns
from cart_recovery.config import SettingsError

ENV = {
    "postmark_webhook_users": "CART_RECOVERY_POSTMARK_WEBHOOK_USERS",
    "sendgrid_webhook_public_key": "CART_RECOVERY_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "mailgun_webhook_signing_key": "CART_RECOVERY_MAILGUN_WEBHOOK_SIGNING_KEY",
    "sns_topic_arns": "CART_RECOVERY_SNS_TOPIC_ARNS",
    "sns_cert_url_pattern": "CART_RECOVERY_SNS_CERT_URL_PATTERN",
}
LISTS = frozenset({"postmark_webhook_users", "sns_topic_arns"})
SECRETS = frozenset({"postmark_webhook_users", "mailgun_webhook_signing_key"})

User = Annotated[str, msgspec.Meta(min_length=16)]


class MailEventSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Each provider's secret (empty: that provider's webhook is off)."""

    postmark_webhook_users: Annotated[tuple[User, ...], msgspec.Meta(max_length=2)] = ()
    sendgrid_webhook_public_key: str = ""
    mailgun_webhook_signing_key: Annotated[str, msgspec.Meta(pattern=r"^(|.{16,})$")] = ""
    sns_topic_arns: tuple[str, ...] = ()
    sns_cert_url_pattern: str = sns.CERT_URL_PATTERN

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if name not in SECRETS
        )
        return f"{type(self).__name__}({shown})"


_EXPLAINED = {
    "postmark_webhook_users": (
        "must be at most two 'user:password' entries (two during a rotation), "
        "each at least 16 characters"
    ),
    "mailgun_webhook_signing_key": "must be the webhook signing key (at least 16 characters)",
}


def _words(raw: str) -> list[str]:
    return [w.strip() for w in raw.split(",") if w.strip()]


def read_mail_events(
    raw: dict[str, Any], where: dict[str, str], environ: Mapping[str, str], at: str
) -> MailEventSettings:
    """Take the keys of ``ENV`` out of ``raw`` (the file's values; ``where`` says where each
    came from, ``at`` is the file), apply the variables over them, and convert and check.
    Raises SettingsError naming the key and its origin."""
    values: dict[str, Any] = {key: raw.pop(key) for key in ENV if key in raw}
    for key, variable in ENV.items():
        if environ.get(variable):
            values[key], where[key] = environ[variable], variable
    for key in LISTS & values.keys():
        if isinstance(values[key], str):
            values[key] = _words(values[key])
    try:
        settings = msgspec.convert(values, MailEventSettings)
    except msgspec.ValidationError as e:
        key = next((k for k in ENV if f"$.{k}" in str(e)), "")
        detail = _EXPLAINED.get(key, str(e).partition(" - at ")[0])
        raise SettingsError(f"{where.get(key, at)}: '{key}' {detail}") from None
    checks: list[tuple[str, Callable[[str], object], tuple[str, ...]]] = [
        ("postmark_webhook_users", postmark.check_user, settings.postmark_webhook_users),
        ("sns_topic_arns", sns.check_topic_arn, settings.sns_topic_arns),
        ("sns_cert_url_pattern", sns.check_pattern, (settings.sns_cert_url_pattern,)),
    ]
    for key, check, entries in checks:
        for entry in entries:
            try:
                check(entry)
            except ValueError as e:
                raise SettingsError(f"{where.get(key, at)}: '{key}': {e}") from None
    if settings.sendgrid_webhook_public_key:
        try:
            sendgrid.load_public_key(settings.sendgrid_webhook_public_key)
        except ValueError as e:
            origin = where.get("sendgrid_webhook_public_key", at)
            raise SettingsError(f"{origin}: 'sendgrid_webhook_public_key' {e}") from None
    return settings
