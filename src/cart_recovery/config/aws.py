"""The AWS runtime's settings: ``CR_*`` variables, then SSM parameters under
``CR_CONFIG_PATH`` (the ones in ``PARAMETERS``), checked the way the embedded runtime's are
(``config.settings``: one typed model, errors naming the variable or parameter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from cart_recovery.config import SettingsError
from cart_recovery.config.settings import Settings, _check_owners, _words, convert


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
    endpoints: dict[str, str] = {}  # noqa: RUF012  (a msgspec Struct copies it)
    credentials: dict[str, str] = {}  # noqa: RUF012

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
