"""The nightly export on AWS: the window's carts land in the exports bucket (moto), and the
owner's monthly summary email links to the latest workbook with a presigned GET that works."""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest

from cart_recovery.lambdas import nightly_export, summary
from tests.aws.services import client
from tests.aws.test_lambdas import cart_event
from tests.aws.world import World, body_text, world

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 26, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


@pytest.fixture
def w(moto_server: str, dynamodb_local: str) -> Iterator[World]:
    with world(moto_server, dynamodb_local, T0) as made:
        yield made


def workbook_rows(data: bytes) -> list[dict[str, Any]]:
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws is not None
    header, *body = list(ws.iter_rows(values_only=True))
    return [dict(zip(map(str, header), r, strict=True)) for r in body]


def test_the_export_lands_in_s3_and_the_summary_links_to_it(w: World) -> None:
    s3 = client("s3", w.moto)
    bucket = w.environ["CR_EXPORTS_BUCKET"]
    # Given a cart reminded twice, then bought on Friday
    w.post_webhook(cart_event("c-aws", "e1", occurred_at="2026-05-26T14:00:00Z"))
    w.intake_all()
    w.run_until(T0 + timedelta(days=2))
    bought = cart_event("c-aws", "e2", type="cart.checked_out", occurred_at="2026-05-29T16:00:00Z")
    w.clock.set(datetime(2026, 5, 29, 16, 0, tzinfo=UTC))
    w.post_webhook(bought)
    w.intake_all()

    # When the nightly export runs for Friday
    w.clock.set(datetime(2026, 5, 30, 6, 0, tzinfo=UTC))  # 02:00 in New York
    answer = nightly_export.handle({"day": "2026-05-29"}, w.app)

    # Then the workbook and the CSV land in the exports bucket, the latest and the night's copy
    assert answer["written"] == [
        f"s3://{bucket}/exports/carts.xlsx",
        f"s3://{bucket}/exports/daily/carts-2026-05-29.xlsx",
        f"s3://{bucket}/exports/carts.csv",
        f"s3://{bucket}/exports/daily/carts-2026-05-29.csv",
    ]
    got = s3.get_object(Bucket=bucket, Key="exports/carts.xlsx")
    assert got["ContentType"].startswith("application/vnd.openxmlformats")
    assert got["ContentDisposition"] == 'attachment; filename="carts.xlsx"'
    stored = got["Body"].read()
    (row,) = workbook_rows(stored)
    assert (row["Cart"], row["Status"]) == ("c-aws", "bought")
    assert str(row["Reminder 1"]).startswith("sent 2026-05-26 12:00")
    assert str(row["Reminder 2"]).startswith("sent 2026-05-27 08:00")
    assert row["Recovered"] == "yes: bought after a reminder"
    text = s3.get_object(Bucket=bucket, Key="exports/carts.csv")["Body"].read().decode()
    (line,) = list(csv.DictReader(io.StringIO(text)))
    assert line["Cart"] == "c-aws" and line["Recovered"] == "yes: bought after a reminder"
    daily = s3.get_object(Bucket=bucket, Key="exports/daily/carts-2026-05-29.xlsx")
    assert workbook_rows(daily["Body"].read()) == [row]

    # When the monthly summary goes out on the first Monday of June
    w.clock.set(datetime(2026, 6, 1, 13, 0, tzinfo=UTC))
    summary.handle({}, w.app)

    # Then the owner's email carries a presigned link, good for 7 days, that fetches the file
    [mail] = w.mail_to("owner@example.com")
    body = body_text(mail)
    match = re.search(r"(https?://\S+/exports/carts\.xlsx\?\S+)", body)
    assert match is not None, body
    url = match.group(1)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["604800"]
    assert query["X-Amz-Signature"] and "X-Amz-Credential" in query
    assert "maya@example.com" not in url
    with urllib.request.urlopen(url, timeout=10) as fetched:
        assert fetched.status == 200
        assert fetched.read() == stored
    # (the link names this bucket and key, nothing else)
    assert urlsplit(url).path.endswith(f"/{bucket}/exports/carts.xlsx")
    # and the HTML part links to the same file
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    assert f'href="{url.replace("&", "&amp;")}"' in str(html.get_content())


def test_no_link_before_the_first_export(w: World) -> None:
    w.clock.set(datetime(2026, 6, 1, 13, 0, tzinfo=UTC))
    summary.handle({}, w.app)
    [mail] = w.mail_to("owner@example.com")
    assert "/exports/carts.xlsx" not in body_text(mail)
