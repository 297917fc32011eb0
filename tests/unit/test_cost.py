"""The AWS cost model (domain/cost.py) and the `cost` command, and the docs that show them."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import fields, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cart_recovery.cli import main
from cart_recovery.cli.cost_model import PRICES, USAGE, Usage, monthly_bill, price_table

ROOT = Path(__file__).resolve().parents[2]
SERIES_300 = 2.20  # the design series: "around $2.20/month ... around 300 abandoned carts"
# What the deployment runs beyond the series' design, at its price: the cr-failed alarm (one
# alarm metric), so that no failed wake-up, reminder or job is dropped without a word.
BEYOND_SERIES = PRICES.alarm_metric.usd
# Within 15% of the series, plus what it did not have.
SERIES_BOUND = 0.15 * SERIES_300 + BEYOND_SERIES
README_VOLUMES = (300, 1000, 3000, 10000)


def test_300_carts_cost_about_what_the_series_says() -> None:
    bill = monthly_bill(300)
    assert abs(bill.total - SERIES_300) <= SERIES_BOUND, bill.total


def test_total_is_the_sum_of_the_services() -> None:
    bill = monthly_bill(1000)
    assert bill.total == pytest.approx(sum(line.usd for line in bill.lines))
    assert all(line.usd >= 0 for line in bill.lines)
    services = [line.service for line in bill.lines]
    for name in ("Lambda", "DynamoDB", "SQS", "EventBridge Scheduler", "SES", "S3"):
        assert name in services
    assert "Bedrock (Haiku 4.5)" in services
    assert "Secrets Manager" in services


def test_the_bill_grows_with_the_carts_and_never_shrinks_per_service() -> None:
    bills = [monthly_bill(n) for n in (0, 300, 1000, 3000, 10000)]
    for smaller, bigger in itertools.pairwise(bills):
        assert bigger.total > smaller.total
        for a, b in zip(smaller.lines, bigger.lines, strict=True):
            assert b.usd >= a.usd, a.service


def test_no_carts_costs_only_the_fixed_part() -> None:
    # Given no carts at all
    bill = {line.service: line.usd for line in monthly_bill(0).lines}
    # Then what is left is the secrets, the alarms and the idle queue polling (and the two jobs)
    assert bill["Secrets Manager"] == pytest.approx(
        3 * 0.40 + (USAGE.exports_per_month * USAGE.cold_start_share) * 0.05 / 10_000
    )
    # eight alarm metrics (cr-failed's depth the eighth), seven custom metrics 5% of the time
    assert bill["CloudWatch alarms & metrics"] == pytest.approx(8 * 0.10 + 7 * 0.05 * 0.30)
    assert bill["SQS"] == pytest.approx(USAGE.sqs_idle_requests * 0.40 / 1e6)
    assert bill["SES"] == pytest.approx(1 * 0.10 / 1000)  # the monthly summary email


def test_lambda_is_requests_plus_gb_seconds() -> None:
    # Given a model where each cart is one 1-second webhook call at 1 GB and nothing else
    nothing = Usage(**{f.name: 0 for f in fields(Usage) if f.name not in ("small_mb", "large_mb")})
    usage = replace(nothing, events_per_cart=1.0, ingest_ms=1000.0, small_mb=1024.0)
    # When 1,000 carts are priced
    lam = next(line for line in monthly_bill(1000, usage).lines if line.service == "Lambda")
    # Then Lambda is 2,000 requests (webhook + intake) and 1,000 GB-seconds
    assert lam.usd == pytest.approx(2000 * 0.20 / 1e6 + 1000 * 0.0000133334)


def test_a_polished_line_costs_its_tokens() -> None:
    per_line = (
        USAGE.polish_tokens_in * PRICES.bedrock_input.usd
        + USAGE.polish_tokens_out * PRICES.bedrock_output.usd
    )
    assert per_line == pytest.approx(200 / 1e6 + 30 * 5 / 1e6)
    one = {line.service: line.usd for line in monthly_bill(1000).lines}["Bedrock (Haiku 4.5)"]
    two = {line.service: line.usd for line in monthly_bill(2000).lines}["Bedrock (Haiku 4.5)"]
    assert two - one == pytest.approx(1000 * USAGE.reminders_per_cart * per_line)


def test_prices_are_per_unit() -> None:
    assert PRICES.lambda_requests.usd == pytest.approx(0.20 / 1e6)
    assert PRICES.ses_email.usd == pytest.approx(0.10 / 1000)
    for price in price_table():
        assert price.quoted >= 0 and price.per > 0 and price.unit and price.service


def test_negative_carts_are_refused() -> None:
    with pytest.raises(ValueError):
        monthly_bill(-1)


# ------------------------------------------------------------------ the command


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["cost", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cost_command_prints_the_total_for_300_carts() -> None:
    out = run("--carts", "300")
    total = monthly_bill(300).total
    assert "Total" in out
    assert f"${total:,.2f}" in out
    for service in ("Lambda", "DynamoDB", "Bedrock (Haiku 4.5)", "SES"):
        assert service in out


def test_cost_command_json() -> None:
    doc = json.loads(run("--carts", "300", "--carts", "1000", "--json"))
    assert doc["region"] == "ap-southeast-1"
    assert doc["free_tier"] is False
    assert [b["carts"] for b in doc["bills"]] == [300, 1000]
    first = doc["bills"][0]
    assert abs(first["total"] - SERIES_300) <= SERIES_BOUND
    assert first["total"] == pytest.approx(sum(s["usd"] for s in first["services"]), abs=1e-5)


def test_cost_command_defaults_to_300_carts() -> None:
    assert json.loads(run("--json"))["bills"][0]["carts"] == 300


def test_cost_command_refuses_negative_carts() -> None:
    result = CliRunner().invoke(main, ["cost", "--carts", "-5"])
    assert result.exit_code != 0


# ------------------------------------------------------------------ the docs never drift


def block(path: Path, name: str) -> str:
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert match, f"{path.name} has no {name} block"
    return match.group(1).strip()


def test_readme_cost_table_is_the_commands_output() -> None:
    args = [a for n in README_VOLUMES for a in ("--carts", str(n))]
    assert block(ROOT / "README.md", "cost-table") == run(*args, "--markdown").strip()


def test_deploy_doc_price_table_is_the_commands_output() -> None:
    doc = ROOT / "docs" / "deploy-aws.md"
    assert block(doc, "cost-model") == run("--model", "--markdown").strip()
