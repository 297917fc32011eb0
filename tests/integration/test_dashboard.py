"""The owner's dashboard, the signed action links and the tracked return link, over HTTP against
the embedded app (SQLite, the outbox mailer, a virtual clock)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.feedback import Feedback, MailFeedback
from cart_recovery.domain.model import CHECKED_OUT, Status
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.web.admin import safe_next
from tests.conftest import make_event
from tests.integration.test_links_name_nobody import decodings

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=NY)


class Dash:
    """The running app, a browser-like client and the shop's data."""

    def __init__(self, data_dir: Path, environ: dict[str, str] | None = None) -> None:
        init_data_dir(data_dir)
        self.settings = load_settings(data_dir, environ or {})
        self.clock = VirtualClock(START)
        self.rt: Embedded = embedded(self.settings, clock=self.clock, run_timers=False)
        self.client = TestClient(self.rt.app, base_url="http://testserver")

    def ingest(self, **over: Any) -> None:
        base: dict[str, Any] = {"occurred_at": self.clock.now(), "timezone": "America/New_York"}
        base.update(over)
        self.rt.service.ingest(make_event(**base), self.clock.now())

    def advance(self, to: datetime) -> None:
        self.clock.set(to)
        self.rt.loop.run_due(to)

    def csrf(self, path: str = "/admin/login") -> str:
        match = CSRF.search(self.client.get(path).text)
        assert match is not None
        return match.group(1)

    def login(self) -> None:
        r = self.client.post(
            "/admin/login",
            data={"csrf": self.csrf(), "token": self.settings.admin_token, "next": ""},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/"

    def post(self, path: str, data: dict[str, str], **kw: Any) -> Any:
        return self.client.post(path, data=data, follow_redirects=False, **kw)

    def cart(self, cart_id: str) -> Any:
        cart, _ = self.rt.store.load(cart_id)
        return cart

    def close(self) -> None:
        self.client.close()
        self.rt.close()


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    d = Dash(tmp_path / "data")
    # Given Maya's medium cart, reminded at noon, and Jo's small cart
    d.ingest(return_url="https://shop.example/cart/c1")
    d.ingest(cart_id="c2", event_id="c2", email="jo@example.com", name="Jo", return_url=None)
    d.advance(ny(12, 12))
    d.advance(ny(12, 12, 30))
    yield d
    d.close()


# ---- who gets in ------------------------------------------------------------------------------


def test_a_logged_out_visitor_is_sent_to_login_and_apis_answer_401(dash: Dash) -> None:
    r = dash.client.get("/admin/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/admin/login")
    r = dash.client.get("/admin/carts/c1", follow_redirects=False)
    assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Fcarts%2Fc1"
    for path in ("/admin/docs", "/admin/privacy", "/admin/search?q=maya", "/admin/email"):
        assert dash.client.get(path, follow_redirects=False).status_code == 303
    r = dash.client.get("/admin/api/carts")
    assert r.status_code == 401 and r.json()["error"] == "login_required"
    assert dash.client.get("/admin/api/carts/c1").status_code == 401
    # and a POST without a session does nothing
    r = dash.post("/admin/actions/suppress", {"cart": "c1", "csrf": "x"})
    assert r.status_code == 303 and dash.cart("c1").status is Status.OPEN


def test_login_with_the_admin_token_sets_a_safe_session_cookie(dash: Dash) -> None:
    r = dash.post(
        "/admin/login",
        {"csrf": dash.csrf(), "token": dash.settings.admin_token, "next": "/admin/docs"},
    )
    assert (r.status_code, r.headers["location"]) == (303, "/admin/docs")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/admin" in cookie
    assert "secure" not in cookie  # the service is on plain http here
    assert dash.settings.admin_token not in r.headers["set-cookie"]
    page = dash.client.get("/admin/")
    assert page.status_code == 200 and "Linen &amp; Light" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_the_session_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    d = Dash(tmp_path / "data", {"CART_RECOVERY_BASE_URL": "https://recover.shop.example"})
    try:
        r = d.post("/admin/login", {"csrf": d.csrf(), "token": d.settings.admin_token})
        assert "secure" in r.headers["set-cookie"].lower()
    finally:
        d.close()


def test_a_wrong_token_is_refused_without_saying_more(dash: Dash) -> None:
    r = dash.post("/admin/login", {"csrf": dash.csrf(), "token": "guess"})
    assert r.status_code == 401 and "That token doesn" in r.text
    assert dash.settings.admin_token not in r.text
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303


def test_login_without_the_forms_csrf_token_is_refused(dash: Dash) -> None:
    r = dash.post("/admin/login", {"token": dash.settings.admin_token})
    assert r.status_code == 403
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303


def test_repeated_wrong_tokens_lock_the_login_for_a_while(dash: Dash) -> None:
    # Given ten wrong tries
    for _ in range(10):
        dash.post("/admin/login", {"csrf": dash.csrf(), "token": "guess"})
    # Then even the right token waits
    r = dash.post("/admin/login", {"csrf": dash.csrf(), "token": dash.settings.admin_token})
    assert r.status_code == 429
    # until a quarter of an hour has passed
    dash.clock.set(dash.clock.now() + timedelta(minutes=15))
    dash.login()


def test_after_login_only_dashboard_paths_are_followed(dash: Dash) -> None:
    assert safe_next("/admin/carts/c1") == "/admin/carts/c1"
    for bad in ("https://evil.example/", "//evil.example/admin/", "/adminx", "/admin/\\x", ""):
        assert safe_next(bad) == ""
    r = dash.post(
        "/admin/login",
        {"csrf": dash.csrf(), "token": dash.settings.admin_token, "next": "https://evil.example"},
    )
    assert r.headers["location"] == "/admin/"


def test_logout_needs_the_csrf_token_and_ends_the_session(dash: Dash) -> None:
    dash.login()
    assert dash.post("/admin/logout", {"csrf": "forged"}).status_code == 403
    assert dash.client.get("/admin/").status_code == 200
    r = dash.post("/admin/logout", {"csrf": dash.csrf("/admin/")})
    assert r.headers["location"] == "/admin/login"
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303


def test_the_api_takes_the_admin_token_as_a_bearer(dash: Dash) -> None:
    token = dash.settings.admin_token
    r = dash.client.get("/admin/api/carts?q=maya", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert [c["cart_id"] for c in r.json()["carts"]] == ["c1"]
    r = dash.client.get("/admin/api/carts/c1", headers={"Authorization": f"Bearer {token}"})
    body = r.json()
    assert body["status"] == "open" and body["reminders_sent"] == 1
    assert body["sends"][0]["outcome"] == "sent"
    bad = dash.client.get("/admin/api/carts", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


# ---- the pages ------------------------------------------------------------------------------


def test_the_list_shows_todays_carts_with_status_size_and_reminders(dash: Dash) -> None:
    dash.login()
    page = dash.client.get("/admin/").text
    assert "Today, Tuesday 12 May" in page
    assert "maya@example.com" in page and "jo@example.com" in page
    assert "1st sent 12:00" in page and "medium" in page and "Open" in page
    month = dash.client.get("/admin/?view=month").text
    assert "May 2026" in month and "c2" in month


def test_search_finds_a_cart_by_email_or_id(dash: Dash) -> None:
    dash.login()
    found = dash.client.get("/admin/search?q=JO@EXAMPLE").text
    assert "/admin/carts/c2" in found and "/admin/carts/c1" not in found
    assert "/admin/carts/c1" in dash.client.get("/admin/search?q=c1").text
    assert "No cart matches" in dash.client.get("/admin/search?q=nobody").text


def test_a_carts_page_shows_its_timeline_emails_and_audit(dash: Dash) -> None:
    dash.login()
    page = dash.client.get("/admin/carts/c1").text
    assert "Cart started" in page and "1st reminder sent" in page
    assert "Next: 2nd reminder" in page
    assert "As written to the outbox folder." in page  # the .eml copy is read back
    assert "Linen shirt" in page and "created" in page
    html = dash.client.get("/admin/email?cart=c1&step=1")
    assert html.status_code == 200 and "Linen shirt" in html.text
    assert "sandbox" in html.headers["content-security-policy"]
    missing = dash.client.get("/admin/carts/nope")
    assert missing.status_code == 404 and "No such cart" in missing.text


def test_without_an_outbox_copy_the_email_is_recomposed_and_says_so(dash: Dash) -> None:
    dash.login()
    for eml in dash.settings.outbox.glob("*.eml"):
        eml.unlink()
    page = dash.client.get("/admin/carts/c1").text
    assert "Re-composed from this cart and the current voice doc" in page


def test_the_docs_page_shows_what_the_rules_mean_and_a_preview(dash: Dash) -> None:
    dash.login()
    page = dash.client.get("/admin/docs?at=19:30").text
    assert "reads fine" in page and "small (under $40)" in page
    assert "due 23:30, after quiet hours" in page  # a small cart left at 19:30
    # When the owner saves a rules doc with a bad line
    dash.settings.rules_file.write_text("Small carts: soon.\n", encoding="utf-8")
    dash.rt.docs.rules()
    page = dash.client.get("/admin/docs").text
    # Then the page names the problem and says the last good version keeps serving
    assert "line 1" in page and "keeps using the last version that did" in page


def test_suppress_from_the_dashboard_is_confirmed_then_done_and_audited(dash: Dash) -> None:
    dash.login()
    # When the owner opens the confirmation, nothing changes yet
    confirm = dash.client.get("/admin/confirm/suppress?cart=c1")
    assert "Suppress cart c1?" in confirm.text and dash.cart("c1").status is Status.OPEN
    # When they press the button
    csrf = CSRF.search(confirm.text)
    assert csrf is not None
    r = dash.post("/admin/actions/suppress", {"csrf": csrf.group(1), "cart": "c1"})
    # Then the cart is closed, and its page says so with the audit row
    assert r.headers["location"] == "/admin/carts/c1"
    assert dash.cart("c1").close_reason == "suppressed"
    page = dash.client.get("/admin/carts/c1").text
    assert "Cart c1 is suppressed" in page and "Closed · suppressed" in page
    assert re.search(
        r"<td class=\"l-who\">owner</td>\s*<td class=\"l-what\"><strong>suppressed", page
    )
    assert "status: open → closed" in page
    row = dash.rt.store.audit("c1")[-1]
    assert (row.by, row.action, row.detail) == ("owner", "suppressed", "dashboard")


def test_acting_again_is_refused_with_a_clear_message(dash: Dash) -> None:
    dash.login()
    csrf = dash.csrf("/admin/")
    dash.post("/admin/actions/suppress", {"csrf": csrf, "cart": "c1"})
    r = dash.post("/admin/actions/write_off", {"csrf": csrf, "cart": "c1"})
    assert r.headers["location"] == "/admin/carts/c1"
    page = dash.client.get("/admin/carts/c1").text
    assert "c1 is closed (suppressed) already: nothing to write off" in page
    assert dash.cart("c1").close_reason == "suppressed"


def test_a_post_without_the_sessions_csrf_token_changes_nothing(dash: Dash) -> None:
    dash.login()
    audit = dash.rt.store.audit("c1")
    for data in ({"cart": "c1"}, {"cart": "c1", "csrf": "forged-token-0123456789abcdefghij"}):
        r = dash.post("/admin/actions/suppress", data)
        assert r.status_code == 403 and "Nothing was changed" in r.text
    r = dash.post("/admin/actions/forget", {"email": "maya@example.com", "csrf": ""})
    assert r.status_code == 403
    assert dash.post("/admin/privacy/export", {"email": "maya@example.com"}).status_code == 403
    assert dash.cart("c1").status is Status.OPEN and dash.rt.store.audit("c1") == audit
    assert dash.cart("c1").email == "maya@example.com"


def test_a_form_from_another_session_is_refused(dash: Dash) -> None:
    dash.login()
    other = TestClient(dash.rt.app, base_url="http://testserver")
    match = CSRF.search(other.get("/admin/login").text)
    assert match is not None
    r = dash.post("/admin/actions/suppress", {"csrf": match.group(1), "cart": "c1"})
    assert r.status_code == 403 and dash.cart("c1").status is Status.OPEN
    other.close()


def test_unsubscribe_and_write_off_from_the_dashboard(dash: Dash) -> None:
    dash.login()
    csrf = dash.csrf("/admin/")
    r = dash.post("/admin/actions/unsubscribe", {"csrf": csrf, "email": "JO@example.com"})
    assert r.headers["location"] == "/admin/privacy"
    assert dash.rt.store.is_unsubscribed("jo@example.com")
    dash.post("/admin/actions/write_off", {"csrf": csrf, "cart": "c2"})
    assert dash.cart("c2").close_reason == "written_off"
    r = dash.post("/admin/actions/unsubscribe", {"csrf": csrf, "email": "not an address"})
    assert "is not an email address" in dash.client.get(r.headers["location"]).text


def test_export_and_forget_from_the_privacy_page(dash: Dash) -> None:
    dash.login()
    csrf = dash.csrf("/admin/privacy")
    r = dash.post("/admin/privacy/export", {"csrf": csrf, "email": "maya@example.com"})
    assert r.headers["content-disposition"] == 'attachment; filename="shopper-data.json"'
    assert [c["cart_id"] for c in r.json()["carts"]] == ["c1"]
    confirm = dash.client.get("/admin/confirm/forget?email=maya@example.com").text
    assert "Forget maya@example.com?" in confirm and "from 1 cart " in confirm
    r = dash.post("/admin/actions/forget", {"csrf": csrf, "email": "maya@example.com"})
    assert "personal data erased from 1 cart" in dash.client.get(r.headers["location"]).text
    assert dash.cart("c1").email is None and dash.rt.store.is_unsubscribed("maya@example.com")
    # her reminder's copy is gone from the outbox; Jo's stays
    [kept] = dash.settings.outbox.glob("*.eml")
    assert b"jo@example.com" in kept.read_bytes()
    assert "maya@example.com" not in dash.client.get("/admin/carts/c1").text


def test_the_privacy_page_lists_who_gets_no_reminders_and_why(dash: Dash) -> None:
    dash.login()
    assert "Nobody yet." in dash.client.get("/admin/privacy").text
    # Given Maya's address bounced for good and Jo reported a reminder as spam
    bounce = MailFeedback(Feedback.HARD_BOUNCE, "maya@example.com", "postmark", "550 no mailbox")
    dash.rt.service.mail_feedback(bounce, ny(12, 13))
    complaint = MailFeedback(Feedback.COMPLAINT, "jo@example.com", "ses", "abuse")
    dash.rt.service.mail_feedback(complaint, ny(12, 14))
    # When the owner opens the privacy page
    page = dash.client.get("/admin/privacy").text
    # Then both are listed, newest first, with the reason and the cart
    rows = re.findall(r'<tr class="source-(\w+)">(.*?)</tr>', page, re.S)
    assert [source for source, _ in rows] == ["complaint", "bounce"]
    jo, maya = (row for _, row in rows)
    assert "Spam complaint" in jo and "jo@example.com" in jo and "cart c2" in jo
    assert "Bounced" in maya and "maya@example.com" in maya
    assert "postmark hard_bounce: 550 no mailbox" in maya
    assert "you cannot re-add anyone" in page
    # and each cart page says why its address gets no reminders
    assert "no reminders: spam complaint" in dash.client.get("/admin/carts/c2").text
    assert "no reminders: bounced" in dash.client.get("/admin/carts/c1").text
    # And once Maya is forgotten her row stays, naming nobody
    dash.rt.service.forget("maya@example.com", ny(12, 15))
    page = dash.client.get("/admin/privacy").text
    assert "maya@example.com" not in page and "not kept" in page


# ---- the signed action links ----------------------------------------------------------------


def test_an_action_link_shows_a_confirmation_and_acts_only_on_post(dash: Dash) -> None:
    url = dash.rt.service.links.action_url("suppress", "c1")
    path = url.removeprefix(dash.settings.base_url)
    # When a mail scanner (or the owner) opens it, nothing changes
    page = dash.client.get(path)
    assert page.status_code == 200 and "Suppress cart c1?" in page.text
    assert dash.cart("c1").status is Status.OPEN
    # When the owner presses the button, the cart is suppressed as the owner's action
    done = dash.client.post(path)
    assert done.status_code == 200 and "Cart c1 is suppressed" in done.text
    row = dash.rt.store.audit("c1")[-1]
    assert (row.by, row.action, row.detail) == ("owner", "suppressed", "action link")
    # and the link is harmless afterwards
    again = dash.client.post(path)
    assert again.status_code == 409 and "already" in again.text
    assert dash.client.get(path).status_code == 409


def test_write_off_and_unsubscribe_links(dash: Dash) -> None:
    links = dash.rt.service.links
    base = dash.settings.base_url
    dash.client.post(links.action_url("write_off", "c2").removeprefix(base))
    assert dash.cart("c2").close_reason == "written_off"
    dash.client.post(links.action_url("unsubscribe", "maya@example.com").removeprefix(base))
    assert dash.rt.store.is_unsubscribed("maya@example.com")
    row = [a for a in dash.rt.store.audit("c1") if a.action == "unsubscribed"][-1]
    assert row.by == "owner"


def test_the_export_unsubscribe_link_names_the_cart_and_unsubscribes_its_address(
    dash: Dash,
) -> None:
    url = dash.rt.service.links.action_url("unsubscribe_cart", "c2")
    # The link carries no address in any encoding
    assert not any("jo@example.com" in reading for reading in decodings(url))
    path = url.removeprefix(dash.settings.base_url)
    # When the owner opens it: the address is shown on the page, nothing is done yet
    page = dash.client.get(path)
    assert page.status_code == 200 and "Unsubscribe jo@example.com?" in page.text
    assert not dash.rt.store.is_unsubscribed("jo@example.com")
    # When the owner presses the button
    done = dash.client.post(path)
    assert done.status_code == 200 and "jo@example.com is unsubscribed." in done.text
    assert dash.rt.store.suppression("jo@example.com").source == "owner"  # type: ignore[union-attr]
    # And after Jo is forgotten the link has nothing left to act on
    dash.rt.service.forget("jo@example.com", ny(12, 14))
    stale = dash.client.get(path)
    assert stale.status_code == 409 and "keeps no address" in stale.text


def test_forged_and_altered_action_links_are_refused(dash: Dash) -> None:
    url = dash.rt.service.links.action_url("suppress", "c1")
    token = url.rsplit("/", 1)[1]
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    _payload, rest = token.split(".", 1)
    other = dash.rt.service.links.action_url("suppress", "c2").rsplit("/", 1)[1]
    swapped = other.split(".", 1)[0] + "." + rest  # c2's payload under c1's signature
    for bad in ("forged", altered, swapped, "a" * 40):
        for method in ("GET", "POST"):
            r = dash.client.request(method, f"/a/{bad}")
            assert r.status_code == 404 and "This link doesn't work" in r.text
    assert dash.cart("c1").status is Status.OPEN and dash.cart("c2").status is Status.OPEN


def test_an_expired_action_link_is_refused(dash: Dash) -> None:
    path = dash.rt.service.links.action_url("suppress", "c1").removeprefix(dash.settings.base_url)
    # When the link is used more than 14 days after it was made
    dash.clock.set(max(dash.clock.now(), datetime.now(UTC)) + timedelta(days=14, minutes=1))
    for method in ("GET", "POST"):
        r = dash.client.request(method, path)
        assert r.status_code == 403 and "This link has expired" in r.text
    assert dash.cart("c1").status is Status.OPEN


def test_an_action_link_for_a_bought_cart_does_nothing(dash: Dash) -> None:
    dash.ingest(event_id="paid", type=CHECKED_OUT)
    path = dash.rt.service.links.action_url("suppress", "c1").removeprefix(dash.settings.base_url)
    assert "Cart c1 is bought already" in dash.client.get(path).text
    r = dash.client.post(path)
    assert r.status_code == 409 and "c1 is bought already" in r.text
    assert dash.cart("c1").status is Status.BOUGHT


# ---- the tracked return link ------------------------------------------------------------------


def return_path(dash: Dash, cart_id: str, step: int) -> str:
    url = dash.rt.service.links.for_step(cart_id, step, "maya@example.com").return_url
    return url.removeprefix(dash.settings.base_url)


def test_the_return_link_records_the_click_and_goes_to_the_stored_url(dash: Dash) -> None:
    path = return_path(dash, "c1", 1)
    dash.clock.set(ny(12, 13))
    r = dash.client.get(path + "?next=https://evil.example/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "https://shop.example/cart/c1")
    assert dash.rt.store.clicks_for(["c1"]) == {"c1": [(1, ny(12, 13))]}
    # a link checker's HEAD is not a click
    dash.client.head(path, follow_redirects=False)
    assert len(dash.rt.store.clicks_for(["c1"])["c1"]) == 1
    # and the click shows on the cart's page
    dash.login()
    assert "Clicked the link" in dash.client.get("/admin/carts/c1").text


def test_a_forged_return_link_records_nothing(dash: Dash) -> None:
    path = return_path(dash, "c1", 1)
    r = dash.client.get(path[:-3] + "xyz", follow_redirects=False)
    assert r.status_code == 404 and dash.rt.store.clicks_for(["c1"]) == {}
    # a cart without a return URL records the click but redirects nowhere
    r = dash.client.get(return_path(dash, "c2", 1), follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers


def test_without_an_admin_token_the_dashboard_stays_off(tmp_path: Path) -> None:
    # Given a config whose admin_token is empty
    data = tmp_path / "data"
    init_data_dir(data)
    config = data / "config.toml"
    text = re.sub(r'admin_token = "[^"]*"', 'admin_token = ""', config.read_text())
    config.write_text(text, encoding="utf-8")
    d = Dash(data)
    try:
        # Then the login page says so, and no token (not even an empty one) gets in
        assert "The dashboard is off" in d.client.get("/admin/login").text
        assert d.post("/admin/login", {"token": ""}).status_code == 403
        assert d.client.get("/admin/", follow_redirects=False).status_code == 303
        assert (
            d.client.get("/admin/api/carts", headers={"Authorization": "Bearer "}).status_code
            == 401
        )
    finally:
        d.close()


def test_the_dashboard_root_without_a_slash_leads_to_it(dash: Dash) -> None:
    r = dash.client.get("/admin", follow_redirects=False)
    assert r.status_code in (307, 308) and r.headers["location"].endswith("/admin/")
