"""What the AWS deployment costs a month, per service, for a number of abandoned carts (SPEC §9).

Pure: a price table, a usage model and arithmetic. The prices are the public on-demand list
prices for ap-southeast-1 (Singapore), the reference region, as published in 2026; no free
tier is subtracted (the always-free allowances are shared by every account of an AWS
Organization and the 12-month ones run out), no tax. Check them against the AWS pricing pages
before relying on them: prices change, and this table is only as good as its last review.

The bill has a fixed part that does not depend on volume (secrets, alarms, the SQS poller of
the intake trigger) and a per-cart part (functions, requests, emails, model tokens). At small
volumes the fixed part dominates, which is why ~300 carts land near the design series' $2.20.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

REGION = "ap-southeast-1"
PRICES_AS_OF = "2026"
HOURS_PER_MONTH = 730.0
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
DAYS_PER_MONTH = 30.42


@dataclass(frozen=True)
class Price:
    """``quoted`` dollars per ``per`` units, as the price page states it."""

    service: str
    quoted: float
    per: float
    unit: str

    @property
    def usd(self) -> float:
        """Dollars for one unit."""
        return self.quoted / self.per


M = 1_000_000.0


@dataclass(frozen=True)
class Prices:
    """Public list prices, ap-southeast-1, USD."""

    # AWS Lambda: requests, and compute on Graviton (arm64), first pricing tier.
    lambda_requests: Price = Price("Lambda requests", 0.20, M, "1M requests")
    lambda_arm_gb_second: Price = Price("Lambda duration, arm64", 0.0000133334, 1, "GB-second")
    # Amazon DynamoDB on-demand, standard table class.
    dynamodb_write: Price = Price("DynamoDB on-demand writes", 0.7135, M, "1M write request units")
    dynamodb_read: Price = Price("DynamoDB on-demand reads", 0.1427, M, "1M read request units")
    dynamodb_storage: Price = Price("DynamoDB storage", 0.285, 1, "GB-month")
    # Amazon SQS standard queue (every 64 KB chunk of a request is one request).
    sqs_request: Price = Price("SQS standard queue requests", 0.40, M, "1M requests")
    # Amazon EventBridge Scheduler, and custom events on the default bus.
    scheduler_invocation: Price = Price("EventBridge Scheduler", 1.00, M, "1M invocations")
    events_custom: Price = Price("EventBridge custom events", 1.00, M, "1M events")
    # Amazon SES outbound email (reminders carry no attachments).
    ses_email: Price = Price("SES outbound email", 0.10, 1000, "1,000 emails")
    # Amazon Bedrock, Claude Haiku 4.5 through the global cross-Region inference profile
    # (geographic and in-Region profiles cost about 10% more).
    bedrock_input: Price = Price("Bedrock Claude Haiku 4.5 input", 1.00, M, "1M tokens")
    bedrock_output: Price = Price("Bedrock Claude Haiku 4.5 output", 5.00, M, "1M tokens")
    # Amazon S3 Standard.
    s3_get: Price = Price("S3 GET requests", 0.0004, 1000, "1,000 requests")
    s3_put: Price = Price("S3 PUT requests", 0.005, 1000, "1,000 requests")
    s3_storage: Price = Price("S3 Standard storage", 0.025, 1, "GB-month")
    # AWS Secrets Manager.
    secret_month: Price = Price("Secrets Manager secret", 0.40, 1, "secret-month")
    secrets_api: Price = Price("Secrets Manager API calls", 0.05, 10_000, "10,000 calls")
    # AWS Systems Manager Parameter Store: standard parameters, standard throughput.
    ssm_standard: Price = Price("SSM Parameter Store, standard", 0.0, 10_000, "10,000 calls")
    # Amazon CloudWatch.
    logs_ingest: Price = Price("CloudWatch Logs ingestion", 0.70, 1, "GB")
    logs_storage: Price = Price("CloudWatch Logs storage", 0.033, 1, "GB-month")
    alarm_metric: Price = Price("CloudWatch standard alarm", 0.10, 1, "alarm metric-month")
    custom_metric: Price = Price("CloudWatch custom metric", 0.30, 1, "metric-month, by the hour")
    # Amazon SNS email notifications: the first 1,000 a month are free; alerts stay below.
    # AWS Budgets: budgets without actions are free.


PRICES = Prices()


@dataclass(frozen=True)
class Usage:
    """How much of each service one abandoned cart uses, and the fixed monthly activity.

    Calibrated on the design series: about 300 abandoned carts a month for about $2.20.
    """

    # Webhook events per abandoned cart, including those of carts that check out without
    # being abandoned (an active shopper sends up to a dozen).
    events_per_cart: float = 10.0
    # Waiter wake-ups: step 1, step 2 and the close-out, plus re-timings when the shopper
    # comes back, minus carts bought before their first wait.
    wakeups_per_cart: float = 2.4
    # Reminders actually sent: many shoppers come back on their own before the first wait,
    # so "a few hundred emails" for 300 carts (the first to about 60%, the second to 40%).
    reminders_per_cart: float = 1.0
    # Reminders skipped by a gate (no email, unsubscribed, do not disturb).
    skips_per_cart: float = 0.15
    # Quiet-hours defers (one extra one-off schedule and sender run each).
    defers_per_cart: float = 0.2
    # Unsubscribe-page views, one-click unsubscribes and return-link clicks.
    link_hits_per_cart: float = 0.2

    # Average billed duration per invocation in ms (cold starts included), and memory in MB.
    ingest_ms: float = 250
    intake_ms: float = 400
    waiter_ms: float = 400
    sender_ms: float = 1800  # one Bedrock call for the opening line
    unsub_ms: float = 300
    export_ms: float = 5000
    summary_ms: float = 15000
    small_mb: float = 256
    large_mb: float = 512  # sender, summary

    # DynamoDB request units per invocation (transactions count twice, GSIs once more).
    # Measured, like the S3 GETs below: `python -m bench.aws_calls` (200 carts on DynamoDB
    # Local and moto, ReturnConsumedCapacity=TOTAL; docs/performance.md), per intake run of
    # one event, per waiter run and per sender run. The unsubscribe figures are estimates.
    intake_wru: float = 11.3
    intake_rru: float = 3.2
    waiter_wru: float = 4.4
    waiter_rru: float = 3.5
    sender_wru: float = 10.0
    sender_rru: float = 5.3
    unsub_wru: float = 4
    unsub_rru: float = 2
    # Stored per cart (row, sends, audit rows and both GSIs), and how many months are kept.
    kb_per_cart: float = 6.0
    months_kept: float = 12.0

    # SQS requests per event (send, receive, delete: the webhook's one SendMessage is
    # measured, the event source mapping's receive and delete are AWS's), and the intake
    # trigger's idle long polling: five pollers, one 20-second ReceiveMessage each.
    sqs_requests_per_event: float = 3.0
    sqs_idle_requests: float = 5 * 3 * MINUTES_PER_MONTH

    # Bedrock tokens per polished opening line ("a couple of hundred input tokens and a few
    # dozen output"), and for the monthly summary paragraph.
    polish_tokens_in: float = 200
    polish_tokens_out: float = 30
    summary_tokens_in: float = 1500
    summary_tokens_out: float = 300

    # S3 GETs of the rules/voice docs per invocation (measured: bench.aws_calls), and owner
    # edits (PUTs) a month.
    docs_per_intake: float = 1.0
    docs_per_waiter: float = 1.0
    docs_per_sender: float = 1.7
    doc_edits: float = 10

    # Secrets: webhook HMAC, link-signing key, Google service account. One GetSecretValue per
    # cold start; at these volumes about every other invocation starts cold.
    secrets: int = 3
    cold_start_share: float = 0.5

    # Log bytes per invocation (START/END/REPORT lines and a few JSON lines).
    log_kb_per_invocation: float = 1.5
    log_retention_days: float = 7

    # Alarm metrics: the depth of cr-events-dlq and of cr-failed (the queue of what the
    # asynchronous paths could not do: an empty queue costs no requests), sender failure rate
    # (errors and invocations), waiter errors, SES complaint rate, log errors, rejected docs.
    # Custom metrics (the log-error count, SES bounces, complaints and rejects, the rejected
    # docs in total and per doc) are billed only for hours with data: rare, by design.
    alarm_metrics: int = 8
    custom_metrics: int = 7
    custom_metric_active_share: float = 0.05

    # Fixed jobs.
    exports_per_month: float = DAYS_PER_MONTH
    summaries_per_month: float = 1


USAGE = Usage()


@dataclass(frozen=True)
class Line:
    service: str
    usd: float
    detail: str


@dataclass(frozen=True)
class Bill:
    carts: int
    lines: tuple[Line, ...]
    total: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", sum(line.usd for line in self.lines))


def _n(x: float) -> str:
    return f"{x:,.0f}"


def monthly_bill(carts: int, usage: Usage = USAGE, prices: Prices = PRICES) -> Bill:
    """The month's bill, per service, for ``carts`` abandoned carts."""
    if carts < 0:
        raise ValueError("carts must be zero or more")
    v = _volumes(float(carts), usage)
    lambda_line, invocations = _lambda(v, usage, prices)
    lines = (
        lambda_line,
        _dynamodb(v, usage, prices),
        *_messaging(v, usage, prices),
        _bedrock(v, usage, prices),
        _s3(v, usage, prices),
        _secrets(v, usage, prices),
        Line("SSM Parameter Store", 0.0, "standard parameters"),
        *_cloudwatch(invocations, usage, prices),
        Line("SNS & Budgets", 0.0, "alert emails within the free 1,000; budgets are free"),
    )
    return Bill(carts=carts, lines=lines)


