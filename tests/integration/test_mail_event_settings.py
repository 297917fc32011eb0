"""The bounce and complaint webhooks' settings: read from config.toml with CART_RECOVERY_*
variables over them, each bad value refused naming its key and where it came from, secrets kept
out of repr, and only the providers with a secret turned on."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cart_recovery.adapters.mail_events import sns
from cart_recovery.bootstrap.embedded import init_data_dir, make_mail_events
from cart_recovery.config.settings import SettingsError, load_settings

ARN = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
USER = "postmark:correct-horse-battery-staple"
MAILGUN_KEY = "key-0123456789abcdef0123456789abcdef"


def public_key(curve: ec.EllipticCurve) -> str:
    der = (
        ec.generate_private_key(curve)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def test_each_provider_is_on_only_with_its_secret(tmp_path: Path) -> None:
    # Given a fresh data folder: no provider is on
    init_data_dir(tmp_path)
    assert make_mail_events(load_settings(tmp_path, {}).mail_events) == {}
    # When the file names the SNS topic and Postmark's user, and the environment the rest
    with (tmp_path / "config.toml").open("a") as f:
        f.write(f'sns_topic_arns = "{ARN}"\npostmark_webhook_users = ["{USER}"]\n')
    env = {
        "CART_RECOVERY_SENDGRID_WEBHOOK_PUBLIC_KEY": public_key(ec.SECP256R1()),
        "CART_RECOVERY_MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    }
    settings = load_settings(tmp_path, env)
    # Then all four are on, SNS certificates only from SNS hosts, and no secret shows in repr
    hooks = make_mail_events(settings.mail_events)
    assert sorted(hooks) == ["mailgun", "postmark", "sendgrid", "ses"]
    assert settings.mail_events.sns_topic_arns == (ARN,)
    assert settings.mail_events.sns_cert_url_pattern == sns.CERT_URL_PATTERN
    shown = repr(settings)
    assert USER not in shown and MAILGUN_KEY not in shown and ARN in shown


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SNS_TOPIC_ARNS", "arn:aws:sqs:eu-west-1:123456789012:q", "'sns_topic_arns'"),
        ("SNS_CERT_URL_PATTERN", "https://sns.(", "'sns_cert_url_pattern'"),
        ("POSTMARK_WEBHOOK_USERS", "no-colon-in-this-user", "'postmark_webhook_users'"),
        ("POSTMARK_WEBHOOK_USERS", "a:b", "'postmark_webhook_users'"),
        ("SENDGRID_WEBHOOK_PUBLIC_KEY", "bm90IGEga2V5", "'sendgrid_webhook_public_key'"),
        ("MAILGUN_WEBHOOK_SIGNING_KEY", "short", "'mailgun_webhook_signing_key'"),
    ],
)
def test_a_bad_value_names_its_key_and_variable(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    init_data_dir(tmp_path)
    with pytest.raises(SettingsError) as err:
        load_settings(tmp_path, {f"CART_RECOVERY_{variable}": value})
    message = str(err.value)
    assert says in message and f"CART_RECOVERY_{variable}" in message
    if "POSTMARK" in variable or "MAILGUN" in variable:
        assert value not in message  # a secret is never repeated back


def test_a_p384_sendgrid_key_in_the_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    with (tmp_path / "config.toml").open("a") as f:
        f.write(f'sendgrid_webhook_public_key = "{public_key(ec.SECP384R1())}"\n')
    with pytest.raises(SettingsError, match=r"config\.toml: 'sendgrid_webhook_public_key' .*P-256"):
        load_settings(tmp_path, {})
