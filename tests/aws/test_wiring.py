"""The AWS wiring: settings from the environment, errors that name the variable, and nothing
connected or read at import time."""

from __future__ import annotations

import importlib

import pytest

from cart_recovery.adapters.llm import DEFAULT_BEDROCK_MODEL
from cart_recovery.bootstrap import aws as aws_bootstrap
from cart_recovery.config.aws import AwsSettings
from cart_recovery.config.settings import SettingsError

HANDLERS = (
    "ingest_webhook",
    "intake",
    "waiter",
    "sender",
    "unsub_handler",
    "nightly_export",
    "summary",
)


def test_importing_the_handlers_builds_and_connects_nothing() -> None:
    aws_bootstrap.use_app(None)
    for name in HANDLERS:
        module = importlib.import_module(f"cart_recovery.lambdas.{name}")
        assert callable(module.handler)
    assert aws_bootstrap._app is None


def test_settings_come_from_the_environment_with_the_build_sheet_defaults() -> None:
    s = AwsSettings.from_environ(
        {
            "CR_EVENTS_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/1/cr-events",
            "CR_OWNER_EMAILS": "a@example.com, b@example.com",
            "AWS_REGION": "ap-southeast-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000",
        }
    )
    assert (s.state_table, s.unsub_table, s.config_path) == ("cr-state", "cr-unsub", "/cr/config/")
    assert s.owner_emails == ("a@example.com", "b@example.com")
    assert s.endpoints["dynamodb"] == "http://127.0.0.1:8000"
    assert s.endpoints["sqs"] == "http://127.0.0.1:5000"
    assert s.region == "ap-southeast-1"


def test_a_missing_or_bad_setting_names_its_variable() -> None:
    app = aws_bootstrap.aws({"AWS_REGION": "ap-southeast-1"})
    with pytest.raises(SettingsError, match="CR_EVENTS_QUEUE_URL"):
        _ = app.queue
    with pytest.raises(SettingsError, match="CR_STORE_TIMEZONE"):
        AwsSettings.from_environ({"CR_STORE_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(SettingsError, match="owner_emails"):
        AwsSettings.from_environ({"CR_OWNER_EMAILS": "not an address"})


def test_ssm_parameters_override_and_unknown_ones_are_ignored() -> None:
    s = AwsSettings.from_environ({"CR_MAIL_FROM": "A <a@example.com>"})
    s = s.with_parameters({"mail_from": "B <b@example.com>", "quiet_hours": "9pm to 8am"})
    assert s.mail_from == "B <b@example.com>"


def test_a_named_bedrock_model_chooses_the_bedrock_writer_through_the_parameters() -> None:
    # Given a deployment that names the default model, and one whose SSM parameter names one
    named = AwsSettings.from_environ({"CR_BEDROCK_MODEL": DEFAULT_BEDROCK_MODEL})
    by_parameter = AwsSettings.from_environ({}).with_parameters({"bedrock_model": "m"})
    # Then both write with Bedrock, and a deployment naming none keeps the template
    assert named.with_parameters({}).line_writer == "bedrock"
    assert (by_parameter.line_writer, by_parameter.bedrock_model) == ("bedrock", "m")
    assert AwsSettings.from_environ({}).with_parameters({}).line_writer == "template"


def test_a_bad_parameter_is_named_by_its_path() -> None:
    s = AwsSettings.from_environ({"CR_CONFIG_PATH": "/shop/config/"})
    with pytest.raises(SettingsError, match="/shop/config/store_timezone"):
        s.with_parameters({"store_timezone": "Mars/Olympus"})
    with pytest.raises(SettingsError, match="/shop/config/base_url: 'base_url'"):
        s.with_parameters({"base_url": "ftp://shop.example"})