@dataclass(frozen=True)
class _Volumes:
    """The month's activity that grows with the number of carts."""

    carts: float
    events: float
    wakeups: float
    reminders: float
    sender_runs: float
    link_hits: float


def _volumes(n: float, u: Usage) -> _Volumes:
    return _Volumes(
        carts=n,
        events=n * u.events_per_cart,
        wakeups=n * u.wakeups_per_cart,
        reminders=n * u.reminders_per_cart,
        sender_runs=n * (u.reminders_per_cart + u.skips_per_cart + u.defers_per_cart),
        link_hits=n * u.link_hits_per_cart,
    )


def _lambda(v: _Volumes, u: Usage, p: Prices) -> tuple[Line, float]:
    """The Lambda line, and the month's invocations (the logs are billed by them)."""
    # (invocations, ms, MB) per function: ingest, intake, waiter, sender, unsub, export, summary
    runs = [
        (v.events, u.ingest_ms, u.small_mb),
        (v.events, u.intake_ms, u.small_mb),
        (v.wakeups, u.waiter_ms, u.small_mb),
        (v.sender_runs, u.sender_ms, u.large_mb),
        (v.link_hits, u.unsub_ms, u.small_mb),
        (u.exports_per_month, u.export_ms, u.small_mb),
        (u.summaries_per_month, u.summary_ms, u.large_mb),
    ]
    invocations = sum(r[0] for r in runs)
    gb_seconds = sum(count * ms / 1000 * mb / 1024 for count, ms, mb in runs)
    lambda_usd = invocations * p.lambda_requests.usd + gb_seconds * p.lambda_arm_gb_second.usd
    line = Line(
        "Lambda",
        lambda_usd,
        f"{_n(invocations)} invocations, {_n(gb_seconds)} GB-s (arm64)",
    )
    return line, invocations


