"""The owner's commands on a data folder: suppress, write-off, unsubscribe, forget and
export-shopper, each the same service call the dashboard makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cart_recovery.bootstrap.embedded import embedded, init_data_dir
from cart_recovery.cli import main
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.model import CHECKED_OUT, Status
from cart_recovery.embedded.clock import VirtualClock
from tests.conftest import make_event

NOW = datetime.now(UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """Given a data folder with Maya's open cart, Jo's open cart and Sam's bought one."""
    folder = tmp_path / "data"
    init_data_dir(folder)
    rt = embedded(load_settings(folder, {}), clock=VirtualClock(NOW), run_timers=False)
    for cart_id, email in (("c1", "maya@example.com"), ("c2", "jo@example.com")):
        rt.service.ingest(make_event(cart_id=cart_id, occurred_at=NOW, email=email), NOW)
    rt.service.ingest(make_event(cart_id="c3", occurred_at=NOW, email="sam@example.com"), NOW)
    rt.service.ingest(
        make_event(
            cart_id="c3",
            event_id="paid",
            type=CHECKED_OUT,
            occurred_at=NOW,
            email="sam@example.com",
        ),
        NOW,
    )
    rt.close()
    yield folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"CART_RECOVERY_DATA_DIR": ""})
    return result.exit_code, result.stdout, result.stderr


def test_suppress_and_write_off_close_carts_as_the_owner(data_dir: Path) -> None:
    code, out, _ = run("suppress", "c1", "--data-dir", str(data_dir))
    assert code == 0 and "c1 is suppressed" in out
    code, out, _ = run("write-off", "c2", "--data-dir", str(data_dir))
    assert code == 0 and "c2 is written off" in out
    rt = embedded(load_settings(data_dir, {}), run_timers=False)
    c1, _ = rt.store.load("c1")
    c2, _ = rt.store.load("c2")
    assert c1 is not None and (c1.status, c1.close_reason) == (Status.CLOSED, "suppressed")
    assert c2 is not None and c2.close_reason == "written_off"
    row = rt.store.audit("c1")[-1]
    assert (row.by, row.action, row.detail) == ("owner", "suppressed", "command line")
    assert row.before is not None and row.before["status"] == "open"
    rt.close()


def test_a_refused_action_says_why_and_exits_1(data_dir: Path) -> None:
    code, _, err = run("suppress", "c3", "--data-dir", str(data_dir))
    assert code == 1 and "cart c3 is bought already: nothing to suppress" in err
    code, _, err = run("write-off", "nope", "--data-dir", str(data_dir))
    assert code == 1 and "there is no cart 'nope'" in err
    code, _, err = run("unsubscribe", "not-an-address", "--data-dir", str(data_dir))
    assert code == 1 and "is not an email address" in err


def test_a_missing_data_folder_is_named(tmp_path: Path) -> None:
    code, _, err = run("suppress", "c1", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "nowhere: no config.toml here" in err
    assert not (tmp_path / "nowhere").exists()


def test_unsubscribe_then_forget_then_export(data_dir: Path) -> None:
    code, out, _ = run("unsubscribe", "Jo@Example.com", "--data-dir", str(data_dir))
    assert code == 0 and "Jo@Example.com is unsubscribed." in out
    code, out, _ = run("unsubscribe", "jo@example.com", "--data-dir", str(data_dir))
    assert "was unsubscribed already" in out
    # export-shopper prints the JSON of everything kept
    code, out, _ = run("export-shopper", "maya@example.com", "--data-dir", str(data_dir))
    data = json.loads(out)
    assert code == 0 and data["email"] == "maya@example.com" and data["unsubscribed"] is False
    assert [c["cart_id"] for c in data["carts"]] == ["c1"]
    assert data["carts"][0]["events"][0]["email"] == "maya@example.com"
    # forget erases it and keeps the address unsubscribed
    code, out, _ = run("forget", "maya@example.com", "--data-dir", str(data_dir))
    assert code == 0 and "erased from 1 cart" in out and "stays unsubscribed" in out
    code, out, _ = run("export-shopper", "maya@example.com", "--data-dir", str(data_dir))
    assert json.loads(out)["carts"] == [] and json.loads(out)["unsubscribed"] is True


def test_the_data_folder_comes_from_the_environment_unless_given(
    data_dir: Path, tmp_path: Path
) -> None:
    # Given CART_RECOVERY_DATA_DIR names the data folder
    env = {"CART_RECOVERY_DATA_DIR": str(data_dir)}
    # When a command runs without --data-dir, it acts on that folder
    result = CliRunner().invoke(main, ["write-off", "c2"], env=env)
    assert result.exit_code == 0 and "c2 is written off" in result.stdout
    # And an explicit --data-dir wins over the environment
    elsewhere = str(tmp_path / "elsewhere")
    result = CliRunner().invoke(main, ["write-off", "c2", "--data-dir", elsewhere], env=env)
    assert result.exit_code == 1 and "elsewhere: no config.toml here" in result.stderr
