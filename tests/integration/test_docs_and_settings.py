"""The owner's doc files (a bad edit never replaces the last good version) and the settings."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from cart_recovery.adapters.files import DocUnavailable, FileDocs
from cart_recovery.adapters.links import BadToken, Tokens
from cart_recovery.bootstrap.embedded import init_data_dir
from cart_recovery.config.aws import aws_settings
from cart_recovery.config.settings import SettingsError, load_settings
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.embedded.logs import JsonFormatter


def bump(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_an_edit_takes_effect_without_a_restart(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    docs = FileDocs(tmp_path / "rules.txt", tmp_path / "voice.txt")
    assert docs.rules().quiet is not None
    bump(
        tmp_path / "rules.txt",
        DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: none."),
    )
    assert docs.rules().quiet is None


def test_a_bad_edit_is_rejected_and_the_last_good_keeps_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    init_data_dir(tmp_path)
    docs = FileDocs(tmp_path / "rules.txt", tmp_path / "voice.txt")
    good = docs.rules()
    bump(tmp_path / "rules.txt", DEFAULT_RULES_TEXT + "Send a third reminder after a week.\n")
    with caplog.at_level(logging.ERROR):
        assert docs.rules() == good
    assert "line 8" in str(caplog.records[-1].__dict__.get("problems"))
    assert docs.rules_doc.last_error is not None
    # and a fresh process (a restart) still starts from the last good copy
    again = FileDocs(tmp_path / "rules.txt", tmp_path / "voice.txt")
    assert again.rules() == good


def test_no_good_version_at_all_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text("Remind people sometimes.\n")
    docs = FileDocs(tmp_path / "rules.txt", tmp_path / "voice.txt")
    with pytest.raises(DocUnavailable, match=r"rules\.txt"):
        docs.rules()


def test_settings_from_file_then_environment(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    s = load_settings(tmp_path, {})
    assert s.port == 8080 and len(s.webhook_secrets) == 1 and s.signing_key
    env = {
        "CART_RECOVERY_PORT": "9001",
        "CART_RECOVERY_WEBHOOK_SECRET": "a" * 20 + "," + "b" * 20,
        "CART_RECOVERY_BASE_URL": "https://recover.shop.example/",
    }
    s = load_settings(tmp_path, env)
    assert s.port == 9001 and s.webhook_secrets == ("a" * 20, "b" * 20)
    assert (
        s.base_url == "https://recover.shop.example"
        and s.message_id_domain == "recover.shop.example"
    )
    assert "a" * 20 not in repr(s) and s.signing_key not in repr(s)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('port = "eighty"', "port"),
        ('colour = "blue"', "colour"),
        ('webhook_secrets = ["short"]', "webhook secret"),
        ('base_url = "ftp://x"', "base_url"),
        ("port = [", "config.toml"),
        ("export_window_days = 0", "export_window_days"),
    ],
)
def test_bad_settings_name_the_key_and_the_file(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / "config.toml").write_text(text + "\n")
    with pytest.raises(SettingsError) as e:
        load_settings(tmp_path, {})
    assert key in str(e.value) and "config.toml" in str(e.value)


def test_the_export_window_from_the_file_or_an_ssm_parameter(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    assert load_settings(tmp_path, {}).export_window_days == 14
    config = tmp_path / "config.toml"
    config.write_text(config.read_text() + "\nexport_window_days = 30\n")
    assert load_settings(tmp_path, {}).export_window_days == 30
    aws = aws_settings({"AWS_REGION": "us-east-1"})
    assert aws.export_window_days == 14
    assert aws.with_parameters({"export_window_days": "21"}).export_window_days == 21
    for bad in ("two weeks", "0", "400"):
        with pytest.raises(SettingsError, match=r"/cr/config/export_window_days: .*1 to 366"):
            aws.with_parameters({"export_window_days": bad})


def test_tokens_refuse_forgery_and_cross_use() -> None:
    tokens = Tokens("a-signing-key-of-some-length")
    t = tokens.unsubscribe("Maya@Example.com")
    assert tokens.read_unsubscribe(t) == "maya@example.com"
    with pytest.raises(BadToken):
        tokens.read_unsubscribe(t[:-2] + ("AA" if not t.endswith("AA") else "BB"))
    with pytest.raises(BadToken):
        Tokens("another-signing-key-entirely").read_unsubscribe(t)
    with pytest.raises(BadToken):
        tokens.read_return_link(t)  # an unsubscribe token is not a return link
    r = tokens.return_link("c1", 2)
    assert tokens.read_return_link(r) == ("c1", 2)
    with pytest.raises(BadToken):
        tokens.read_unsubscribe(r)


def test_json_logs_redact_secret_fields() -> None:
    record = logging.makeLogRecord({"msg": "hello", "smtp_password": "hunter2", "cart_id": "c1"})
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello" and line["cart_id"] == "c1"
    assert line["smtp_password"] == "[redacted]"


def test_owner_action_links_are_signed_and_expire() -> None:
    tokens = Tokens("a-signing-key-of-some-length")
    t = tokens.action("suppress", "cart-42")
    assert tokens.read_action(t) == ("suppress", "cart-42")
    with pytest.raises(BadToken):
        # a character inside the signature (the last one partly holds padding bits only)
        tokens.read_action(t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:])
    with pytest.raises(BadToken):
        tokens.read_unsubscribe(t)
    with pytest.raises(BadToken, match="expired"):
        tokens.read_action(t, max_age=60, now=time.time() + 3600)
    with pytest.raises(ValueError, match="unknown owner action"):
        tokens.action("delete_everything", "cart-42")
