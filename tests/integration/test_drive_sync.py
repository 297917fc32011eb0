"""Following the owner's Google Docs against a drive Drive API and token endpoint on 127.0.0.1:
a good revision becomes a version credited to its author, a bad one is refused (the owners
told once, with the line numbers) while the last good version keeps serving, and an unchanged
revision costs one metadata call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cart_recovery.adapters.drive import DriveDocs
from cart_recovery.adapters.files import FileDocs
from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.bootstrap.embedded import embedded, init_data_dir
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.config.settings import SettingsError, load_settings
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, parse_rules
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.ports import DriveError
from cart_recovery.service.doc_sync import DocSync, last_refusal
from tests.fakes.drive_api import FakeDrive
from tests.fakes.drive_fixtures import RULES_ID, VOICE_ID
from tests.integration.test_dashboard import Dash
from tests.integration.test_sheets import key_fragments, pem, write_service_account

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
OWNERS = ("owner@shop.example",)
SLOW = DEFAULT_RULES_TEXT.replace("Medium carts: 2 hours", "Medium carts: 5 hours")
BAD = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: whenever.")


class World:
    def __init__(self, folder: Path, drive: FakeDrive, key: rsa.RSAPrivateKey) -> None:
        (folder / "rules.txt").write_text(DEFAULT_RULES_TEXT, encoding="utf-8")
        (folder / "voice.txt").write_text(DEFAULT_VOICE_TEXT, encoding="utf-8")
        self.key_file = write_service_account(folder / "sa.json", key, drive.token_uri)
        self.store = SqliteStore(folder / "db.sqlite3")
        self.docs = FileDocs(folder / "rules.txt", folder / "voice.txt", folder / "doc-history")
        self.mailer = MemoryMailer()
        self.service = in_memory(store=self.store, mailer=self.mailer, docs=self.docs)
        self.drive = DriveDocs(self.key_file, api_root=drive.base_url)
        self.sync = DocSync(
            self.service, self.drive, {"rules": RULES_ID, "voice": VOICE_ID}, OWNERS
        )


@pytest.fixture
def world(tmp_path: Path, drive: FakeDrive, drive_key: rsa.RSAPrivateKey) -> Iterator[World]:
    w = World(tmp_path, drive, drive_key)
    yield w
    w.store.close()


def test_the_adapter_reads_the_head_and_the_text_without_bom_or_crlf(
    world: World, drive: FakeDrive
) -> None:
    head = world.drive.head(RULES_ID)
    assert head.revision == "v1"
    assert head.by == "Ann Owner"
    assert head.link == f"https://docs.google.com/document/d/{RULES_ID}/edit"
    assert world.drive.export_text(RULES_ID) == DEFAULT_RULES_TEXT
    assert drive.calls == [f"get {RULES_ID}", f"export {RULES_ID}"]


def test_a_good_revision_becomes_a_version_credited_to_its_author(
    world: World, drive: FakeDrive
) -> None:
    world.sync.run(NOW)
    drive.docs[RULES_ID].edit(SLOW, by="Bob Editor")
    drive.calls.clear()

    done = world.sync.run(NOW)

    assert [(s.doc, s.outcome) for s in done] == [("rules", "applied"), ("voice", "unchanged")]
    current = world.service.doc_history("rules")[0].version
    assert (current.text, current.by, current.source) == (SLOW, "Bob Editor", "drive")
    assert current.note == "Google Doc revision v2"
    assert world.docs.rules() == parse_rules(SLOW)
    assert drive.calls == [f"get {RULES_ID}", f"export {RULES_ID}", f"get {VOICE_ID}"]
    assert world.mailer.sent == []


def test_an_unchanged_revision_costs_one_metadata_call(world: World, drive: FakeDrive) -> None:
    world.sync.run(NOW)
    versions = len(world.service.doc_history("rules"))
    drive.calls.clear()

    done = world.sync.run(NOW)

    assert [s.outcome for s in done] == ["unchanged", "unchanged"]
    assert drive.calls == [f"get {RULES_ID}", f"get {VOICE_ID}"]
    assert len(world.service.doc_history("rules")) == versions


def test_a_bad_revision_is_refused_once_and_the_last_good_version_keeps_serving(
    world: World, drive: FakeDrive
) -> None:
    world.sync.run(NOW)
    drive.docs[RULES_ID].edit(SLOW, by="Bob Editor")
    world.sync.run(NOW)
    drive.docs[RULES_ID].edit(BAD, by="Cy Typo")

    first = world.sync.run(NOW)
    drive.calls.clear()
    again = world.sync.run(NOW)

    assert first[0].outcome == "refused"
    assert again[0].outcome == "unchanged"
    assert drive.calls == [f"get {RULES_ID}", f"get {VOICE_ID}"]
    assert world.service.doc_history("rules")[0].version.text == SLOW
    assert world.docs.rules() == parse_rules(SLOW)
    (mail,) = world.mailer.sent
    assert mail["To"] == "owner@shop.example"
    body = mail.get_content()
    bad_line = BAD.splitlines().index("Quiet hours: whenever.") + 1
    assert f"line {bad_line}:" in body
    assert "by Cy Typo" in body
    assert f"https://docs.google.com/document/d/{RULES_ID}/edit" in body
    refusal = last_refusal(world.service, "rules")
    assert refusal is not None
    assert refusal.revision == "v3"
    assert f"line {bad_line}:" in refusal.problems


def test_a_fixed_revision_after_a_refusal_is_applied_and_clears_the_refusal(
    world: World, drive: FakeDrive
) -> None:
    world.sync.run(NOW)
    drive.docs[RULES_ID].edit(BAD, by="Cy Typo")
    world.sync.run(NOW)
    drive.docs[RULES_ID].edit(SLOW, by="Cy Typo")

    done = world.sync.run(NOW.replace(minute=5))

    assert done[0].outcome == "applied"
    assert last_refusal(world.service, "rules") is None
    assert len(world.mailer.sent) == 1


def test_errors_name_the_doc_and_the_status_never_the_key(
    world: World, drive: FakeDrive, drive_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(DriveError) as missing:
        world.drive.head("1NoSuchDoc")
    assert "1NoSuchDoc" in str(missing.value)
    assert "HTTP 404" in str(missing.value)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = write_service_account(world.key_file.with_name("other.json"), other, drive.token_uri)
    with pytest.raises(DriveError) as refused:
        DriveDocs(stranger, api_root=drive.base_url).head(RULES_ID)
    assert RULES_ID in str(refused.value)
    for fragment in key_fragments(pem(other)):
        assert fragment not in str(refused.value)


# --------------------------------------------------------------------------- the embedded runtime


def drive_environ(drive: FakeDrive, key_file: Path) -> dict[str, str]:
    return {
        "CART_RECOVERY_GOOGLE_DOCS_RULES_ID": RULES_ID,
        "CART_RECOVERY_GOOGLE_DOCS_VOICE_ID": VOICE_ID,
        "CART_RECOVERY_GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
        "CART_RECOVERY_GOOGLE_API_ROOT": drive.base_url,
        "CART_RECOVERY_OWNER_EMAILS": "owner@shop.example",
    }


def test_serve_follows_the_docs_every_five_minutes_of_its_clock(
    tmp_path: Path, drive: FakeDrive, drive_key: rsa.RSAPrivateKey
) -> None:
    data = tmp_path / "data"
    init_data_dir(data)
    key_file = write_service_account(tmp_path / "sa.json", drive_key, drive.token_uri)
    clock = VirtualClock(NOW)
    mailer = MemoryMailer()
    rt = embedded(
        load_settings(data, drive_environ(drive, key_file)),
        clock=clock,
        mailer=mailer,
        run_timers=False,
    )
    try:
        assert rt.doc_sync is not None
        assert [s.outcome for s in rt.doc_sync.tick(clock.now())] == ["applied", "applied"]
        drive.docs[RULES_ID].edit(SLOW, by="Bob Editor")
        clock.set(NOW + timedelta(minutes=4))
        assert rt.doc_sync.tick(clock.now()) == []  # not due yet: no call at all
        clock.set(NOW + timedelta(minutes=5))
        assert [s.outcome for s in rt.doc_sync.tick(clock.now())] == ["applied", "unchanged"]
        assert rt.docs.rules() == parse_rules(SLOW)
        assert rt.service.doc_history("rules")[0].version.by == "Bob Editor"
    finally:
        rt.close()


def test_without_both_doc_ids_serve_does_not_sync(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data)
    rt = embedded(load_settings(data, {}), run_timers=False)
    try:
        assert rt.doc_sync is None
    finally:
        rt.close()


def test_doc_ids_without_a_service_account_are_a_settings_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data)
    with pytest.raises(SettingsError, match="google_service_account_file"):
        load_settings(data, {"CART_RECOVERY_GOOGLE_DOCS_RULES_ID": RULES_ID})


# --------------------------------------------------------------------------- the dashboard


def test_the_dashboard_links_to_the_google_docs_and_shows_a_refused_revision(
    tmp_path: Path, drive: FakeDrive, drive_key: rsa.RSAPrivateKey
) -> None:
    key_file = write_service_account(tmp_path / "sa.json", drive_key, drive.token_uri)
    dash = Dash(tmp_path / "data", drive_environ(drive, key_file))
    try:
        assert dash.rt.doc_sync is not None
        dash.rt.doc_sync.tick(dash.clock.now())
        drive.docs[RULES_ID].edit(BAD, by="Cy Typo")
        dash.clock.set(NOW + timedelta(minutes=5))
        dash.rt.doc_sync.tick(dash.clock.now())
        dash.login()

        page = dash.client.get("/admin/docs").text

        assert f'href="https://docs.google.com/document/d/{RULES_ID}/edit"' in page
        assert f'href="https://docs.google.com/document/d/{VOICE_ID}/edit"' in page
        assert "<textarea" not in page
        bad_line = BAD.splitlines().index("Quiet hours: whenever.") + 1
        assert "revision v2 by Cy Typo was not applied" in page
        assert f"line {bad_line}:" in page
        history = dash.client.get("/admin/docs/rules/history").text
        assert "Restore this version" not in history and "the Google Doc" in history
        token = dash.csrf("/admin/docs/rules/history")
        r = dash.post("/admin/docs/rules/save", {"csrf": token, "base": "", "text": SLOW})
        assert (r.status_code, "follow a Google Doc: edit it there" in r.text) == (409, True)
        assert dash.rt.docs.rules() == parse_rules(DEFAULT_RULES_TEXT)
    finally:
        dash.close()