def _dynamodb(v: _Volumes, u: Usage, p: Prices) -> Line:
    stored_carts = v.carts * u.months_kept
    stored_gb = stored_carts * u.kb_per_cart / 1024 / 1024
    # The nightly export and the monthly summary scan the tables (eventually consistent:
    # half a read unit per 4 KB).
    scan_rru = (u.exports_per_month + u.summaries_per_month) * stored_carts * u.kb_per_cart / 8
    wru = (
        v.events * u.intake_wru
        + v.wakeups * u.waiter_wru
        + v.sender_runs * u.sender_wru
        + v.link_hits * u.unsub_wru
    )
    rru = (
        v.events * u.intake_rru
        + v.wakeups * u.waiter_rru
        + v.sender_runs * u.sender_rru
        + v.link_hits * u.unsub_rru
        + scan_rru
    )
    dynamodb_usd = (
        wru * p.dynamodb_write.usd + rru * p.dynamodb_read.usd + stored_gb * p.dynamodb_storage.usd
    )
    return Line("DynamoDB", dynamodb_usd, f"{_n(wru)} WRU, {_n(rru)} RRU, {stored_gb:.2f} GB")


def _messaging(v: _Volumes, u: Usage, p: Prices) -> tuple[Line, ...]:
    """SQS, the Scheduler, the event bus and SES."""
    sqs_requests = v.events * u.sqs_requests_per_event + u.sqs_idle_requests
    schedules = (
        v.wakeups + v.carts * u.defers_per_cart + u.exports_per_month + u.summaries_per_month
    )
    bus_events = v.carts * (u.reminders_per_cart + u.skips_per_cart)  # the waiter's two moves
    emails = v.reminders + u.summaries_per_month
    return (
        Line(
            "SQS",
            sqs_requests * p.sqs_request.usd,
            f"{_n(sqs_requests)} requests (incl. the trigger's idle polling)",
        ),
        Line(
            "EventBridge Scheduler", schedules * p.scheduler_invocation.usd, f"{_n(schedules)} runs"
        ),
        Line("EventBridge events", bus_events * p.events_custom.usd, f"{_n(bus_events)} events"),
        Line("SES", emails * p.ses_email.usd, f"{_n(emails)} emails"),
    )


