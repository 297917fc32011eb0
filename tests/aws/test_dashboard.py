"""The owner's dashboard on AWS: the dashboard function (Function URL events through its
handler and Mangum), on DynamoDB Local and moto, answers the login and lists the seeded carts,
the same app as the embedded runtime's ``/admin``."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from cart_recovery.lambdas import dashboard, nightly_export, unsub_handler
from cart_recovery.service.owners import OwnerLogins
from tests.aws.services import client, unique
from tests.aws.world import World, decode_body, world

pytestmark = pytest.mark.aws

T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def left_cart(cart_id: str, email: str, total: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"e-{cart_id}",
        "type": "cart.updated",
        "cart_id": cart_id,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "email": email,
        "name": email.split("@")[0].title(),
        "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": total}],
        "total": total,
        "currency": "USD",
        "return_url": f"https://shop.example/cart/{cart_id}",
    }


class Browser:
    """Function URL requests to the dashboard function, carrying the cookies it set."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.cookies: dict[str, str] = {}

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        where, _, query = path.partition("?")
        event = self.w.page_event(where)
        event["rawQueryString"] = query
        event["requestContext"]["http"]["method"] = method
        event["cookies"] = [f"{k}={v}" for k, v in self.cookies.items()]
        if form is not None:
            event["headers"]["content-type"] = "application/x-www-form-urlencoded"
            event["body"] = urlencode(form)
        answer: dict[str, Any] = dashboard.handler(event, None)
        for cookie in answer.get("cookies") or []:
            name, _, value = cookie.split(";")[0].partition("=")
            self.cookies[name] = value
        return answer

    def page(self, path: str) -> str:
        answer = self.go("GET", path)
        assert answer["statusCode"] == 200, answer
        return decode_body(answer)

    def log_in(self, token: str) -> dict[str, Any]:
        found = CSRF.search(self.page("/admin/login"))
        assert found is not None
        return self.go("POST", "/admin/login", {"csrf": found.group(1), "token": token, "next": ""})


@pytest.fixture
def seeded(moto_server: str, dynamodb_local: str) -> Iterator[tuple[World, str]]:
    token = secrets.token_urlsafe(24)
    name = f"/{unique('d')}/dashboard/token"
    client("ssm", moto_server).put_parameter(Name=name, Value=token, Type="SecureString")
    start = T0 - timedelta(days=8)
    with world(moto_server, dynamodb_local, start, {"CR_DASHBOARD_TOKEN_PARAMETER": name}) as w:
        # Given three carts left today and one last week, through the webhook and intake
        for cart_id, email, total, at in (
            ("c-old", "sam@example.com", "18.00", T0 - timedelta(days=7)),
            ("c-1", "maya@example.com", "120.00", T0 - timedelta(hours=3)),
            ("c-2", "jo@example.com", "35.50", T0 - timedelta(hours=2)),
            ("c-3", "lee@example.com", "64.00", T0 - timedelta(hours=1)),
        ):
            w.clock.set(at)
            assert w.post_webhook(left_cart(cart_id, email, total, at))["statusCode"] == 200
            w.intake_all()
        w.clock.set(T0)
        yield w, token


def test_the_dashboard_function_answers_the_login_and_lists_the_carts(
    seeded: tuple[World, str],
) -> None:
    w, token = seeded
    browser = Browser(w)
    # A visitor who is not logged in is sent to the login page; the API answers 401
    answer = browser.go("GET", "/admin/")
    assert answer["statusCode"] == 303 and answer["headers"]["location"] == "/admin/login"
    assert browser.go("GET", "/admin/api/carts")["statusCode"] == 401
    # A wrong token is refused
    assert browser.log_in("not the token")["statusCode"] == 401
    # The owner logs in with the dashboard secret; the session cookie is for HTTPS only
    answer = browser.log_in(token)
    assert answer["statusCode"] == 303 and answer["headers"]["location"] == "/admin/"
    assert any("secure" in c.lower() and "httponly" in c.lower() for c in answer["cookies"])
    # Then today's carts are listed with their totals, newest first
    today = browser.page("/admin/")
    listed = re.findall(r"/admin/carts/(c-[\w-]+)", today)
    assert list(dict.fromkeys(listed)) == ["c-3", "c-2", "c-1"]
    assert "$120.00" in today and "$35.50" in today
    # the month's view has last week's cart too, and a cart's page its audit
    month = browser.page("/admin/?view=month")
    assert "c-old" in month
    cart = browser.page("/admin/carts/c-1")
    assert "maya@example.com" in cart and "Linen shirt" in cart
    # and the JSON API answers the same session
    api = browser.go("GET", "/admin/api/carts")
    assert api["statusCode"] == 200 and "c-2" in decode_body(api)


def test_an_owner_action_from_the_dashboard_is_audited_on_dynamodb(
    seeded: tuple[World, str],
) -> None:
    w, token = seeded
    browser = Browser(w)
    browser.log_in(token)
    found = CSRF.search(browser.page("/admin/carts/c-2"))
    assert found is not None
    # When the owner writes off Jo's cart
    answer = browser.go("POST", "/admin/actions/write_off", {"csrf": found.group(1), "cart": "c-2"})
    assert answer["statusCode"] == 303
    # Then the cart is closed on DynamoDB, audited as the owner's action from the dashboard
    cart, _ = w.app.store.load("c-2")
    assert cart is not None and cart.close_reason == "written_off"
    row = w.app.store.audit("c-2")[-1]
    assert (row.by, row.action) == ("owner", "written_off")


