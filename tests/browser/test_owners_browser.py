"""Two named owners in real headless Chromium (a browser context each), against the embedded
service on 127.0.0.1: each logs in by email and password and sees their own name; what Sam
does, the history names Sam; removing an owner, or logging out everywhere, ends a session on
its next request."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cart_recovery.cli import main
from cart_recovery.domain.model import Status
from cart_recovery.service.owners import OwnerLogins
from tests.browser.conftest import shot
from tests.browser.test_dashboard_browser import Shop

pytestmark = pytest.mark.browser

OWNERS = {"Sam": "sam@shop.example", "Alex": "alex@shop.example"}
PASSWORDS = {"Sam": "sam's long passphrase", "Alex": "alex's long passphrase"}


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = Shop(tmp_path / "data")
    s.seed()
    logins = OwnerLogins(s.rt.store)
    for name, email in OWNERS.items():
        logins.add_with_password(name, email, PASSWORDS[name], s.clock.now())
    s.start()
    yield s
    s.close()


def log_in(context: Any, shop: Shop, name: str) -> Any:
    page = context.new_page()
    page.goto(f"{shop.base}/admin/")
    page.fill("#email", OWNERS[name])
    page.fill("#password", PASSWORDS[name])
    page.click("#password-login button:has-text('Log in')")
    page.wait_for_url(f"{shop.base}/admin/")
    return page


def test_two_owners_log_in_and_the_history_names_who_acted(shop: Shop, chromium: Any) -> None:
    sams = chromium.new_context(viewport={"width": 1280, "height": 900})
    alexs = chromium.new_context(viewport={"width": 1280, "height": 900})

    # Given the admin token no longer logs in, and says how to log in now
    page = sams.new_page()
    page.goto(f"{shop.base}/admin/login")
    page.click("summary:has-text('personal token')")
    page.fill("#token", shop.settings.admin_token)
    page.click("button:has-text('Log in with the token')")
    assert "Log in with your email and password" in page.inner_text("main")
    shot(page, "owners-login")

    # When Sam and Alex log in, each in their own browser
    sam = log_in(sams, shop, "Sam")
    alex = log_in(alexs, shop, "Alex")
    # Then each sees their own name in the top bar
    assert sam.locator(".top .who-in").inner_text() == "Sam"
    assert alex.locator(".top .who-in").inner_text() == "Alex"

    # When Sam writes off a cart
    sam.goto(f"{shop.base}/admin/carts/A-1044")
    sam.click("a:has-text('Write it off')")
    sam.click("button:has-text('Write off cart')")
    sam.wait_for_url(f"{shop.base}/admin/carts/A-1044")
    assert "Cart A-1044 is written off" in sam.inner_text(".flash")
    shot(sam, "owners-written-off")

    # Then the history on the cart page, as Alex sees it too, and the store name Sam
    alex.goto(f"{shop.base}/admin/carts/A-1044")
    row = alex.locator("#audit tr.audit-row").last
    assert row.locator(".l-who").inner_text() == "Sam"
    assert row.locator(".l-what").inner_text().startswith("written off")
    cart, _ = shop.rt.store.load("A-1044")
    assert cart is not None and cart.status is Status.CLOSED
    assert shop.rt.store.audit("A-1044")[-1].by == "Sam"
    # and so does the export, downloaded from the dashboard, whose action links are Sam's
    download = sam.request.get(f"{shop.base}/admin/exports/carts.csv")
    assert download.status == 200
    rows = list(csv.DictReader(io.StringIO(download.text())))
    [written_off] = [r for r in rows if r["Cart"] == "A-1044"]
    day = shop.clock.now().date().isoformat()
    assert written_off["Status"] == f"closed (written_off by Sam on {day})"
    link = next(r["Unsubscribe"] for r in rows if r["Unsubscribe"])
    assert shop.rt.tokens.read_owner_action(link.rsplit("/", 1)[1])[2] == "Sam"

    # When Alex is removed on the command line, Alex's next request goes to the login page
    result = CliRunner().invoke(
        main,
        ["owner", "remove", "Alex", "--data-dir", str(shop.settings.data_dir)],
        env={"CART_RECOVERY_DATA_DIR": ""},
    )
    assert result.exit_code == 0, result.output
    alex.goto(f"{shop.base}/admin/carts/A-1045")
    assert alex.url.startswith(f"{shop.base}/admin/login")

    # When Sam, on a second device, logs out everywhere, the first one is logged out too
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    sam_phone = log_in(phone, shop, "Sam")
    sam_phone.click("button:has-text('Log out everywhere')")
    sam_phone.wait_for_url(f"{shop.base}/admin/login")
    assert "logged out everywhere" in sam_phone.inner_text(".flash")
    sam.goto(f"{shop.base}/admin/")
    assert sam.url == f"{shop.base}/admin/login"
    for context in (sams, alexs, phone):
        context.close()


def test_the_lockout_holds_across_a_restart_on_the_same_data_folder(
    tmp_path: Path, chromium: Any
) -> None:
    # Given ten wrong passwords for Sam
    first = Shop(tmp_path / "data")
    OwnerLogins(first.rt.store).add_with_password(
        "Sam", OWNERS["Sam"], PASSWORDS["Sam"], first.clock.now()
    )
    first.start()
    context = chromium.new_context()
    page = context.new_page()
    for _ in range(10):
        page.goto(f"{first.base}/admin/login")
        page.fill("#email", OWNERS["Sam"])
        page.fill("#password", "a wrong guess, again")
        page.click("#password-login button:has-text('Log in')")
        assert "don't match" in page.inner_text("main")
    first.close()
    context.close()

    # When the service starts again on the same data folder (a new app, a new process's state)
    again = Shop(tmp_path / "data")
    again.clock.set(first.clock.now())
    again.start()
    try:
        context = chromium.new_context()
        page = context.new_page()
        page.goto(f"{again.base}/admin/login")
        page.fill("#email", OWNERS["Sam"])
        page.fill("#password", PASSWORDS["Sam"])
        page.click("#password-login button:has-text('Log in')")
        # Then even the right password waits
        assert "Too many tries" in page.inner_text("main")
        context.close()
    finally:
        again.close()


def test_the_owners_page_at_phone_width(shop: Shop, chromium: Any) -> None:
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = log_in(phone, shop, "Sam")
    # Given the Owners page on a phone: both owners, Sam marked, nothing wider than the screen
    page.click(".top nav a:has-text('Owners')")
    page.wait_for_url(f"{shop.base}/admin/owners")
    rows = page.locator("table.people tbody tr")
    assert rows.count() == 2
    assert "you, logged in" in rows.filter(has_text="Sam").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "owners-phone")
    # When Sam adds Kim with a personal token
    page.fill("#owner-name", "Kim")
    page.fill("#owner-email", "kim@shop.example")
    page.check("input[name=login][value=token]")
    page.click("button:has-text('Add owner')")
    # Then the token is shown once, readable on the phone
    token = page.inner_text("#new-token")
    assert len(token) >= 43 and page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "owners-token-once-phone")
    # and the list, back again, has Kim and no token
    page.click("a:has-text('Back to the owners')")
    assert "kim@shop.example" in page.inner_text("main") and token not in page.content()
    # When Sam removes Kim after the confirmation, Kim is gone
    page.locator("table.people tr", has_text="Kim").locator("a:has-text('Remove')").click()
    page.click("button:has-text('Remove Kim')")
    page.wait_for_url(f"{shop.base}/admin/owners")
    assert "Kim is removed" in page.inner_text(".flash")
    assert [a.name for a in shop.rt.store.owners()] == ["Alex", "Sam"]
    phone.close()