def _bedrock(v: _Volumes, u: Usage, p: Prices) -> Line:
    tokens_in = v.reminders * u.polish_tokens_in + u.summaries_per_month * u.summary_tokens_in
    tokens_out = v.reminders * u.polish_tokens_out + u.summaries_per_month * u.summary_tokens_out
    bedrock_usd = tokens_in * p.bedrock_input.usd + tokens_out * p.bedrock_output.usd
    return Line(
        "Bedrock (Haiku 4.5)",
        bedrock_usd,
        f"{_n(tokens_in)} tokens in, {_n(tokens_out)} out",
    )


def _s3(v: _Volumes, u: Usage, p: Prices) -> Line:
    s3_gets = (
        v.events * u.docs_per_intake
        + v.wakeups * u.docs_per_waiter
        + v.sender_runs * u.docs_per_sender
    )
    s3_usd = s3_gets * p.s3_get.usd + u.doc_edits * p.s3_put.usd
    return Line("S3", s3_usd, f"{_n(s3_gets)} GETs")


def _secrets(v: _Volumes, u: Usage, p: Prices) -> Line:
    secret_calls = (
        v.events + v.sender_runs + v.link_hits + u.exports_per_month
    ) * u.cold_start_share
    secrets_usd = u.secrets * p.secret_month.usd + secret_calls * p.secrets_api.usd
    return Line(
        "Secrets Manager",
        secrets_usd,
        f"{u.secrets} secrets, {_n(secret_calls)} calls",
    )


def _cloudwatch(invocations: float, u: Usage, p: Prices) -> tuple[Line, Line]:
    """CloudWatch Logs, and the alarms and custom metrics."""
    log_gb = invocations * u.log_kb_per_invocation / 1024 / 1024
    logs_usd = (
        log_gb * p.logs_ingest.usd
        + log_gb * u.log_retention_days / DAYS_PER_MONTH * p.logs_storage.usd
    )
    metrics_usd = (
        u.alarm_metrics * p.alarm_metric.usd
        + u.custom_metrics * u.custom_metric_active_share * p.custom_metric.usd
    )
    return (
        Line("CloudWatch Logs", logs_usd, f"{log_gb * 1024:,.1f} MB ingested, 7-day retention"),
        Line(
            "CloudWatch alarms & metrics",
            metrics_usd,
            f"{u.alarm_metrics} alarm metrics, {u.custom_metrics} custom metrics",
        ),
    )


def price_table(prices: Prices = PRICES) -> list[Price]:
    return [getattr(prices, f.name) for f in fields(prices)]


def usage_table(usage: Usage = USAGE) -> Mapping[str, float]:
    return {f.name: float(getattr(usage, f.name)) for f in fields(usage)}


__all__ = [
    "PRICES",
    "PRICES_AS_OF",
    "REGION",
    "USAGE",
    "Bill",
    "Line",
    "Price",
    "Prices",
    "Usage",
    "monthly_bill",
    "price_table",
    "usage_table",
]
