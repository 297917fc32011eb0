"""Named owners on the embedded runtime: added, listed and removed from the command line, logged
in to the dashboard by email and password or personal token, named in the history of what they
do (dashboard, command line, action links), their sessions revocable and the lockout kept in
the data folder's store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from cart_recovery.cli import main
from cart_recovery.domain.model import Status
from cart_recovery.service.owners import OwnerLogins
from tests.integration.test_dashboard import Dash, ny

PASSWORD = "correct horse battery"
SAM = ("Sam", "sam@example.com")


def cli(
    data: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [*args, "--data-dir", str(data)],
        input=stdin,
        env={"CART_RECOVERY_DATA_DIR": "", "CART_RECOVERY_OWNER": "", **(env or {})},
    )
    return result.exit_code, result.output


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    d = Dash(tmp_path / "data")
    d.ingest(return_url="https://shop.example/cart/c1")
    d.ingest(cart_id="c2", event_id="c2", email="jo@example.com", name="Jo", return_url=None)
    d.advance(ny(12, 12))
    yield d
    d.close()


def add_sam(d: Dash) -> None:
    OwnerLogins(d.rt.store).add_with_password(*SAM, PASSWORD, d.clock.now())


def log_in(d: Dash, email: str = SAM[1], password: str = PASSWORD) -> int:
    r = d.post("/admin/login", {"csrf": d.csrf(), "email": email, "password": password})
    return int(r.status_code)


def second_browser(d: Dash) -> Dash:
    """Another browser on the same running app (its own cookies)."""
    other = Dash.__new__(Dash)
    other.settings, other.clock, other.rt = d.settings, d.clock, d.rt
    other.client = TestClient(d.rt.app, base_url="http://testserver")
    return other


# ---- the command line -------------------------------------------------------------------------


def test_owners_are_added_listed_and_removed_from_the_command_line(dash: Dash) -> None:
    data = dash.settings.data_dir
    # When Sam is added with a password typed twice, and Alex with a personal token
    code, out = cli(data, "owner", "add", "Sam", "Sam@Example.com", stdin=f"{PASSWORD}\n" * 2)
    assert code == 0 and "Sam <sam@example.com> is an owner now." in out
    assert PASSWORD not in out
    code, out = cli(data, "owner", "add", "Alex", "alex@example.com", "--token")
    assert code == 0
    token = out.split("shown this once; it is kept only as a hash):\n")[1].split("\n")[0]
    assert len(token) >= 43
    # Then the list shows both, and no hash and no token
    code, out = cli(data, "owner", "list")
    assert code == 0 and "Alex" in out and "sam@example.com" in out and "never" in out
    assert token not in out and "argon2" not in out
    # And Alex's token logs in, as Alex
    r = dash.post("/admin/login", {"csrf": dash.csrf(), "token": token})
    assert r.status_code == 303
    assert ">Alex</span>" in dash.client.get("/admin/").text
    # When Alex is removed, the session ends on its next request
    code, out = cli(data, "owner", "remove", "alex")
    assert code == 0 and "Alex is removed" in out
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("owner", "add", "Kim", "not-an-address"), f"{PASSWORD}\n" * 2, "is not an email"),
        (("owner", "add", "Kim", "kim@example.com"), "short\nshort\n", "shorter than 12"),
        (("owner", "add", "owner", "kim@example.com"), f"{PASSWORD}\n" * 2, "already uses"),
        (("owner", "add", "sam", "kim@example.com"), f"{PASSWORD}\n" * 2, "with that name"),
        (("owner", "add", "Kim", "SAM@example.com"), f"{PASSWORD}\n" * 2, "with that email"),
        (("owner", "remove", "Kim"), "", "no owner is named 'Kim'"),
    ],
)
def test_bad_owners_are_refused_with_what_was_wrong(
    dash: Dash, args: tuple[str, ...], stdin: str, says: str
) -> None:
    add_sam(dash)
    code, out = cli(dash.settings.data_dir, *args, stdin=stdin)
    assert code != 0 and says in out
    assert [a.name for a in dash.rt.store.owners()] == ["Sam"]


def test_a_mistyped_confirmation_adds_nobody(dash: Dash) -> None:
    stdin = f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n"
    code, out = cli(dash.settings.data_dir, "owner", "add", "Sam", "sam@example.com", stdin=stdin)
    assert "do not match" in out and code == 0  # asked again; the second pair matched


def test_commands_name_the_acting_owner_once_owners_are_named(dash: Dash) -> None:
    data = dash.settings.data_dir
    add_sam(dash)
    # Without --owner the command says what is missing, and does nothing
    code, out = cli(data, "suppress", "c1")
    assert code != 0 and "--owner NAME" in out
    assert dash.cart("c1").status is Status.OPEN
    code, out = cli(data, "suppress", "c1", "--owner", "Kim")
    assert code != 0 and "no owner is named 'Kim'" in out
    # With it (or the environment variable) the history names them
    assert cli(data, "suppress", "c1", "--owner", "sam")[0] == 0
    assert dash.rt.store.audit("c1")[-1].by == "Sam"
    assert cli(data, "write-off", "c2", env={"CART_RECOVERY_OWNER": "Sam"})[0] == 0
    assert dash.rt.store.audit("c2")[-1].by == "Sam"


# ---- the dashboard ----------------------------------------------------------------------------


def test_once_owners_are_named_the_admin_token_is_refused_and_says_why(dash: Dash) -> None:
    # Given a session of the unnamed owner from before
    dash.login()
    add_sam(dash)
    # Then it ends, and the admin token no longer logs in
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303
    r = dash.post("/admin/login", {"csrf": dash.csrf(), "token": dash.settings.admin_token})
    assert r.status_code == 401 and "Log in with your email and password" in r.text
    auth = {"Authorization": f"Bearer {dash.settings.admin_token}"}
    assert dash.client.get("/admin/api/carts", headers=auth).status_code == 401
    # And the login page asks for an email
    assert 'name="email"' in dash.client.get("/admin/login").text


def test_an_owner_logs_in_by_email_and_their_actions_carry_their_name(dash: Dash) -> None:
    add_sam(dash)
    assert log_in(dash, "sam@example.com", "wrong password!") == 401
    assert log_in(dash, "SAM@example.com") == 303
    page = dash.client.get("/admin/").text
    assert ">Sam</span>" in page and "Log out everywhere" in page
    dash.post("/admin/actions/write_off", {"csrf": dash.csrf("/admin/"), "cart": "c1"})
    assert dash.cart("c1").status is Status.CLOSED
    assert dash.rt.store.audit("c1")[-1].by == "Sam"
    assert "Sam" in dash.client.get("/admin/carts/c1").text
    found = dash.rt.store.owner_named("Sam")
    assert found is not None and found.last_login == dash.clock.now()


def test_logging_out_everywhere_ends_every_session_of_that_owner(dash: Dash) -> None:
    # Given Sam logged in on two browsers
    add_sam(dash)
    assert log_in(dash) == 303
    other = second_browser(dash)
    assert log_in(other) == 303
    # When one of them logs out everywhere, the other's next request is refused too
    r = dash.post("/admin/logout-everywhere", {"csrf": dash.csrf("/admin/")})
    assert r.headers["location"] == "/admin/login"
    assert other.client.get("/admin/", follow_redirects=False).status_code == 303
    assert dash.client.get("/admin/", follow_redirects=False).status_code == 303
    other.client.close()


def test_the_lockout_is_kept_in_the_store_across_a_restart(dash: Dash) -> None:
    add_sam(dash)
    for _ in range(10):
        assert log_in(dash, password="not the password") == 401
    assert log_in(dash) == 429
    # When the service restarts on the same data folder
    data, clock = dash.settings.data_dir, dash.clock
    dash.client.close()
    dash.rt.close()
    again = Dash(data)
    again.clock.set(clock.now())
    try:
        # Then the lockout still holds, for this address and for the account
        assert log_in(again) == 429
        # until a quarter of an hour has passed
        again.clock.set(clock.now() + timedelta(minutes=15))
        assert log_in(again) == 303
    finally:
        again.close()


def test_an_action_link_minted_for_an_owner_is_audited_with_their_name(dash: Dash) -> None:
    add_sam(dash)
    links = dash.rt.service.links
    base = dash.settings.base_url
    named = links.action_url("suppress", "c1", "Sam").removeprefix(base)
    unnamed = links.action_url("write_off", "c2").removeprefix(base)
    assert dash.client.post(named).status_code == 200
    assert dash.client.post(unnamed).status_code == 200
    assert dash.rt.store.audit("c1")[-1].by == "Sam"
    assert dash.rt.store.audit("c2")[-1].by == "owner"
    assert re.search(r"/a/[A-Za-z0-9_.-]+$", named)
