"""Editing the rules and the voice from the dashboard, over HTTP against the embedded app:
Check (nothing saved), Save (refused with problems, refused when stale, or a new version),
the history with its diffs, Restore, and the CSRF check of each form."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cart_recovery.adapters.memory import MemoryAccounts
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from cart_recovery.web.admin import AdminParts, routes
from cart_recovery.web.context import OwnerAccess
from tests.integration.test_dashboard import CSRF, Dash, ny

BAD = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: whenever.")
SLOW = DEFAULT_RULES_TEXT.replace(
    "Small carts (under $40): remind after 4 hours", "Small carts (under $40): remind after 6 hours"
)
QUIET = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: 10pm to 8am.")
BASE = re.compile(r'name="base" value="([^"]*)"')


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[Dash]:
    d = Dash(tmp_path / "data")
    d.login()
    yield d
    d.close()


def form(dash: Dash, doc: str = "rules") -> dict[str, str]:
    """The editor's hidden fields as the docs page serves them."""
    page = dash.client.get("/admin/docs").text
    csrf = CSRF.search(page)
    bases = BASE.findall(page)
    assert csrf is not None and len(bases) == 2
    return {"csrf": csrf.group(1), "base": bases[0 if doc == "rules" else 1], "at": "19:30"}


def versions(dash: Dash, doc: str = "rules") -> list[str]:
    return [h.version.text for h in dash.rt.service.doc_history(doc)]


