"""A deployment of the AWS runtime on the stand-ins, driven through the real Lambda handlers.

``World`` makes what the SAM template would (tables on DynamoDB Local; the queue and its DLQ,
the docs bucket, config parameters, secrets, the SES identity and a Scheduler group on moto)
and plays the parts of AWS that the stand-ins do not: Lambda invocations (handlers are called
in-process with events shaped like the real ones, from ``infra/events/``), the SQS event source
mapping, and Scheduler firing. Schedules fire on a virtual clock: ``run_until`` reads the
schedules, moves the clock to the earliest one's ``at()`` time, and invokes its target (a
one-off fires once: it is then deleted or, with ``ActionAfterCompletion`` NONE, kept as fired
until it is updated); reminder events captured from the default bus (a rule
targeting an SQS queue) go to the sender; with ``rule_retries`` a sender that fails is retried
under the rule target's RetryPolicy and the event then goes to its DeadLetterConfig queue
(``cr-failed``), as EventBridge does (moto cannot invoke Lambda, so a handler that raises stands
for a delivery that failed). SES's bounce and complaint events are published to an
SNS topic on moto; what the topic delivers (to an SQS subscription) goes to the mail-feedback
function in the SNS → Lambda event shape, one message per invocation as SNS invokes it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import secrets
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cart_recovery.adapters.aws.scheduler import parse_at
from cart_recovery.adapters.storefronts.generic import sign
from cart_recovery.bootstrap import aws as aws_bootstrap
from cart_recovery.bootstrap.aws import AwsApp
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.lambdas import ingest_webhook, intake, mail_feedback, sender, waiter
from tests.aws.services import CREDENTIALS, REGION, client, dynamo_tables, unique
from tests.infra.cfn import load_template

EVENTS = Path(__file__).resolve().parents[2] / "infra" / "events"
ACCOUNT = "123456789012"
WAITER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cr-waiter"
SENDER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cr-sender"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cr-scheduler"
MAIL_FROM = "Linen & Co <shop@example.com>"
BASE_URL = "https://abcdefghijklmnopqrstuvwxyz234567.lambda-url.ap-southeast-1.on.aws"


def sample(name: str) -> dict[str, Any]:
    """A sample event from ``infra/events/`` (a fresh copy)."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


@dataclass
class Schedule:
    name: str
    at: datetime
    expression: str
    timezone: str
    target_arn: str
    input: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


