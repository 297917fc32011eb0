"""The Owners page of the embedded dashboard, over HTTP: the token owner names the first owners
(the admin token login ends), an owner lists and removes another, whose sessions and action
links end at once; the same checks and words as ``cart-recovery owner``; every form
CSRF-checked; each change a log line naming who made it, never a secret."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.domain.model import Status
from tests.integration.test_dashboard import Dash, ny
from tests.integration.test_named_owners import PASSWORD, add_sam, log_in, second_browser

TOKEN_SHOWN = re.compile(r'<pre id="new-token" class="token">([^<]+)</pre>')


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    d = Dash(tmp_path / "data")
    d.ingest(return_url="https://shop.example/cart/c1")
    d.advance(ny(12, 12))
    yield d
    d.close()


def add(d: Dash, **form: str) -> Any:
    return d.post("/admin/owners/add", {"csrf": d.csrf("/admin/owners"), **form})


def names(d: Dash) -> list[str]:
    return [a.name for a in d.rt.store.owners()]


def test_owners_are_named_listed_and_removed_from_the_dashboard(
    dash: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cart_recovery.owners")
    # Given the token owner logged in, no owner named yet
    dash.login()
    page = dash.client.get("/admin/owners").text
    assert "No owner is named yet" in page and 'name="first"' in page
    assert 'href="/admin/owners" class="on"' in page
    sam = {"name": "Sam", "email": "sam@example.com", "login": "password"}
    # When the first owner is added without confirming the token login ends, nothing happens
    r = add(dash, **sam, password=PASSWORD, again=PASSWORD)
    assert r.status_code == 400 and "admin token stops logging in" in r.text
    assert 'value="Sam"' in r.text and PASSWORD not in r.text
    # nor with the password mistyped the second time
    r = add(dash, **sam, password=PASSWORD, again=PASSWORD + "!", first="yes")
    assert r.status_code == 400 and "the two passwords do not match" in r.text
    assert names(dash) == []
    # When it is confirmed, Sam is an owner, and the token owner's session has ended
    r = add(dash, **sam, password=PASSWORD, again=PASSWORD, first="yes")
    assert r.status_code == 200 and "Sam is an owner now" in r.text
    assert "The admin token no longer logs in" in r.text and PASSWORD not in r.text
    assert dash.client.get("/admin/owners", follow_redirects=False).status_code == 303
    # Then the admin token no longer logs in, and Sam does
    r = dash.post("/admin/login", {"csrf": dash.csrf(), "token": dash.settings.admin_token})
    assert r.status_code == 401
    assert log_in(dash) == 303
    # When Sam adds Alex with a personal token, it is shown on the answer, once
    r = add(dash, name="Alex", email="alex@example.com", login="token")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    shown = TOKEN_SHOWN.search(r.text)
    assert shown is not None
    token = shown.group(1)
    # Then Sam's list has both, how each logs in, who is logged in, and no secret
    page = dash.client.get("/admin/owners").text
    for text in ("Alex", "alex@example.com", "token", "password", "you, logged in", "never"):
        assert text in page
    assert re.search(r"<b>Sam</b> <span class=\"badge own\">you, logged in", page)
    assert token not in page and "argon2" not in page
    # Given Alex logged in on their own browser, and an action link made for Alex
    alex = second_browser(dash)
    r = alex.post("/admin/login", {"csrf": alex.csrf(), "token": token})
    assert r.status_code == 303 and ">Alex</span>" in alex.client.get("/admin/").text
    link = dash.rt.service.links.action_url("suppress", "c1", "Alex")
    link = link.removeprefix(dash.settings.base_url)
    assert dash.client.get(link).status_code == 200
    # When Sam removes Alex, after the confirmation page
    confirm = dash.client.get("/admin/owners/remove?name=alex")
    assert confirm.status_code == 200 and "Remove Alex?" in confirm.text
    r = dash.post("/admin/owners/remove", {"csrf": dash.csrf("/admin/owners"), "name": "Alex"})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/owners")
    assert "Alex is removed" in dash.client.get("/admin/owners").text
    # Then Alex's session is refused at once, and so are Alex's action links
    assert alex.client.get("/admin/", follow_redirects=False).status_code == 303
    assert "no longer works" in dash.client.get(link).text
    r = dash.client.post(link)
    assert r.status_code == 403 and dash.cart("c1").status is Status.OPEN
    alex.client.close()
    # And each change is one log line naming who made it, with no secret in any
    lines = [
        (rec.getMessage(), getattr(rec, "owner", ""), getattr(rec, "by", ""))
        for rec in caplog.records
    ]
    assert lines == [
        ("owner added", "Sam", "owner"),
        ("owner added", "Alex", "Sam"),
        ("owner removed", "Alex", "Sam"),
    ]
    assert all(getattr(rec, "via", "") == "dashboard" for rec in caplog.records)
    assert PASSWORD not in caplog.text and token not in caplog.text


def test_the_last_owner_cannot_remove_themselves_but_another_may(dash: Dash) -> None:
    add_sam(dash)
    assert log_in(dash) == 303
    confirm = dash.client.get("/admin/owners/remove?name=Sam").text
    assert "You are the last owner" in confirm and "/admin/owners/remove" not in confirm
    r = dash.post("/admin/owners/remove", {"csrf": dash.csrf("/admin/owners"), "name": "Sam"})
    assert r.headers["location"] == "/admin/owners"
    assert "Sam is the last owner" in dash.client.get("/admin/owners").text
    assert names(dash) == ["Sam"]
    # With a second owner, Sam may leave; their own session ends with it
    add(dash, name="Kim", email="kim@example.com", login="password", password=PASSWORD,
        again=PASSWORD)  # fmt: skip
    r = dash.post("/admin/owners/remove", {"csrf": dash.csrf("/admin/owners"), "name": "sam"})
    assert r.headers["location"] == "/admin/login"
    assert names(dash) == ["Kim"]
    assert "You removed yourself" in dash.client.get("/admin/login").text
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"name": "Kim", "email": "not-an-address"}, "is not an email"),
        ({"name": "Kim", "email": "kim@example.com", "password": "short"}, "shorter than 12"),
        ({"name": "owner", "email": "kim@example.com"}, "already uses"),
        ({"name": "sam", "email": "kim@example.com"}, "with that name"),
        ({"name": "Kim", "email": "SAM@example.com"}, "with that email"),
    ],
)
def test_bad_owners_are_refused_with_the_command_lines_words(
    dash: Dash, form: dict[str, str], says: str
) -> None:
    add_sam(dash)
    assert log_in(dash) == 303
    password = form.pop("password", PASSWORD)
    r = add(dash, **form, login="password", password=password, again=password)
    assert r.status_code == 400 and says in r.text
    assert names(dash) == ["Sam"]


def test_every_owners_form_checks_its_csrf_token(dash: Dash) -> None:
    add_sam(dash)
    assert log_in(dash) == 303
    form = {"name": "Kim", "email": "kim@example.com", "login": "token", "csrf": "forged"}
    assert dash.post("/admin/owners/add", form).status_code == 403
    assert dash.post("/admin/owners/remove", {"name": "Sam", "csrf": ""}).status_code == 403
    assert names(dash) == ["Sam"]
    # and a visitor who is not logged in is sent to the login page
    dash.client.cookies.clear()
    assert dash.client.get("/admin/owners", follow_redirects=False).status_code == 303
