"""infra/template.yaml: it lints, the SAM translator accepts it, and it holds every resource of
the engineering reference (functions, tables, queues, schedules, alarms, the budget)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest

from cart_recovery.adapters.aws import metrics

from .cfn import ROOT, TEMPLATE, load_template, references, tool


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


# ------------------------------------------------------------------ the tools


def test_cfn_lint_passes() -> None:
    # Given the pinned cfn-lint from the tools venv
    cfn_lint = tool("cfn-lint")
    # When it lints the template
    run = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120, check=False
    )
    # Then it finds nothing: no error, no warning, no informational finding
    assert run.returncode == 0, run.stdout + run.stderr


def offline_env() -> dict[str, str]:
    """The SAM tools offline: no telemetry, a region and dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION="ap-southeast-1",
        AWS_REGION="ap-southeast-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # a dummy: sam validate needs some credentials
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def test_sam_validate_passes(tmp_path: Any) -> None:
    # Given the SAM CLI, offline
    sam = tool("sam")
    # When it runs the SAM translator over the template
    run = subprocess.run(
        [str(sam), "validate", "--template", str(TEMPLATE), "--region", "ap-southeast-1"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=offline_env(),
        cwd=tmp_path,
    )
    # Then the template is a valid SAM template
    assert run.returncode == 0, run.stdout + run.stderr
    assert "is a valid SAM Template" in run.stdout + run.stderr


# The SAM translator of the tools venv, over the template with S3 code locations (what
# `sam build` would put there): the CloudFormation resources SAM makes, as JSON.
TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
text = open(sys.argv[1], encoding="utf-8").read()
text = text.replace("CodeUri: ../src", "CodeUri: s3://code/src")
text = text.replace("ContentUri: layer/", "ContentUri: s3://code/layer")
class NoManagedPolicies:
    def load(self):
        return {}
print(json.dumps(transform(yaml_parse(text), {}, NoManagedPolicies())["Resources"]))
"""


def translated(tmp_path: Any) -> dict[str, Any]:
    """The template's resources as SAM turns them into CloudFormation."""
    python = tool("python")
    run = subprocess.run(
        [str(python), "-c", TRANSLATE, str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        env=offline_env(),
        cwd=tmp_path,
    )
    made: dict[str, Any] = json.loads(run.stdout)
    return made


def test_sns_invokes_the_feedback_function_only_from_its_topic(tmp_path: Any) -> None:
    # Given the template as SAM turns it into CloudFormation
    made = translated(tmp_path)
    # Then the feedback topic's subscription invokes the function
    subscriptions = [
        v["Properties"] for v in made.values() if v["Type"] == "AWS::SNS::Subscription"
    ]
    assert {
        "Endpoint": {"Fn::GetAtt": ["MailFeedbackFunction", "Arn"]},
        "Protocol": "lambda",
        "TopicArn": {"Ref": "MailFeedbackTopic"},
    } in subscriptions
    # And SNS may invoke it for that topic only
    permissions = [
        v["Properties"]
        for v in made.values()
        if v["Type"] == "AWS::Lambda::Permission"
        and v["Properties"]["FunctionName"] == {"Ref": "MailFeedbackFunction"}
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "MailFeedbackFunction"},
            "Principal": "sns.amazonaws.com",
            "SourceArn": {"Ref": "MailFeedbackTopic"},
        }
    ]


# ------------------------------------------------------------------ functions

FUNCTIONS = {
    # logical id: (name, handler module, memory MB, timeout s) -- Part 7's inventory
    "IngestWebhookFunction": ("cr-ingest-webhook", "ingest_webhook", 256, 10),
    "IntakeFunction": ("cr-intake", "intake", 256, 30),
    "WaiterFunction": ("cr-waiter", "waiter", 256, 30),
    "SenderFunction": ("cr-sender", "sender", 512, 30),
    "UnsubHandlerFunction": ("cr-unsub-handler", "unsub_handler", 256, 15),
    "NightlyExportFunction": ("cr-nightly-export", "nightly_export", 256, 60),
    "SummaryFunction": ("cr-summary", "summary", 512, 60),
    "DocsSyncFunction": ("cr-docs-sync", "docs_sync", 256, 60),  # the Google Docs feature
    "MailFeedbackFunction": ("cr-mail-feedback", "mail_feedback", 256, 30),  # SES feedback
    "DashboardFunction": ("cr-dashboard", "dashboard", 512, 30),  # the owner's dashboard
}