def test_a_named_owner_logs_in_on_dynamodb_and_a_revoked_session_ends(
    seeded: tuple[World, str],
) -> None:
    w, token = seeded
    # Given Sam named in cr-owners (the same door as the embedded runtime's)
    OwnerLogins(w.app.store).add_with_password("Sam", "sam@shop.example", "a long passphrase", T0)
    browser = Browser(w)
    # Then the dashboard secret no longer logs in, and Sam's email and password do
    assert browser.log_in(token)["statusCode"] == 401
    found = CSRF.search(browser.page("/admin/login"))
    assert found is not None
    form = {"csrf": found.group(1), "email": "sam@shop.example", "password": "a long passphrase"}
    assert browser.go("POST", "/admin/login", form)["statusCode"] == 303
    # When Sam writes off Jo's cart, the audit on DynamoDB names Sam
    found = CSRF.search(browser.page("/admin/carts/c-2"))
    assert found is not None
    browser.go("POST", "/admin/actions/write_off", {"csrf": found.group(1), "cart": "c-2"})
    assert w.app.store.audit("c-2")[-1].by == "Sam"
    # When every session of Sam's is revoked (another Lambda instance, say), the next request
    # is refused
    w.app.store.revoke_sessions("Sam")
    assert browser.go("GET", "/admin/")["statusCode"] == 303


def test_the_first_owner_is_added_from_the_aws_dashboard_and_logs_in(
    seeded: tuple[World, str],
) -> None:
    w, token = seeded
    # Given the owner logged in with the dashboard secret, no owner named in cr-owners
    browser = Browser(w)
    browser.log_in(token)
    page = browser.page("/admin/owners")
    assert "No owner is named yet" in page
    found = CSRF.search(page)
    assert found is not None
    # When Sam is added from the Owners page, the token login's end confirmed
    sam = {"name": "Sam", "email": "sam@shop.example", "login": "password", "first": "yes"}
    password = {"password": "a long passphrase", "again": "a long passphrase"}
    answer = browser.go("POST", "/admin/owners/add", {"csrf": found.group(1), **sam, **password})
    assert answer["statusCode"] == 200 and "Sam is an owner now" in decode_body(answer)
    # Then Sam is kept in cr-owners, the secret's session has ended and the secret is refused
    assert [a.name for a in w.app.store.owners()] == ["Sam"]
    assert browser.go("GET", "/admin/owners")["statusCode"] == 303
    assert browser.log_in(token)["statusCode"] == 401
    # And Sam logs in and finds themself on the list
    found = CSRF.search(browser.page("/admin/login"))
    assert found is not None
    form = {"csrf": found.group(1), "email": "sam@shop.example", "password": "a long passphrase"}
    assert browser.go("POST", "/admin/login", form)["statusCode"] == 303
    assert "you, logged in" in browser.page("/admin/owners")
    # When Sam adds Alex with a token and then removes Alex, Alex's action links stop at once
    found = CSRF.search(browser.page("/admin/owners"))
    assert found is not None
    alex = {"name": "Alex", "email": "alex@shop.example", "login": "token"}
    assert browser.go("POST", "/admin/owners/add", {"csrf": found.group(1), **alex})["statusCode"]
    link = urlsplit(w.app.links.action_url("suppress", "c-2", "Alex")).path
    assert unsub_handler.handler(w.page_event(link), None)["statusCode"] == 200
    browser.go("POST", "/admin/owners/remove", {"csrf": found.group(1), "name": "Alex"})
    assert [a.name for a in w.app.store.owners()] == ["Sam"]
    answer = unsub_handler.handler(w.page_event(link), None)
    assert answer["statusCode"] == 403 and "no longer works" in decode_body(answer)


def test_without_its_token_parameter_the_dashboard_says_which_one_is_missing(
    moto_server: str, dynamodb_local: str
) -> None:
    missing = f"/{unique('d')}/dashboard/token"
    env = {"CR_DASHBOARD_TOKEN_PARAMETER": missing}
    with (
        world(moto_server, dynamodb_local, T0, env) as w,
        pytest.raises(RuntimeError, match=f"cannot read the parameter {missing}"),
    ):
        Browser(w).go("GET", "/admin/login")


def test_the_dashboard_serves_the_export_and_the_summary_links_there(
    moto_server: str, dynamodb_local: str
) -> None:
    token = secrets.token_urlsafe(24)
    name = f"/{unique('d')}/dashboard/token"
    client("ssm", moto_server).put_parameter(Name=name, Value=token, Type="SecureString")
    dashboard_url = "https://dash.lambda-url.ap-southeast-1.on.aws/"
    env = {"CR_DASHBOARD_TOKEN_PARAMETER": name, "CR_DASHBOARD_URL": dashboard_url}
    with world(moto_server, dynamodb_local, T0, env) as w:
        browser = Browser(w)
        browser.log_in(token)
        # Given a cart, and the nightly export written to the exports bucket
        assert w.post_webhook(left_cart("c-x", "maya@example.com", "42.00", T0))["statusCode"]
        w.intake_all()
        nightly_export.handle({"day": T0.date().isoformat()}, w.app)
        # Then the dashboard serves the latest workbook and CSV from S3, behind the login
        workbook = browser.go("GET", "/admin/exports/carts.xlsx")
        assert workbook["statusCode"] == 200
        assert base64.b64decode(workbook["body"])[:2] == b"PK"
        csv_answer = browser.go("GET", "/admin/exports/carts.csv")
        assert csv_answer["statusCode"] == 200 and "c-x" in decode_body(csv_answer)
        assert Browser(w).go("GET", "/admin/exports/carts.csv")["statusCode"] == 303
        # And the summary email links the export on the dashboard (a link that never expires)
        assert w.app.export_link() == f"{dashboard_url}admin/exports/carts.xlsx"