@dataclass
class World:
    moto: str
    dynamodb: str
    clock: VirtualClock
    app: AwsApp
    environ: dict[str, str]
    queue_url: str
    dlq_url: str
    capture_url: str
    group: str
    webhook_secret: str
    feedback_topic: str
    feedback_url: str
    failed_url: str  # cr-failed: every dead-letter place but the intake's
    rule: str  # the cr-reminders rule
    rule_retries: bool = False  # a failing sender: retried, then dead-lettered (else: raises)
    invocations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # one-offs that fired and stayed (ActionAfterCompletion NONE): name -> the version fired
    completed: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    mail_before: int = 0  # SES messages from earlier worlds in this moto server
    # called with the function's name before each handler runs (bench/aws_calls.py counts by it)
    on_invoke: list[Callable[[str], None]] = field(default_factory=list)

    def invoking(self, function: str) -> None:
        for hook in self.on_invoke:
            hook(function)

    # ---- the storefront and the shopper ----------------------------------------------------
    def webhook_event(
        self, body: Mapping[str, Any], *, secret: str | None = None
    ) -> dict[str, Any]:
        """A Function URL event carrying ``body``, signed now (virtual time)."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = sign(raw, secret or self.webhook_secret, int(self.clock.now().timestamp()))
        event = sample("function-url-webhook.json")
        event["headers"].update({k.lower(): v for k, v in headers.items()})
        event["body"] = raw.decode()
        return event

    def post_webhook(self, body: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        event = self.webhook_event(body, **kw)
        self.invoking("ingest_webhook")
        response: dict[str, Any] = ingest_webhook.handler(event, None)
        return response

    def unsubscribe_event(self, token: str, *, one_click: bool = True) -> dict[str, Any]:
        event = sample("function-url-unsubscribe-one-click.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/u/{token}"
        if not one_click:
            event["body"] = ""
        return event

    def page_event(self, path: str) -> dict[str, Any]:
        event = sample("function-url-unsubscribe-page.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        return event

    # ---- the SQS event source mapping ------------------------------------------------------
    def queued(self) -> list[dict[str, Any]]:
        """Receive what is on ``cr-events`` as the records of one SQS batch event."""
        sqs = client("sqs", self.moto)
        answer = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        template = sample("sqs-intake-batch.json")["Records"][0]
        records = []
        for m in answer.get("Messages", []):
            record = copy.deepcopy(template)
            record.update(
                messageId=m["MessageId"],
                receiptHandle=m["ReceiptHandle"],
                body=m["Body"],
                md5OfBody=m["MD5OfBody"],
                eventSourceARN=self.queue_arn(),
            )
            record["messageAttributes"] = {
                k: {
                    "stringValue": v.get("StringValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": v["DataType"],
                }
                for k, v in m.get("MessageAttributes", {}).items()
            }
            records.append(record)
        return records

    def queue_arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.queue_url.rsplit('/', 1)[1]}"

    def deliver(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Invoke the intake with one batch; delete what it did not report as failed."""
        self.invoking("intake")
        result: dict[str, Any] = intake.handler({"Records": records}, None)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        sqs = client("sqs", self.moto)
        for r in records:
            if r["messageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=r["receiptHandle"])
        return result

    def intake_all(self) -> list[dict[str, Any]]:
        """Deliver everything queued; returns the records delivered."""
        delivered = []
        while records := self.queued():
            self.deliver(records)
            delivered.extend(records)
        return delivered

    # ---- EventBridge Scheduler ------------------------------------------------------------
    def schedules(self, *, fired: bool = False) -> list[Schedule]:
        """The group's schedules still to fire (with ``fired``, also the one-offs that fired
        and stayed), in time order."""
        sch = client("scheduler", self.moto)
        out = []
        token = None
        while True:
            page = sch.list_schedules(
                GroupName=self.group, **({"NextToken": token} if token else {})
            )
            out += [self.schedules_named(s["Name"]) for s in page.get("Schedules", [])]
            token = page.get("NextToken")
            if not token:
                if not fired:
                    out = [s for s in out if not self.has_fired(s)]
                return sorted(out, key=lambda s: (s.at, s.name))

    @staticmethod
    def version(schedule: Schedule) -> tuple[Any, ...]:
        raw = schedule.raw
        return (raw["LastModificationDate"], schedule.expression, schedule.timezone, raw["Target"])

    def has_fired(self, schedule: Schedule) -> bool:
        """A one-off fires once: until it is updated, the version that fired stays fired."""
        return self.completed.get(schedule.name) == self.version(schedule)

    def schedules_named(self, name: str) -> Schedule:
        full = client("scheduler", self.moto).get_schedule(Name=name, GroupName=self.group)
        return Schedule(
            name=full["Name"],
            at=parse_at(full["ScheduleExpression"], full["ScheduleExpressionTimezone"]),
            expression=full["ScheduleExpression"],
            timezone=full["ScheduleExpressionTimezone"],
            target_arn=full["Target"]["Arn"],
            input=json.loads(full["Target"]["Input"]),
            raw=full,
        )

    def schedules_of(self, cart_id: str) -> list[Schedule]:
        def cart_of(s: Schedule) -> str | None:
            cart_id = s.input.get("cart_id") or s.input.get("detail", {}).get("cart_id")
            return cart_id if isinstance(cart_id, str) else None

        return [s for s in self.schedules() if cart_of(s) == cart_id]

    def fire(self, schedule: Schedule) -> None:
        """What Scheduler does at the time: invoke the target; then the one-off is deleted
        (``ActionAfterCompletion`` DELETE) or stays, fired (NONE)."""
        self.clock.set(max(self.clock.now(), schedule.at))
        if schedule.raw.get("ActionAfterCompletion") == "DELETE":
            client("scheduler", self.moto).delete_schedule(Name=schedule.name, GroupName=self.group)
        else:
            self.completed[schedule.name] = self.version(schedule)
        if schedule.target_arn == WAITER_ARN:
            self.invocations.append(("waiter", schedule.input))
            self.invoking("waiter")
            waiter.handler(schedule.input, None)
        elif schedule.target_arn == SENDER_ARN:
            self.invocations.append(("sender", schedule.input))
            self.invoking("sender")
            sender.handler(schedule.input, None)
        else:
            raise AssertionError(f"schedule {schedule.name} targets {schedule.target_arn}")
        self.send_captured()

    def send_captured(self) -> None:
        """Feed reminder events from the default bus to the sender (the EventBridge rule)."""
        sqs = client("sqs", self.moto)
        while True:
            answer = sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return
            for m in messages:
                event = json.loads(m["Body"])
                if self.rule_retries:
                    self._deliver_as_eventbridge(event)
                else:
                    self.invocations.append(("sender", event))
                    self.invoking("sender")
                    sender.handler(event, None)
                sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=m["ReceiptHandle"])

    def _deliver_as_eventbridge(self, event: dict[str, Any]) -> None:
        """One event to the sender under the rule target's RetryPolicy (read back from the
        rule): retried with a doubling wait (from 1 s, at most 5 min, on the virtual clock)
        until the attempts or the event's age run out, then put in the target's dead-letter
        queue with the attributes EventBridge adds."""
        events = client("events", self.moto)
        (target,) = events.list_targets_by_rule(Rule=self.rule)["Targets"]
        policy = target["RetryPolicy"]
        first, wait, retries = self.clock.now(), 1.0, 0
        while True:
            self.invocations.append(("sender", event))
            self.invoking("sender")
            try:
                sender.handler(event, None)
                return
            except Exception as e:  # the delivery failed: EventBridge retries it
                error = e
            age = (self.clock.now() - first).total_seconds() + wait
            if (
                retries == policy["MaximumRetryAttempts"]
                or age > policy["MaximumEventAgeInSeconds"]
            ):
                break
            self.clock.set(self.clock.now() + timedelta(seconds=wait))
            wait, retries = min(2 * wait, 300.0), retries + 1
        dead_letter_arn = target["DeadLetterConfig"]["Arn"]
        url = client("sqs", self.moto).get_queue_url(QueueName=dead_letter_arn.rsplit(":", 1)[1])
        attributes = {
            "RULE_ARN": events.describe_rule(Name=self.rule)["Arn"],
            "TARGET_ARN": target["Arn"],
            "ERROR_CODE": type(error).__name__,
            "ERROR_MESSAGE": str(error)[:256],
            "RETRY_ATTEMPTS": str(retries),
        }
        client("sqs", self.moto).send_message(
            QueueUrl=url["QueueUrl"],
            MessageBody=json.dumps(event),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )

    def run_until(self, until: datetime) -> None:
        """Fire every schedule due by ``until``, in time order, then move the clock there."""
        while True:
            due = [s for s in self.schedules() if s.at <= until]
            if not due:
                break
            self.fire(due[0])
        self.clock.set(max(self.clock.now(), until))

    # ---- SES feedback through SNS ----------------------------------------------------------
    def ses_event(self, name: str, email: str, **fields: Any) -> dict[str, Any]:
        """The SES event record of ``infra/events/sns-mail-feedback-<name>.json`` (the documented
        sample) for ``email``, with the bounce's or complaint's ``fields`` replaced."""
        record = sample(f"sns-mail-feedback-{name}.json")["Records"][0]
        text = str(record["Sns"]["Message"]).replace("recipient@example.com", email)
        message: dict[str, Any] = json.loads(text)
        message["bounce" if name == "bounce" else "complaint"].update(fields)
        return message

    def publish_ses(self, message: Mapping[str, Any]) -> None:
        """SES publishes an event record to the configuration set's SNS destination."""
        client("sns", self.moto).publish(TopicArn=self.feedback_topic, Message=json.dumps(message))

    def deliver_feedback(self) -> list[dict[str, int]]:
        """What SNS does for its Lambda subscription: each message the topic delivered,
        wrapped as an SNS → Lambda event, invokes the mail-feedback function once."""
        sqs = client("sqs", self.moto)
        template = sample("sns-mail-feedback-bounce.json")["Records"][0]
        answers: list[dict[str, int]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.feedback_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return answers
            for m in got["Messages"]:
                notification = json.loads(m["Body"])
                record = copy.deepcopy(template)
                record["Sns"].update(
                    {k: notification[k] for k in ("MessageId", "TopicArn", "Message", "Timestamp")}
                )
                self.invocations.append(("mail_feedback", record))
                self.invoking("mail_feedback")
                answers.append(mail_feedback.handler({"Records": [record]}, None))
                sqs.delete_message(QueueUrl=self.feedback_url, ReceiptHandle=m["ReceiptHandle"])

    # ---- SES ------------------------------------------------------------------------------
    def mail_to(self, address: str) -> list[EmailMessage]:
        """Raw messages SES accepted for ``address`` in this world, parsed."""
        out = []
        for m in raw_messages(self.moto)[self.mail_before :]:
            if address in m.get("destinations", []):
                raw = m["raw_data"].encode("utf-8", "surrogateescape")
                out.append(message_from_bytes(raw, policy=policy.default))
        return out


def raw_messages(moto: str) -> list[dict[str, Any]]:
    """What SES accepted through SendRawEmail, oldest first (moto's own record)."""
    with urllib.request.urlopen(f"{moto}/moto-api/data.json", timeout=10) as r:
        data = json.load(r)
    messages: list[dict[str, Any]] = data.get("ses", {}).get("RawMessage", [])
    return messages


def _bootstrap_resources(moto: str, prefix: str) -> dict[str, str]:
    sqs = client("sqs", moto)
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-cr-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-cr-events",
        Attributes={
            "VisibilityTimeout": "0",  # a redelivery is visible at once (the test plays SQS)
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    capture_url = sqs.create_queue(QueueName=f"{prefix}-reminders")["QueueUrl"]
    capture_arn = sqs.get_queue_attributes(QueueUrl=capture_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events = client("events", moto)
    events.put_rule(
        Name=f"{prefix}-reminders",
        EventPattern=json.dumps(
            {"source": ["cart-recovery"], "detail-type": ["first_reminder", "second_reminder"]}
        ),
    )
    failed_url = sqs.create_queue(QueueName=f"{prefix}-cr-failed")["QueueUrl"]
    failed_arn = sqs.get_queue_attributes(QueueUrl=failed_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_targets(
        Rule=f"{prefix}-reminders",
        Targets=[
            {
                "Id": "sender",
                "Arn": capture_arn,
                "RetryPolicy": reminders_retry_policy(),
                "DeadLetterConfig": {"Arn": failed_arn},
            }
        ],
    )
    feedback_url = sqs.create_queue(QueueName=f"{prefix}-mail-feedback")["QueueUrl"]
    feedback_arn = sqs.get_queue_attributes(QueueUrl=feedback_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns = client("sns", moto)
    feedback_topic = sns.create_topic(Name=f"{prefix}-cr-mail-feedback")["TopicArn"]
    sns.subscribe(TopicArn=feedback_topic, Protocol="sqs", Endpoint=feedback_arn)
    s3 = client("s3", moto)
    bucket = f"{prefix}-cr-rules-source"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="rules.txt", Body=DEFAULT_RULES_TEXT.encode())
    s3.put_object(
        Bucket=bucket,
        Key="voice.txt",
        Body=DEFAULT_VOICE_TEXT.encode(),
    )
    exports = f"{prefix}-cr-exports"
    s3.create_bucket(Bucket=exports, CreateBucketConfiguration={"LocationConstraint": REGION})
    ssm = client("ssm", moto)
    for name, value in (("mail_from", MAIL_FROM), ("base_url", BASE_URL)):
        ssm.put_parameter(Name=f"/{prefix}/config/{name}", Value=value, Type="String")
    ssm.put_parameter(
        Name=f"/{prefix}/config/owner_emails", Value="owner@example.com", Type="SecureString"
    )
    webhook_secret = secrets.token_urlsafe(32)
    sm = client("secretsmanager", moto)
    sm.create_secret(Name=f"{prefix}/webhook/secret", SecretString=webhook_secret)
    sm.create_secret(Name=f"{prefix}/signing/key", SecretString=secrets.token_urlsafe(32))
    ses = client("ses", moto)
    ses.verify_email_identity(EmailAddress="shop@example.com")
    with contextlib.suppress(ses.exceptions.ConfigurationSetAlreadyExistsException):
        ses.create_configuration_set(ConfigurationSet={"Name": "cr-sends-config"})
    group = f"{prefix}-group"
    client("scheduler", moto).create_schedule_group(Name=group)
    return {
        "queue_url": queue_url,
        "dlq_url": dlq_url,
        "capture_url": capture_url,
        "bucket": bucket,
        "exports_bucket": exports,
        "group": group,
        "webhook_secret": webhook_secret,
        "rule": f"{prefix}-reminders",
        "feedback_topic": feedback_topic,
        "feedback_url": feedback_url,
        "failed_url": failed_url,
        "failed_arn": failed_arn,
    }


def reminders_retry_policy() -> dict[str, int]:
    """The cr-reminders rule target's RetryPolicy, as infra/template.yaml declares it."""
    resources = load_template()["Resources"]
    rule = resources["SenderFunction"]["Properties"]["Events"]["Reminders"]["Properties"]
    policy: dict[str, int] = rule["RetryPolicy"]
    return policy


@contextmanager
def world(
    moto: str, dynamodb: str, start: datetime, extra_env: Mapping[str, str] | None = None
) -> Iterator[World]:
    """A fresh deployment (its own tables, queues, bucket, parameters, secrets and schedule
    group) with the handlers wired to it on a virtual clock starting at ``start``."""
    prefix = unique("w")
    made = _bootstrap_resources(moto, prefix)
    with dynamo_tables(dynamodb) as (_db, tables):
        environ = {
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_ENDPOINT_URL": moto,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
            "CR_STATE_TABLE": tables.state,
            "CR_SENDS_TABLE": tables.sends,
            "CR_AUDIT_TABLE": tables.audit,
            "CR_UNSUB_TABLE": tables.unsub,
            "CR_EVENT_IDS_TABLE": tables.event_ids,
            "CR_OWNERS_TABLE": tables.owners,
            "CR_EVENTS_QUEUE_URL": made["queue_url"],
            "CR_RULES_BUCKET": made["bucket"],
            "CR_EXPORTS_BUCKET": made["exports_bucket"],
            "CR_CONFIG_PATH": f"/{prefix}/config/",
            "CR_WEBHOOK_SECRET_ID": f"{prefix}/webhook/secret",
            "CR_SIGNING_SECRET_ID": f"{prefix}/signing/key",
            "CR_SCHEDULER_GROUP": made["group"],
            "CR_WAITER_ARN": WAITER_ARN,
            "CR_SENDER_ARN": SENDER_ARN,
            "CR_SCHEDULER_ROLE_ARN": SCHEDULER_ROLE_ARN,
            "CR_DEAD_LETTER_ARN": made["failed_arn"],
            "CR_SES_CONFIGURATION_SET": "cr-sends-config",
            "CR_STORE_TIMEZONE": "America/New_York",
            **(extra_env or {}),
        }
        clock = VirtualClock(start)
        app = aws_bootstrap.aws(environ, clock=clock)
        aws_bootstrap.use_app(app)
        try:
            yield World(
                moto=moto,
                dynamodb=dynamodb,
                clock=clock,
                app=app,
                environ=environ,
                queue_url=made["queue_url"],
                dlq_url=made["dlq_url"],
                capture_url=made["capture_url"],
                group=made["group"],
                webhook_secret=made["webhook_secret"],
                feedback_topic=made["feedback_topic"],
                feedback_url=made["feedback_url"],
                failed_url=made["failed_url"],
                rule=made["rule"],
                mail_before=len(raw_messages(moto)),
            )
        finally:
            aws_bootstrap.use_app(None)
            events = client("events", moto)
            events.remove_targets(Rule=made["rule"], Ids=["sender"])
            events.delete_rule(Name=made["rule"])


def one_click_token(message: EmailMessage) -> str:
    """The unsubscribe token in a reminder's ``List-Unsubscribe`` header."""
    header = str(message["List-Unsubscribe"])
    url = header.strip().strip("<>").split(">")[0]
    assert url.startswith(f"{BASE_URL}/u/"), header
    return url.rsplit("/u/", 1)[1]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def decode_body(response: Mapping[str, Any]) -> str:
    body = str(response.get("body", ""))
    if response.get("isBase64Encoded"):
        return base64.b64decode(body).decode()
    return body