ENVIRONMENT = {
    "CR_STATE_TABLE",
    "CR_SENDS_TABLE",
    "CR_AUDIT_TABLE",
    "CR_UNSUB_TABLE",
    "CR_EVENT_IDS_TABLE",
    "CR_OWNERS_TABLE",
    "CR_EVENTS_QUEUE_URL",
    "CR_RULES_BUCKET",
    "CR_CONFIG_PATH",
    "CR_WEBHOOK_SECRET_ID",
    "CR_SIGNING_SECRET_ID",
    "CR_SCHEDULER_GROUP",
    "CR_WAITER_ARN",
    "CR_SENDER_ARN",
    "CR_SCHEDULER_ROLE_ARN",
    "CR_SES_CONFIGURATION_SET",
    "CR_MAIL_FROM",
    "CR_BASE_URL",
    "CR_STORE_TIMEZONE",
    "CR_BEDROCK_MODEL",
}


def test_every_function_of_the_inventory_is_there(resources: dict[str, Any]) -> None:
    functions = of_type(resources, "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_shape(template: dict[str, Any], logical_id: str) -> None:
    name, module, memory, timeout = FUNCTIONS[logical_id]
    glob = template["Globals"]["Function"]
    props = {**glob, **template["Resources"][logical_id]["Properties"]}
    assert props["FunctionName"] == name
    assert props["Handler"] == f"cart_recovery.lambdas.{module}.handler"
    assert props["MemorySize"] == memory
    assert props["Timeout"] == timeout
    assert props["Architectures"] == ["arm64"]
    assert props["Runtime"] == "python3.14"
    assert props["CodeUri"] == "../src"
    # its own role, and its own log group kept 7 days
    assert props["Role"] == {"Fn::GetAtt": [logical_id.replace("Function", "Role"), "Arn"]}
    group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    group = template["Resources"][group_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["LogGroupName"] == f"/aws/lambda/{name}"
    assert group["Properties"]["RetentionInDays"] == 7


def test_handler_modules_live_in_the_package_the_code_uri_points_at() -> None:
    code = ROOT / "infra" / "../src"
    assert (code / "cart_recovery" / "__init__.py").exists()


def test_only_the_webhook_the_unsubscribe_handler_and_the_dashboard_are_public(
    resources: dict[str, Any],
) -> None:
    public = {
        k
        for k, v in of_type(resources, "AWS::Serverless::Function").items()
        if "FunctionUrlConfig" in v["Properties"]
    }
    # (the dashboard logs its owners in itself, as the embedded one does)
    assert public == {"IngestWebhookFunction", "UnsubHandlerFunction", "DashboardFunction"}
    for logical_id in public:
        assert resources[logical_id]["Properties"]["FunctionUrlConfig"] == {"AuthType": "NONE"}


def test_environment_is_the_agreed_set(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(variables) == ENVIRONMENT
    assert variables["CR_CONFIG_PATH"] == "/cr/config/"
    assert variables["CR_WAITER_ARN"]["Fn::Sub"].endswith(":function:cr-waiter")
    assert variables["CR_SENDER_ARN"]["Fn::Sub"].endswith(":function:cr-sender")
    params = template["Parameters"]
    assert params["WebhookSecretName"]["Default"] == "cr/webhook/secret"
    assert params["SigningSecretName"]["Default"] == "cr/signing/key"
    assert params["BedrockModel"]["Default"] == "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert params["StoreTimezone"]["Default"] == "America/New_York"
    assert params["BudgetAmount"]["Default"] == 15
    for name in ("MailFrom", "BaseUrl", "AlertEmail"):
        assert name in params


def test_links_point_at_the_unsubscribe_url_unless_a_base_url_is_given(
    resources: dict[str, Any],
) -> None:
    for logical_id in (
        "SenderFunction",
        "SummaryFunction",
        "NightlyExportFunction",
        "DocsSyncFunction",
        "MailFeedbackFunction",
        "DashboardFunction",
    ):
        env = resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert env["CR_BASE_URL"] == {
            "Fn::If": [
                "HasBaseUrl",
                {"Ref": "BaseUrl"},
                {"Fn::GetAtt": ["UnsubHandlerFunctionUrl", "FunctionUrl"]},
            ]
        }


def test_the_summary_goes_to_the_owners_or_else_the_alert_address(
    resources: dict[str, Any],
) -> None:
    env = resources["SummaryFunction"]["Properties"]["Environment"]["Variables"]
    assert env["CR_OWNER_EMAILS"] == {
        "Fn::If": ["HasOwnerEmails", {"Ref": "OwnerEmails"}, {"Ref": "AlertEmail"}]
    }
    export = resources["NightlyExportFunction"]["Properties"]["Environment"]["Variables"]
    assert export["CR_SHEETS_SECRET_ID"] == {"Ref": "SheetsSecretName"}
    # a refused Google Doc revision is mailed to the same owners, the Docs read with the same key
    sync = resources["DocsSyncFunction"]["Properties"]["Environment"]["Variables"]
    assert sync["CR_OWNER_EMAILS"] == env["CR_OWNER_EMAILS"]
    assert sync["CR_SHEETS_SECRET_ID"] == {"Ref": "SheetsSecretName"}


def test_intake_consumes_the_queue_in_batches_of_ten(resources: dict[str, Any]) -> None:
    event = resources["IntakeFunction"]["Properties"]["Events"]["CartEvents"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert event["Properties"]["BatchSize"] == 10
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sender_listens_to_the_two_reminder_events(resources: dict[str, Any]) -> None:
    event = resources["SenderFunction"]["Properties"]["Events"]["Reminders"]
    assert event["Type"] == "EventBridgeRule"
    assert "EventBusName" not in event["Properties"]  # the default bus
    assert event["Properties"]["Pattern"] == {
        "source": ["cart-recovery"],
        "detail-type": ["first_reminder", "second_reminder"],
    }


# ------------------------------------------------------------------ storage


def _keys(props: dict[str, Any]) -> list[tuple[str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    return [(k["AttributeName"], types[k["AttributeName"]]) for k in props["KeySchema"]]


def test_tables(resources: dict[str, Any]) -> None:
    tables = {
        v["Properties"]["TableName"]: v["Properties"]
        for v in of_type(resources, "AWS::DynamoDB::Table").values()
    }
    assert set(tables) == {
        "cr-state",
        "cr-sends",
        "cr-audit",
        "cr-unsub",
        "cr-event-ids",
        "cr-owners",
    }
    for props in tables.values():
        assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert _keys(tables["cr-state"]) == [("cart_id", "S")]
    assert _keys(tables["cr-sends"]) == [("cart_id", "S"), ("step", "N")]
    assert _keys(tables["cr-audit"]) == [("cart_id", "S"), ("ts", "S")]
    assert _keys(tables["cr-unsub"]) == [("email", "S")]
    assert _keys(tables["cr-event-ids"]) == [("cart_id", "S"), ("event_id", "S")]
    assert _keys(tables["cr-owners"]) == [("pk", "S"), ("sk", "S")]
    (email_index, day_index) = tables["cr-state"]["GlobalSecondaryIndexes"]
    assert email_index["IndexName"] == "by-email"
    assert [k["AttributeName"] for k in email_index["KeySchema"]] == ["email"]
    # a day's carts for the dashboard's views and the nightly export
    assert day_index["IndexName"] == "by-day"
    assert [k["AttributeName"] for k in day_index["KeySchema"]] == ["created_day", "created_at"]
    (recipient_index,) = tables["cr-sends"]["GlobalSecondaryIndexes"]
    assert recipient_index["IndexName"] == "by-recipient"
    assert [k["AttributeName"] for k in recipient_index["KeySchema"]] == ["recipient", "sent_at"]
    assert tables["cr-event-ids"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    # the owners' sessions and failed logins expire (their accounts carry no expires_at)
    assert tables["cr-owners"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    # audit and unsubscribes are kept for good: no TTL
    assert "TimeToLiveSpecification" not in tables["cr-audit"]
    assert "TimeToLiveSpecification" not in tables["cr-unsub"]


def test_tables_match_the_dynamodb_adapter(resources: dict[str, Any]) -> None:
    # Given the CreateTable requests the DynamoDB adapter uses for local runs and tests
    schema = pytest.importorskip("cart_recovery.adapters.aws.schema")
    dynamo = pytest.importorskip("cart_recovery.adapters.aws.dynamo")
    wanted = {r["TableName"]: r for r in schema.table_requests(dynamo.Tables())}
    # When the template's tables are read
    declared = {
        v["Properties"]["TableName"]: v["Properties"]
        for v in of_type(resources, "AWS::DynamoDB::Table").values()
    }
    # Then keys, attribute types and indexes are the same
    assert set(declared) == set(wanted)

    def shape(props: dict[str, Any]) -> tuple[Any, ...]:
        attrs = sorted(
            (a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]
        )
        keys = [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]]
        indexes = sorted(
            (
                i["IndexName"],
                tuple((k["AttributeName"], k["KeyType"]) for k in i["KeySchema"]),
                i["Projection"]["ProjectionType"],
            )
            for i in props.get("GlobalSecondaryIndexes", [])
        )
        return attrs, keys, indexes, props["BillingMode"]

    for name, props in declared.items():
        assert shape(props) == shape(wanted[name]), name
    ttl = declared["cr-event-ids"]["TimeToLiveSpecification"]["AttributeName"]
    assert ttl == schema.TTL_ATTRIBUTE


def test_queue_redrives_to_the_dead_letter_queue(resources: dict[str, Any]) -> None:
    queue = resources["EventsQueue"]["Properties"]
    dlq = resources["EventsDeadLetterQueue"]["Properties"]
    assert queue["QueueName"] == "cr-events"
    assert dlq["QueueName"] == "cr-events-dlq"
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    intake_timeout = FUNCTIONS["IntakeFunction"][3]
    assert queue["VisibilityTimeout"] >= 6 * intake_timeout


def test_rules_bucket_is_versioned_private_and_encrypted(resources: dict[str, Any]) -> None:
    bucket = resources["RulesBucket"]["Properties"]
    assert bucket["BucketName"]["Fn::Sub"].startswith("cr-rules-source-")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_exports_bucket_is_private_encrypted_and_tls_only(resources: dict[str, Any]) -> None:
    bucket = resources["ExportsBucket"]["Properties"]
    assert bucket["BucketName"]["Fn::Sub"].startswith("cr-exports-")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # each night's copy expires; the latest files stay
    (life,) = bucket["LifecycleConfiguration"]["Rules"]
    assert (life["Prefix"], life["ExpirationInDays"]) == ("exports/daily/", 90)
    (tls,) = resources["ExportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    # the export writes it, the summary links to it; no other function is told of it
    told = {
        logical_id
        for logical_id, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
        and "CR_EXPORTS_BUCKET" in res["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert told == {"NightlyExportFunction", "SummaryFunction"}
    for logical_id in told:
        env = resources[logical_id]["Properties"]["Environment"]["Variables"]
        assert env["CR_EXPORTS_BUCKET"] == {"Ref": "ExportsBucket"}


# ------------------------------------------------------------------ schedules, mail, alarms


def test_scheduler_group_and_the_fixed_schedules(resources: dict[str, Any]) -> None:
    assert resources["WakeupScheduleGroup"]["Properties"]["Name"] == "cr-wakeups"
    schedules = {
        v["Properties"]["Name"]: v["Properties"]
        for v in of_type(resources, "AWS::Scheduler::Schedule").values()
    }
    assert set(schedules) == {"cr-nightly-export", "cr-monthly-summary", "cr-docs-sync"}
    nightly, monthly = schedules["cr-nightly-export"], schedules["cr-monthly-summary"]
    assert nightly["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert monthly["ScheduleExpression"] == "cron(0 9 ? * 2#1 *)"
    for props in (nightly, monthly):
        assert props["ScheduleExpressionTimezone"] == {"Ref": "StoreTimezone"}
        assert props["Target"]["RoleArn"] == {"Fn::GetAtt": ["JobsSchedulerRole", "Arn"]}
    assert nightly["Target"]["Arn"] == {"Fn::GetAtt": ["NightlyExportFunction", "Arn"]}
    assert monthly["Target"]["Arn"] == {"Fn::GetAtt": ["SummaryFunction", "Arn"]}
    docs = schedules["cr-docs-sync"]
    assert docs["ScheduleExpression"] == "rate(5 minutes)"
    assert docs["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert docs["Target"]["Arn"] == {"Fn::GetAtt": ["DocsSyncFunction", "Arn"]}
    assert docs["Target"]["RoleArn"] == {"Fn::GetAtt": ["JobsSchedulerRole", "Arn"]}
    assert set(docs["Target"]) == {"Arn", "RoleArn", "RetryPolicy", "DeadLetterConfig"}


def test_ses_configuration_set_reports_to_cloudwatch(resources: dict[str, Any]) -> None:
    assert resources["SendsConfigurationSet"]["Properties"]["Name"] == "cr-sends-config"
    destination = resources["SendsCloudWatchDestination"]["Properties"]["EventDestination"]
    assert {"bounce", "complaint"} <= set(destination["MatchingEventTypes"])
    assert "CloudWatchDestination" in destination


def test_bounces_and_complaints_reach_the_feedback_function(resources: dict[str, Any]) -> None:
    # Given the configuration set every reminder is sent with
    destinations = [
        v["Properties"]
        for v in of_type(resources, "AWS::SES::ConfigurationSetEventDestination").values()
        if "SnsDestination" in v["Properties"]["EventDestination"]
    ]
    # Then one destination publishes its bounce and complaint events to the feedback topic
    (props,) = destinations
    assert props["ConfigurationSetName"] == {"Ref": "SendsConfigurationSet"}
    destination = props["EventDestination"]
    assert destination["Enabled"] is True
    assert sorted(destination["MatchingEventTypes"]) == ["bounce", "complaint"]
    assert destination["SnsDestination"] == {"TopicARN": {"Ref": "MailFeedbackTopic"}}
    assert resources["MailFeedbackTopic"]["Properties"]["TopicName"] == "cr-mail-feedback"
    # And that topic invokes the feedback function (and only it)
    subscribed = {
        logical_id: event["Properties"]["Topic"]
        for logical_id, v in of_type(resources, "AWS::Serverless::Function").items()
        for event in v["Properties"].get("Events", {}).values()
        if event["Type"] == "SNS"
    }
    assert subscribed == {"MailFeedbackFunction": {"Ref": "MailFeedbackTopic"}}
    # And only SES of this account may publish to it
    (policy,) = (
        v["Properties"]
        for v in of_type(resources, "AWS::SNS::TopicPolicy").values()
        if v["Properties"]["Topics"] == [{"Ref": "MailFeedbackTopic"}]
    )
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ses.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    }
    # And a delivery that fails (retried by Lambda, then dropped) is counted for cr-log-errors
    filters = [
        v["Properties"]
        for v in of_type(resources, "AWS::Logs::MetricFilter").values()
        if v["Properties"]["LogGroupName"] == {"Ref": "MailFeedbackLogGroup"}
    ]
    assert [t["MetricName"] for f in filters for t in f["MetricTransformations"]] == ["LogErrors"]


def test_alarms(resources: dict[str, Any]) -> None:
    alarms = {
        v["Properties"]["AlarmName"]: v["Properties"]
        for v in of_type(resources, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        "cr-events-dlq-not-empty",
        "cr-failed-not-empty",
        "cr-sender-failure-rate",
        "cr-waiter-errors",
        "cr-ses-complaint-rate",
        "cr-log-errors",
        "cr-doc-rejected",
    }
    dlq = alarms["cr-events-dlq-not-empty"]
    assert (dlq["MetricName"], dlq["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)
    assert dlq["ComparisonOperator"] == "GreaterThanThreshold"
    waiter = alarms["cr-waiter-errors"]
    assert (waiter["MetricName"], waiter["Period"], waiter["Threshold"]) == ("Errors", 3600, 0)
    sender = alarms["cr-sender-failure-rate"]
    assert sender["Threshold"] == 1  # percent, over one day
    assert {m["Id"] for m in sender["Metrics"]} == {"errors", "invocations", "rate"}
    assert alarms["cr-ses-complaint-rate"]["MetricName"] == "Reputation.ComplaintRate"
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_a_rejected_doc_has_an_alarm_of_its_own(resources: dict[str, Any]) -> None:
    # the metric S3Docs and the docs-sync function write as Embedded Metric Format lines (no
    # metric filter)
    (alarm,) = (
        v["Properties"]
        for v in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if v["Properties"]["AlarmName"] == "cr-doc-rejected"
    )
    assert (alarm["Namespace"], alarm["MetricName"]) == (metrics.NAMESPACE, metrics.DOC_REJECTED)
    assert "Dimensions" not in alarm  # the total over both docs
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    # not diluted into the generic log-errors count, and no filter makes a metric of that name
    filtered = {
        t["MetricName"]
        for f in of_type(resources, "AWS::Logs::MetricFilter").values()
        for t in f["Properties"]["MetricTransformations"]
    }
    assert metrics.DOC_REJECTED not in filtered


# ------------------------------------------------------------------ what fails goes somewhere

FAILED = {"Fn::GetAtt": ["FailedQueue", "Arn"]}
# Invoked asynchronously (Scheduler, EventBridge, SNS): a failure after Lambda's retries would
# be dropped without an on-failure destination. The intake is fed by SQS (its own DLQ) and
# the Function URLs answer their caller.
ASYNC_FUNCTIONS = {
    "WaiterFunction",
    "SenderFunction",
    "NightlyExportFunction",
    "SummaryFunction",
    "DocsSyncFunction",
    "MailFeedbackFunction",
}


def test_cr_failed_is_encrypted_kept_14_days_and_alarmed_when_not_empty(
    resources: dict[str, Any],
) -> None:
    queue = resources["FailedQueue"]["Properties"]
    assert queue["QueueName"] == "cr-failed"
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in queue  # the end of the line: an owner reads it
    alarms = [
        v["Properties"]
        for v in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedQueue", "QueueName"]}}
        in v["Properties"].get("Dimensions", [])
    ]
    (alarm,) = alarms
    assert alarm["AlarmName"] == "cr-failed-not-empty"
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_every_job_schedule_retries_and_then_dead_letters(resources: dict[str, Any]) -> None:
    schedules = of_type(resources, "AWS::Scheduler::Schedule")
    assert len(schedules) == 3
    for logical_id, schedule in schedules.items():
        target = schedule["Properties"]["Target"]
        assert target["DeadLetterConfig"] == {"Arn": FAILED}, logical_id
        retry = target["RetryPolicy"]
        assert 0 < retry["MaximumRetryAttempts"] <= 185, logical_id
        assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400, logical_id
    # docs sync gives up before its next run (every 5 minutes) would do the same work
    docs = resources["DocsSyncSchedule"]["Properties"]["Target"]["RetryPolicy"]
    assert docs["MaximumEventAgeInSeconds"] < 300


def test_the_reminders_rule_target_retries_and_then_dead_letters(
    resources: dict[str, Any],
) -> None:
    rule = resources["SenderFunction"]["Properties"]["Events"]["Reminders"]["Properties"]
    assert rule["DeadLetterConfig"] == {"Arn": FAILED}
    # the same as the per-cart schedules the code makes (adapters/aws/scheduler.py)
    assert rule["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}


def test_every_async_function_has_an_on_failure_destination(resources: dict[str, Any]) -> None:
    configured = {
        logical_id: props["EventInvokeConfig"]
        for logical_id, v in of_type(resources, "AWS::Serverless::Function").items()
        if "EventInvokeConfig" in (props := v["Properties"])
    }
    assert set(configured) == ASYNC_FUNCTIONS
    for logical_id, config in configured.items():
        assert config["DestinationConfig"] == {
            "OnFailure": {"Type": "SQS", "Destination": FAILED}
        }, logical_id
        assert config["MaximumRetryAttempts"] == 2, logical_id
        assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600, logical_id


def test_the_functions_that_make_schedules_are_told_the_dead_letter_queue(
    resources: dict[str, Any],
) -> None:
    told = {
        logical_id: v["Properties"]["Environment"]["Variables"]["CR_DEAD_LETTER_ARN"]
        for logical_id, v in of_type(resources, "AWS::Serverless::Function").items()
        if "CR_DEAD_LETTER_ARN" in v["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert told == dict.fromkeys(("IntakeFunction", "WaiterFunction", "SenderFunction"), FAILED)


def test_sam_makes_the_dead_letter_wiring(tmp_path: Any) -> None:
    # Given the template as SAM turns it into CloudFormation
    made = translated(tmp_path)
    # Then the cr-reminders rule's one target carries the retry policy and the dead-letter queue
    (rule,) = [v["Properties"] for v in made.values() if v["Type"] == "AWS::Events::Rule"]
    assert rule["Name"] == "cr-reminders"
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": FAILED}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    # And SAM makes no queue or queue policy of its own for it
    queues = {k for k, v in made.items() if v["Type"].startswith("AWS::SQS::")}
    assert queues == {"EventsQueue", "EventsDeadLetterQueue", "FailedQueue", "FailedQueuePolicy"}
    # And each async function gets an EventInvokeConfig with cr-failed on failure
    configs = {
        v["Properties"]["FunctionName"]["Ref"]: v["Properties"]
        for v in made.values()
        if v["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    assert set(configs) == ASYNC_FUNCTIONS
    for config in configs.values():
        assert config["DestinationConfig"] == {"OnFailure": {"Destination": FAILED}}
        assert config["MaximumRetryAttempts"] == 2


def test_budget_alerts_at_80_and_100_percent(resources: dict[str, Any]) -> None:
    (budget,) = of_type(resources, "AWS::Budgets::Budget").values()
    props = budget["Properties"]
    assert props["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "BudgetAmount"}, "Unit": "USD"}
    assert props["Budget"]["TimeUnit"] == "MONTHLY"
    thresholds = sorted(
        n["Notification"]["Threshold"] for n in props["NotificationsWithSubscribers"]
    )
    assert thresholds == [80, 100]
    for n in props["NotificationsWithSubscribers"]:
        assert n["Subscribers"] == [
            {"SubscriptionType": "SNS", "Address": {"Ref": "CostAlarmTopic"}}
        ]
    assert resources["CostAlarmTopic"]["Properties"]["TopicName"] == "cr-cost-alarm"


def test_no_secret_value_is_in_the_template() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    for marker in ("SecretString", "whsec_", "AKIA", "aws_secret_access_key", "NoEcho"):
        assert marker not in text


# ------------------------------------------------------------------ dependencies


def test_no_circular_dependencies(template: dict[str, Any]) -> None:
    # Given the references between resources, with the function Globals applied to every
    # function and SAM's generated `<Function>Url` resources mapped back to their function
    resources = template["Resources"]
    glob = template["Globals"]["Function"]

    def owner(name: str) -> str | None:
        if name in resources:
            return name
        if name.endswith("Url") and name[:-3] in resources:
            return name[:-3]
        return None  # a parameter or a pseudo parameter

    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        node: list[Any] = [resource.get("Properties", {}), resource.get("DependsOn", [])]
        if resource["Type"] == "AWS::Serverless::Function":
            node.append(glob)
        depends = resource.get("DependsOn", [])
        names = list(references(node)) + ([depends] if isinstance(depends, str) else depends)
        graph[logical_id] = {o for n in names if (o := owner(n)) is not None}

    # Then following them never leads back to where it started (self-references included)
    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node_id, path = stack.pop()
            for nxt in graph[node_id]:
                if nxt == start:
                    return [*path, nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for r in graph if (c := cycle_from(r))]
    assert not cycles, cycles


def layer_pins() -> dict[str, str]:
    lines = (ROOT / "infra" / "layer" / "requirements.txt").read_text(encoding="utf-8")
    return {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in lines.splitlines()
        if line and not line.startswith("#")
    }


def test_layer_pins_match_the_project() -> None:
    # Given pyproject.toml's runtime dependencies (+ the sheets and aws extras; the server is
    # the `serve` extra, not in them; boto3 the Lambda runtime ships)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    wanted = {
        d.split("[")[0].split("==")[0].lower(): d.split("==")[1]
        for d in [*project["dependencies"], *extras["sheets"], *extras["aws"]]
        if not d.startswith("boto3")
    }
    # When the layer's requirements are read
    pinned = layer_pins()
    # Then they are the same packages at the same versions
    assert pinned == wanted


def imported_by(modules: list[str]) -> set[str]:
    """The top-level names of everything outside the package that ``modules`` import, following
    the package's own imports (those inside functions too)."""
    src = ROOT / "src"
    seen: set[str] = set()
    outside: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        path = src.joinpath(*parts)
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if not file.is_file():
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        typing_only = {  # ``if TYPE_CHECKING:`` blocks are never imported when it runs
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for imported in found:
                if imported.split(".")[0] == "cart_recovery":
                    todo.append(imported)
                else:
                    outside.add(imported.split(".")[0])
    return outside - set(sys.stdlib_module_names) - {"__future__"}


def test_the_layer_holds_what_the_functions_import() -> None:
    # Given every package the Lambda handlers import, directly or through the package
    handlers = sorted((ROOT / "src" / "cart_recovery" / "lambdas").glob("*.py"))
    names = imported_by([f"cart_recovery.lambdas.{p.stem}" for p in handlers])
    distributions = importlib.metadata.packages_distributions()
    needed = {d.lower() for n in names for d in distributions.get(n, [n])}
    # When the layer's pins are read (boto3 and botocore come with the Lambda runtime, and
    # gspread brings google-auth and requests)
    shipped = set(layer_pins()) | {"boto3", "botocore", "google-auth", "requests"}
    # Then the layer ships each of them
    assert needed <= shipped, sorted(needed - shipped)
