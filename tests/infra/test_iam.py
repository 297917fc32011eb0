"""Least privilege: each function's role grants exactly the actions of the engineering
reference's IAM list (Part 7 of the design series), on exact ARNs, plus a short, documented
list of what AWS or the service's own writes require (docs/deploy-aws.md, "IAM")."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .cfn import arn_name, load_template

# What Part 7 lists per function ("IAM (least privilege per Lambda)"), action by action.
PART7: dict[str, set[str]] = {
    "IngestWebhookRole": {"sqs:SendMessage", "secretsmanager:GetSecretValue"},
    "IntakeRole": {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "iam:PassRole",
    },
    "WaiterRole": {
        "s3:GetObject",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "scheduler:CreateSchedule",
        "events:PutEvents",
    },
    "SenderRole": {
        "scheduler:CreateSchedule",
        "secretsmanager:GetSecretValue",
        "bedrock:InvokeModel",
        "ses:SendRawEmail",
        "dynamodb:PutItem",
        "dynamodb:Query",
    },
    "UnsubHandlerRole": {"dynamodb:PutItem", "dynamodb:UpdateItem", "scheduler:DeleteSchedule"},
    "NightlyExportRole": {"dynamodb:Scan", "dynamodb:Query", "secretsmanager:GetSecretValue"},
    "SummaryRole": {
        "dynamodb:Scan",
        "dynamodb:Query",
        "secretsmanager:GetSecretValue",
        "ses:SendRawEmail",
        "bedrock:InvokeModel",
    },
    # Not in Part 7 (it came with the Google Docs feature): "least-privilege IAM that reads its
    # secret and writes only the docs bucket".
    "DocsSyncRole": {
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucketVersions",
        "s3:PutObject",
    },
    # Not in Part 7's list either ("a complaint ... auto-adds the address to cr-unsub"): the
    # unsubscribe path and nothing else -- the carts of the address, the list row, the soft
    # bounce count, the audit rows, and the key the list is hashed with.
    "MailFeedbackRole": {
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "secretsmanager:GetSecretValue",
    },
    # Not in Part 7 either (the owner's dashboard on AWS, the embedded app's /admin): the
    # store's reads the pages make (a day's carts by index, a cart, its sends, audit and
    # events, search and the month by scans), the owner's actions (suppress, write off,
    # unsubscribe, forget: rows updated, audit rows and list rows put, the wake-up
    # cancelled), the docs it shows and edits, the login token and the link key; and the
    # owners' logins in cr-owners (a session deleted at logout).
    "DashboardRole": {
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "scheduler:DeleteSchedule",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucketVersions",
        "s3:PutObject",
    },
}

# Part 7 lists the Google service-account secret for "nightly-export and summary" together;
# only the export talks to Google, so the summary does not get it.
NOT_GRANTED: dict[str, set[str]] = {"SummaryRole": {"secretsmanager:GetSecretValue"}}

LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}  # "CloudWatch Logs: all Lambdas"
# "The configured timezone, quiet-hours window ... live in Parameter Store under /cr/config/.
# Lambdas fetch config on cold start": every function reads that path.
CONFIG = {"ssm:GetParametersByPath"}
READS_CONFIG = set(PART7) - {"IngestWebhookRole"}  # the webhook reads its secret, no config

# Why a role holds an action that Part 7's sketch does not list for it: AWS requires it for
# the wiring Part 7 describes, or the service's own reads and writes do (the CartStore,
# DocSource and timer contracts in ports.py, as the DynamoDB, S3 and Scheduler adapters
# carry them out).
WHY = {
    "sqs:GetQueueAttributes": "AWS: the Lambda SQS event source reads the queue's attributes",
    "iam:PassRole": "AWS: CreateSchedule passes the Scheduler target role",
    "scheduler:UpdateSchedule": "a redelivered write finds its schedule already there",
    "scheduler:DeleteSchedule": "a new wake-up replaces the cart's previous one",
    "s3:GetObject": "the docs: the waits, quiet hours, store timezone; templates, store name",
    "s3:GetObjectVersion": "a bad edit is rejected: the last good version keeps serving",
    "s3:ListBucketVersions": "finding that last good version",
    "dynamodb:GetItem": "load the cart (and, for the sender, the unsubscribe list entry; for "
    "the link pages, the owner an action link names, so a removed owner's links stop)",
    "dynamodb:Query": "the cart's send history; the carts of an address",
    "dynamodb:UpdateItem": "cart rows: close, re-time, defer; claimed -> sent",
    "dynamodb:PutItem": "the audit row of every write",
    "dynamodb:ConditionCheckItem": "the claim checks atomically: cart open, not unsubscribed",
    "dynamodb:DeleteItem": "a shopper opts back in from their own link: the list row goes",
    "secretsmanager:GetSecretValue": "the link-signing key: unsubscribe and owner tokens",
    "ses:SendRawEmail": "a refused Google Doc revision: the owners are told, once",
    "s3:PutObject": "the nightly export's files in the exports bucket",
    "sqs:SendMessage": "AWS: a Lambda on-failure destination sends as the function's role",
}

DOC_ACTIONS = {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucketVersions"}

BEYOND_PART7: dict[str, set[str]] = {
    "IngestWebhookRole": set(),
    "IntakeRole": {
        "sqs:GetQueueAttributes",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucketVersions",
        "scheduler:UpdateSchedule",
    },
    "WaiterRole": {
        "sqs:SendMessage",
        "iam:PassRole",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "s3:GetObjectVersion",
        "s3:ListBucketVersions",
    },
    "SenderRole": {
        "sqs:SendMessage",
        "iam:PassRole",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucketVersions",
    },
    "UnsubHandlerRole": {
        "secretsmanager:GetSecretValue",
        "dynamodb:GetItem",
        "dynamodb:Query",
        *DOC_ACTIONS,
        "dynamodb:DeleteItem",
    },
    "NightlyExportRole": {"dynamodb:GetItem", *DOC_ACTIONS, "s3:PutObject", "sqs:SendMessage"},
    "SummaryRole": {"dynamodb:GetItem", *DOC_ACTIONS, "sqs:SendMessage"},
    # the audit rows under doc:rules / doc:voice: a saved version's, a refused revision's (read
    # back so a refused revision is not mailed again)
    "DocsSyncRole": {"dynamodb:Query", "dynamodb:PutItem", "ses:SendRawEmail", "sqs:SendMessage"},
    "MailFeedbackRole": {"sqs:SendMessage"},
    "DashboardRole": set(),
}

# The exact grants: role -> action -> the resources it is allowed on (see cfn.arn_name).
SCHEDULES = "scheduler:schedule/${WakeupScheduleGroup}/*"
WEBHOOK_SECRET = "secretsmanager:secret:${WebhookSecretName}-??????"
SIGNING_KEY = "secretsmanager:secret:${SigningSecretName}-??????"
SHEETS_SECRET = "secretsmanager:secret:${SheetsSecretName}-??????"
HAIKU = {
    "bedrock:inference-profile/${BedrockModel}",
    "bedrock:*::foundation-model/${Model}",
    "bedrock:::foundation-model/${Model}",
}
MAIL_FROM = {
    "ses:identity/${MailFrom}",
    "ses:identity/${Domain}",
    "ses:configuration-set/${SendsConfigurationSet}",
}
RULES = {"RulesBucket/rules.txt"}
FAILED = {"FailedQueue"}  # cr-failed: what failed after its retries
DOCS = {"RulesBucket/rules.txt", "RulesBucket/voice.txt"}
CONFIG_PATH = {"ssm:parameter/cr/config", "ssm:parameter/cr/config/*"}
ALL_TABLES = {"StateTable", "SendsTable", "AuditTable", "EventIdsTable", "UnsubTable"}
DASHBOARD_READS = ALL_TABLES | {"StateTable/index/by-day", "StateTable/index/by-email"}
READ_DOCS = {
    "s3:GetObject": DOCS,
    "s3:GetObjectVersion": DOCS,
    "s3:ListBucketVersions": {"RulesBucket"},
}

GRANTS: dict[str, dict[str, set[str]]] = {
    "IngestWebhookRole": {
        "sqs:SendMessage": {"EventsQueue"},
        "secretsmanager:GetSecretValue": {WEBHOOK_SECRET},
    },
    "IntakeRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "sqs:ReceiveMessage": {"EventsQueue"},
        "sqs:DeleteMessage": {"EventsQueue"},
        "sqs:GetQueueAttributes": {"EventsQueue"},
        "dynamodb:GetItem": {"StateTable"},
        "dynamodb:UpdateItem": {"StateTable"},
        "dynamodb:PutItem": {"EventIdsTable", "AuditTable"},
        "dynamodb:Query": {"SendsTable"},
        "s3:GetObject": RULES,
        "s3:GetObjectVersion": RULES,
        "s3:ListBucketVersions": {"RulesBucket"},
        "scheduler:CreateSchedule": {SCHEDULES},
        "scheduler:UpdateSchedule": {SCHEDULES},
        "scheduler:DeleteSchedule": {SCHEDULES},
        "iam:PassRole": {"SchedulerTargetRole"},
    },
    "WaiterRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "s3:GetObject": DOCS,
        "s3:GetObjectVersion": DOCS,
        "s3:ListBucketVersions": {"RulesBucket"},
        "dynamodb:GetItem": {"StateTable"},
        "dynamodb:Query": {"SendsTable"},
        "dynamodb:UpdateItem": {"StateTable"},
        "dynamodb:PutItem": {"AuditTable"},
        "scheduler:CreateSchedule": {SCHEDULES},
        "scheduler:UpdateSchedule": {SCHEDULES},
        "scheduler:DeleteSchedule": {SCHEDULES},
        "iam:PassRole": {"SchedulerTargetRole"},
        "events:PutEvents": {"events:event-bus/default"},
        "sqs:SendMessage": FAILED,
    },
    "SenderRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "scheduler:CreateSchedule": {SCHEDULES},
        "scheduler:UpdateSchedule": {SCHEDULES},
        "scheduler:DeleteSchedule": {SCHEDULES},
        "iam:PassRole": {"SchedulerTargetRole"},
        "secretsmanager:GetSecretValue": {SIGNING_KEY},
        "bedrock:InvokeModel": HAIKU,
        "ses:SendRawEmail": MAIL_FROM,
        "dynamodb:GetItem": {"StateTable", "UnsubTable"},
        "dynamodb:Query": {"SendsTable", "SendsTable/index/by-recipient"},
        "dynamodb:PutItem": {"SendsTable", "AuditTable"},
        "dynamodb:UpdateItem": {"SendsTable", "StateTable"},
        "dynamodb:ConditionCheckItem": {"StateTable", "UnsubTable"},
        "s3:GetObject": DOCS,
        "s3:GetObjectVersion": DOCS,
        "s3:ListBucketVersions": {"RulesBucket"},
        "sqs:SendMessage": FAILED,
    },
    "UnsubHandlerRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "dynamodb:PutItem": {"UnsubTable", "AuditTable"},
        # the owner an action link names, by key: a removed owner's links stop working
        "dynamodb:GetItem": {"StateTable", "UnsubTable", "OwnersTable"},
        "dynamodb:DeleteItem": {"UnsubTable"},
        "dynamodb:UpdateItem": {"StateTable"},
        "dynamodb:Query": {"StateTable/index/by-email", "SendsTable"},
        "scheduler:DeleteSchedule": {SCHEDULES},
        "secretsmanager:GetSecretValue": {SIGNING_KEY},
        **READ_DOCS,
    },
    "NightlyExportRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "dynamodb:Scan": {"StateTable", "SendsTable", "AuditTable", "EventIdsTable"},
        "dynamodb:Query": {
            "StateTable",
            "StateTable/index/by-day",
            "SendsTable",
            "AuditTable",
            "EventIdsTable",
        },
        "dynamodb:GetItem": {"StateTable"},
        "secretsmanager:GetSecretValue": {SHEETS_SECRET, SIGNING_KEY},
        **READ_DOCS,
        # the latest files and each night's copy, nothing else of the exports bucket
        "s3:PutObject": {
            "ExportsBucket/exports/carts.xlsx",
            "ExportsBucket/exports/carts.csv",
            "ExportsBucket/exports/daily/*",
        },
        "sqs:SendMessage": FAILED,
    },
    "SummaryRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "dynamodb:Scan": {
            "StateTable",
            "SendsTable",
            "AuditTable",
            "UnsubTable",
            "EventIdsTable",
        },
        "dynamodb:Query": {
            "StateTable",
            "SendsTable",
            "AuditTable",
            "UnsubTable",
            "EventIdsTable",
        },
        "dynamodb:GetItem": {"StateTable"},
        "bedrock:InvokeModel": HAIKU,
        "ses:SendRawEmail": MAIL_FROM,
        **READ_DOCS,
        # (the summary links the latest workbook on the dashboard, which serves it: no read)
        "sqs:SendMessage": FAILED,
    },
    "DocsSyncRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "secretsmanager:GetSecretValue": {SHEETS_SECRET},
        "s3:PutObject": DOCS,
        **READ_DOCS,
        "dynamodb:Query": {"AuditTable"},
        "dynamodb:PutItem": {"AuditTable"},
        "ses:SendRawEmail": MAIL_FROM,
        "sqs:SendMessage": FAILED,
    },
    # DynamoStore.unsubscribe (carts_of on the by-email index; the list row and the audit rows,
    # one transaction) and note_soft_bounce (an UpdateItem of the soft#<digest> row in cr-unsub)
    "MailFeedbackRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "dynamodb:Query": {"StateTable/index/by-email"},
        "dynamodb:PutItem": {"UnsubTable", "AuditTable"},
        "dynamodb:UpdateItem": {"UnsubTable"},
        "secretsmanager:GetSecretValue": {SIGNING_KEY},
        "sqs:SendMessage": FAILED,
    },
    "DashboardRole": {
        "ssm:GetParametersByPath": CONFIG_PATH,
        "ssm:GetParameter": {"ssm:parameter/cr/dashboard/token"},
        "secretsmanager:GetSecretValue": {SIGNING_KEY},
        "dynamodb:GetItem": DASHBOARD_READS | {"OwnersTable"},
        "dynamodb:Query": DASHBOARD_READS | {"OwnersTable"},
        "dynamodb:Scan": ALL_TABLES | {"OwnersTable"},
        "dynamodb:PutItem": ALL_TABLES | {"OwnersTable"},
        "dynamodb:UpdateItem": ALL_TABLES | {"OwnersTable"},
        "dynamodb:DeleteItem": {"OwnersTable"},
        "scheduler:DeleteSchedule": {SCHEDULES},
        "s3:GetObject": DOCS,
        "s3:GetObjectVersion": DOCS,
        "s3:PutObject": DOCS,
        "s3:ListBucketVersions": {"RulesBucket"},
    },
    # EventBridge Scheduler's roles: invoke the waiter and the sender / the jobs, and put what
    # they could not deliver in cr-failed (Scheduler sends dead letters as the schedule's role)
    "SchedulerTargetRole": {
        "lambda:InvokeFunction": {
            "lambda:function:cr-waiter",
            "lambda:function:cr-sender",
        },
        "sqs:SendMessage": FAILED,
    },
    "JobsSchedulerRole": {
        "lambda:InvokeFunction": {
            "NightlyExportFunction",
            "SummaryFunction",
            "DocsSyncFunction",
        },
        "sqs:SendMessage": FAILED,
    },
}

# Where AWS accepts nothing narrower than Resource "*". This system needs none.
RESOURCE_STAR_ALLOWED: set[str] = set()

# Wildcards allowed inside an ARN, and why.
ARN_WILDCARDS = [
    re.compile(r"-\?{6}$"),  # Secrets Manager's random six-character suffix of one secret
    re.compile(r"^ssm:parameter/cr/config/\*$"),  # the parameters under the config path
    re.compile(r"^scheduler:schedule/\$\{WakeupScheduleGroup\}/\*$"),  # the wake-ups' group
    re.compile(r"^bedrock:\*::foundation-model/"),  # the Regions the inference profile routes to
    re.compile(r"^ExportsBucket/exports/daily/\*$"),  # each night's copy of the export
]

FUNCTION_ROLES = sorted(PART7)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    props = template["Resources"][role]["Properties"]
    assert "ManagedPolicyArns" not in props, "no managed policies: they grant on '*'"
    out: list[dict[str, Any]] = []
    for policy in props["Policies"]:
        out.extend(policy["PolicyDocument"]["Statement"])
    return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(template: dict[str, Any], role: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for st in statements(template, role):
        for action in as_list(st["Action"]):
            out.setdefault(action, set()).update(arn_name(r) for r in as_list(st["Resource"]))
    return out


def test_every_function_has_its_own_role(template: dict[str, Any]) -> None:
    roles = {
        logical_id: res["Properties"]["Role"]["Fn::GetAtt"][0]
        for logical_id, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }
    assert sorted(roles.values()) == FUNCTION_ROLES
    roles_in_template = {
        k for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"
    }
    assert roles_in_template == set(GRANTS)


@pytest.mark.parametrize("role", FUNCTION_ROLES)
def test_role_names_only_the_actions_part7_lists(template: dict[str, Any], role: str) -> None:
    # Given the actions Part 7 lists for the function, and the documented additions
    config = CONFIG if role in READS_CONFIG else set()
    expected = (PART7[role] - NOT_GRANTED.get(role, set())) | BEYOND_PART7[role] | LOGS | config
    # When the role's policy is read
    granted = set(grants(template, role))
    # Then it names exactly those actions
    assert granted == expected, (
        f"not granted: {sorted(expected - granted)}; unlisted: {sorted(granted - expected)}"
    )
    # and what goes beyond Part 7 is only what AWS or the service's own reads and writes need
    assert not BEYOND_PART7[role] & PART7[role]
    assert BEYOND_PART7[role] <= set(WHY)


@pytest.mark.parametrize("role", sorted(GRANTS))
def test_role_grants_on_exact_resources(template: dict[str, Any], role: str) -> None:
    granted = grants(template, role)
    if role in PART7:  # every function may write its own log group, and only that one
        group = role.replace("Role", "LogGroup")
        for action in LOGS:
            assert granted.pop(action) == {group}
    assert granted == GRANTS[role]


@pytest.mark.parametrize("role", sorted(GRANTS))
def test_no_wildcard_actions_or_resources(template: dict[str, Any], role: str) -> None:
    for st in statements(template, role):
        assert st["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(st)
        for action in as_list(st["Action"]):
            assert "*" not in action, action
        for resource in as_list(st["Resource"]):
            name = arn_name(resource)
            if name == "*":
                assert role in RESOURCE_STAR_ALLOWED
            elif "*" in name or "?" in name:
                assert any(p.search(name) for p in ARN_WILDCARDS), name


def test_pass_role_is_for_scheduler_only(template: dict[str, Any]) -> None:
    for role in ("IntakeRole", "WaiterRole", "SenderRole"):
        (st,) = [s for s in statements(template, role) if s["Action"] == ["iam:PassRole"]]
        assert st["Condition"] == {
            "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
        }


def test_send_mail_only_from_the_verified_sender(template: dict[str, Any]) -> None:
    for role in ("SenderRole", "SummaryRole", "DocsSyncRole"):
        (st,) = [s for s in statements(template, role) if s["Action"] == ["ses:SendRawEmail"]]
        assert st["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "MailFrom"}}}


def test_model_access_only_through_the_inference_profile(template: dict[str, Any]) -> None:
    for role in ("SenderRole", "SummaryRole"):
        model_statements = [
            s
            for s in statements(template, role)
            if any("foundation-model" in arn_name(r) for r in as_list(s["Resource"]))
        ]
        assert model_statements
        for st in model_statements:
            assert "bedrock:InferenceProfileArn" in st["Condition"]["StringEquals"]


def test_doc_versions_are_listed_only_for_the_two_docs(template: dict[str, Any]) -> None:
    for role in ("IntakeRole", "WaiterRole", "SenderRole", "DocsSyncRole"):
        (st,) = [s for s in statements(template, role) if s["Action"] == ["s3:ListBucketVersions"]]
        assert set(st["Condition"]["StringEquals"]["s3:prefix"]) <= {"rules.txt", "voice.txt"}


def writers_of(template: dict[str, Any], bucket: str) -> set[str]:
    return {
        role
        for role in GRANTS
        for action, resources in grants(template, role).items()
        if action.startswith("s3:") and not action.startswith(("s3:Get", "s3:List"))
        if any(r.split("/")[0] == bucket for r in resources)
    }


def test_only_the_docs_sync_and_the_dashboard_write_the_docs(template: dict[str, Any]) -> None:
    writers = writers_of(template, "RulesBucket")
    # the docs sync (a Google Doc's revision) and the dashboard (the owner's edit), both only
    # the two docs
    assert writers == {"DocsSyncRole", "DashboardRole"}
    assert grants(template, "DocsSyncRole")["s3:PutObject"] == DOCS
    assert grants(template, "DashboardRole")["s3:PutObject"] == DOCS
    # and the only other S3 writer is the nightly export, into its own bucket
    s3_writers = {
        role
        for role in GRANTS
        for action in grants(template, role)
        if action.startswith("s3:") and not action.startswith(("s3:Get", "s3:List"))
    }
    assert s3_writers == {"DocsSyncRole", "DashboardRole", "NightlyExportRole"}
    assert writers_of(template, "ExportsBucket") == {"NightlyExportRole"}


def test_waiter_emits_only_the_reminder_events(template: dict[str, Any]) -> None:
    (st,) = [s for s in statements(template, "WaiterRole") if s["Action"] == ["events:PutEvents"]]
    assert st["Condition"]["StringEquals"] == {
        "events:source": "cart-recovery",
        "events:detail-type": ["first_reminder", "second_reminder"],
    }


def test_mail_feedback_only_writes_the_unsubscribe_list_and_its_audit(
    template: dict[str, Any],
) -> None:
    granted = grants(template, "MailFeedbackRole")
    # it reads no cart row and changes none, sends nothing, schedules nothing (its one queue
    # action is its own failed invocations into cr-failed)
    assert granted.pop("sqs:SendMessage") == FAILED
    assert not {a for a in granted if a.split(":")[0] in {"ses", "scheduler", "events", "sqs"}}
    assert "StateTable" not in set().union(*granted.values())
    assert "dynamodb:GetItem" not in granted and "dynamodb:Scan" not in granted
    writes = {a: r for a, r in granted.items() if a in {"dynamodb:PutItem", "dynamodb:UpdateItem"}}
    assert set().union(*writes.values()) == {"UnsubTable", "AuditTable"}


def test_trust_policies(template: dict[str, Any]) -> None:
    for role in GRANTS:
        doc = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
        (st,) = doc["Statement"]
        service = "lambda.amazonaws.com" if role in PART7 else "scheduler.amazonaws.com"
        assert st["Principal"] == {"Service": service}
        assert st["Action"] == "sts:AssumeRole"
        if service.startswith("scheduler"):
            assert st["Condition"] == {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
            }


# The async paths' dead-letter place: the functions Lambda invokes asynchronously (their
# on-failure destination) and Scheduler's two roles (the schedules' DeadLetterConfig).
FAILED_SENDERS = {
    "WaiterRole",
    "SenderRole",
    "NightlyExportRole",
    "SummaryRole",
    "DocsSyncRole",
    "MailFeedbackRole",
    "SchedulerTargetRole",
    "JobsSchedulerRole",
}


def test_only_the_async_paths_may_send_to_cr_failed_and_nothing_reads_it(
    template: dict[str, Any],
) -> None:
    senders = {
        role
        for role in GRANTS
        for action, resources in grants(template, role).items()
        if "FailedQueue" in resources
    }
    assert senders == FAILED_SENDERS
    for role in FAILED_SENDERS:
        on_queue = {a for a, r in grants(template, role).items() if "FailedQueue" in r}
        assert on_queue == {"sqs:SendMessage"}, role
    # EventBridge (the cr-reminders rule's target) sends through the queue's own policy, for
    # that rule of this account only
    policy = template["Resources"]["FailedQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "FailedQueue"}]
    (st,) = policy["PolicyDocument"]["Statement"]
    assert (st["Effect"], st["Principal"], st["Action"]) == (
        "Allow",
        {"Service": "events.amazonaws.com"},
        "sqs:SendMessage",
    )
    assert arn_name(st["Resource"]) == "FailedQueue"
    source = st["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert arn_name(source) == "events:rule/cr-reminders"