def textarea(page: str, doc: str) -> str:
    found = re.search(rf'<textarea id="text-{doc}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None
    return html.unescape(found.group(1))


def test_the_docs_page_has_an_editor_per_doc_at_its_version(dash: Dash) -> None:
    page = dash.client.get("/admin/docs").text
    assert textarea(page, "rules") == DEFAULT_RULES_TEXT
    assert textarea(page, "voice") == DEFAULT_VOICE_TEXT
    current = dash.rt.service.doc_history("rules")[0].version.version
    assert form(dash)["base"] == current
    assert "Edit the files" not in page


def test_check_names_a_bad_line_by_its_number_and_saves_nothing(dash: Dash) -> None:
    r = dash.post("/admin/docs/rules/check", {**form(dash), "text": BAD})
    assert r.status_code == 200
    assert "line 4: " in r.text and "whenever" in r.text
    assert "Nothing is saved while a problem remains" in r.text
    assert textarea(r.text, "rules") == BAD
    assert versions(dash) == [DEFAULT_RULES_TEXT]
    assert dash.settings.rules_file.read_text(encoding="utf-8") == DEFAULT_RULES_TEXT


def test_check_shows_the_meaning_and_the_preview_from_the_edited_text(dash: Dash) -> None:
    before = dash.client.get("/admin/docs?at=13:00").text
    assert "Tue 12 May, 17:00" in before  # a small cart left at 13:00, reminded 4 hours later
    r = dash.post("/admin/docs/rules/check", {**form(dash), "at": "13:00", "text": SLOW})
    assert "What your text means" in r.text and "under your edited rules (not saved)" in r.text
    assert "Tue 12 May, 19:00" in r.text  # now 6 hours later
    # and a voice edit changes the sample emails
    voice = DEFAULT_VOICE_TEXT.replace("Your cart is still here,", "Your basket waits,")
    r = dash.post("/admin/docs/voice/check", {**form(dash, "voice"), "text": voice})
    assert "your edited voice (not saved)" in r.text and "<b>Your basket waits, Maya</b>" in r.text
    assert versions(dash) == [DEFAULT_RULES_TEXT]


def test_a_save_with_a_problem_is_refused_and_the_text_kept(dash: Dash) -> None:
    r = dash.post("/admin/docs/rules/save", {**form(dash), "text": BAD, "note": "try"})
    assert r.status_code == 422
    assert "Not saved: fix the lines named below first" in r.text and "line 4: " in r.text
    assert textarea(r.text, "rules") == BAD
    assert versions(dash) == [DEFAULT_RULES_TEXT]


def test_a_stale_save_is_refused_with_the_text_kept_and_the_current_version(dash: Dash) -> None:
    # Given the owner opened the rules, and someone else saved a version meanwhile
    mine = form(dash)
    other = dash.rt.service.save_doc(
        "rules", QUIET, base=mine["base"], by="Ann", now=ny(12, 11), note="later quiet"
    )
    # When the owner saves from the version they opened
    r = dash.post("/admin/docs/rules/save", {**mine, "text": SLOW})
    # Then it is refused with a clear message; their text stays in the editor
    assert r.status_code == 409
    assert "rules changed since you opened it" in r.text and "by Ann" in r.text
    assert textarea(r.text, "rules") == SLOW
    assert f"Version {other.version}, saved meanwhile by Ann" in r.text
    assert html.escape(QUIET) in r.text
    assert versions(dash) == [QUIET, DEFAULT_RULES_TEXT]
    # and saving again, now on top of Ann's version, keeps their work
    assert BASE.findall(r.text)[0] == other.version
    again = dash.post("/admin/docs/rules/save", {**mine, "base": other.version, "text": SLOW})
    assert again.status_code == 303
    assert versions(dash) == [SLOW, QUIET, DEFAULT_RULES_TEXT]


def test_a_save_makes_a_new_version_listed_in_the_history_with_its_diff(dash: Dash) -> None:
    r = dash.post("/admin/docs/rules/save", {**form(dash), "text": SLOW, "note": "slower small"})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/docs#rules")
    page = dash.client.get("/admin/docs").text
    saved = dash.rt.service.doc_history("rules")[0].version
    assert f"Rules saved as version {saved.version}" in page
    assert textarea(page, "rules") == SLOW and form(dash)["base"] == saved.version
    assert dash.settings.rules_file.read_text(encoding="utf-8") == SLOW
    assert (saved.by, saved.note, saved.source) == ("owner", "slower small", "dashboard")
    history = dash.client.get("/admin/docs/rules/history").text
    assert history.count('class="card stack version"') == 2
    assert history.index(f"Version {saved.version}") < history.index("first version")
    assert "slower small" in history and "+1 \u22121 lines" in history
    assert "-Small carts (under $40): remind after 4 hours" in history
    assert "+Small carts (under $40): remind after 6 hours" in history
    assert "Restore this version" in history
    audit = dash.rt.store.audit("doc:rules")
    assert audit[-1].by == "owner" and "rules changed by owner" in (audit[-1].detail or "")


def test_restore_saves_the_old_text_as_a_new_version(dash: Dash) -> None:
    dash.post("/admin/docs/rules/save", {**form(dash), "text": SLOW})
    first = dash.rt.service.doc_history("rules")[-1].version
    token = form(dash)["csrf"]
    r = dash.post("/admin/docs/rules/restore", {"csrf": token, "version": first.version})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/docs/rules/history")
    assert versions(dash) == [DEFAULT_RULES_TEXT, SLOW, DEFAULT_RULES_TEXT]
    page = dash.client.get("/admin/docs/rules/history").text
    assert f"version {first.version} restored as version" in page
    assert "restore" in page and f"restored version {first.version}" in page
    assert dash.settings.rules_file.read_text(encoding="utf-8") == DEFAULT_RULES_TEXT


def test_every_doc_form_needs_the_sessions_csrf_token(dash: Dash) -> None:
    fields = form(dash)
    first = fields["base"]
    for path, data in (
        ("/admin/docs/rules/check", {"base": first, "text": BAD}),
        ("/admin/docs/rules/save", {"base": first, "text": SLOW}),
        ("/admin/docs/rules/restore", {"version": first}),
        ("/admin/docs/rules/save", {"base": first, "text": SLOW, "csrf": "forged"}),
    ):
        r = dash.post(path, data)
        assert r.status_code == 403 and "This form has expired" in r.text
    assert versions(dash) == [DEFAULT_RULES_TEXT]


def test_an_unknown_doc_is_not_found(dash: Dash) -> None:
    assert dash.client.get("/admin/docs/secrets/history").status_code == 404
    r = dash.post("/admin/docs/secrets/save", {**form(dash), "text": "x"})
    assert r.status_code == 404


def test_without_a_history_the_docs_page_stays_read_only(tmp_path: Path) -> None:
    # Given docs kept where they cannot be edited from here (built-in, no history)
    service = in_memory()
    access = OwnerAccess(admin_token="t" * 32, session_key="k" * 32)
    now = datetime(2026, 5, 12, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    accounts = MemoryAccounts()
    parts = AdminParts(
        service=lambda: service,
        access=access,
        accounts=lambda: accounts,
        now=lambda: now,
        store_name=str,
    )
    client = TestClient(Starlette(routes=routes(parts)), base_url="http://testserver")
    login = client.get("/admin/login").text
    token = CSRF.search(login)
    assert token is not None
    client.post("/admin/login", data={"csrf": token.group(1), "token": "t" * 32, "next": ""})
    # Then the page shows the docs without an editor, as before
    page = client.get("/admin/docs").text
    assert "reads fine" in page and "Edit the files" in page and "<textarea" not in page
    csrf = CSRF.search(page)
    assert csrf is not None
    r = client.post(
        "/admin/docs/rules/save",
        data={"csrf": csrf.group(1), "text": SLOW},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "cannot be edited here" in client.get("/admin/docs").text
    assert "No history" in client.get("/admin/docs/rules/history").text
