"""The commands as a user runs them: real processes, real ports."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import body_text
from tests.e2e.harness import serve_in

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cart_recovery"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    with serve_in(tmp_path) as run:
        yield tmp_path, run.port
    # uvicorn shuts down gracefully, then re-raises the signal it got
    assert run.returncode in (0, -signal.SIGTERM), run.stderr
    assert "Application shutdown complete" in run.stderr
    assert "webhook_secrets = [" not in run.stderr  # the secret never reaches the log


def test_serve_first_run_creates_the_data_folder_and_answers_health(
    served: tuple[Path, int],
) -> None:
    folder, port = served
    data = folder / "cart-recovery-data"
    assert {p.name for p in data.iterdir()} >= {"config.toml", "rules.txt", "voice.txt", "outbox"}
    assert oct((data / "config.toml").stat().st_mode & 0o777) == "0o600"
    health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
    assert health["status"] == "ok"


@pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("openssl")), reason="needs curl and openssl"
)
def test_the_readme_curl_example_is_accepted(served: tuple[Path, int]) -> None:
    folder, port = served
    readme = (ROOT / "README.md").read_text()
    block = readme.split("A signed test event with curl", 1)[1].split("```bash", 1)[1]
    script = block.split("```", 1)[0].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "accepted", "event_id": "evt-1001"}


def test_demo_shows_two_reminders_a_deferral_a_stop_and_an_unsubscribe(tmp_path: Path) -> None:
    out = run("demo", "--out", str(tmp_path / "emails"))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Maya: 2 reminders" in text and "Jordan: 1 reminder" in text
    assert "quiet-hours deferrals: 1" in text and "deferred to" in text
    assert "checks out" in text and "skipped: unsubscribed" in text
    files = sorted((tmp_path / "emails").glob("*.eml"))
    messages = [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
    ]
    maya = [m for m in messages if "maya@" in str(m["To"])]
    jordan = [m for m in messages if "jordan@" in str(m["To"])]
    assert len(maya) == 2 and len(jordan) == 1
    for m in maya:
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        body = body_text(m)
        for needle in ("Linen shirt", "Beeswax candle", "Canvas tote", "$120.00", "/r/"):
            assert needle in body


def test_check_rules_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "rules.txt"
    good.write_text(
        run("--help").stdout
        and (ROOT / "README.md").read_text().split("The default:\n\n```\n", 1)[1].split("```", 1)[0]
    )
    ok = run("check-rules", str(good))
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.txt"
    lines = good.read_text().splitlines()
    lines.insert(2, "Remind them whenever it feels right.")
    bad.write_text("\n".join(lines) + "\n")
    out = run("check-rules", str(bad))
    assert out.returncode == 1
    assert re.search(
        rf"{re.escape(str(bad))}:3: .*Remind them whenever it feels right\.", out.stderr
    )


def test_simulate_reports_json(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    rows = [
        {
            "event_id": "1",
            "type": "cart.updated",
            "cart_id": "a",
            "email": "a@example.com",
            "occurred_at": "2026-05-12T14:00:00Z",
            "total": "20.00",
            "currency": "USD",
        },
        {
            "event_id": "2",
            "type": "cart.updated",
            "cart_id": "b",
            "email": "b@example.com",
            "occurred_at": "2026-05-12T14:00:00Z",
            "total": "200.00",
            "currency": "USD",
        },
        {
            "event_id": "3",
            "type": "cart.checked_out",
            "cart_id": "b",
            "occurred_at": "2026-05-12T14:30:00Z",
        },
        {
            "event_id": "4",
            "type": "cart.updated",
            "cart_id": "c",
            "occurred_at": "2026-05-12T14:00:00Z",
            "total": "80.00",
            "currency": "USD",
        },
    ]
    # any order in the file
    events.write_text("\n".join(json.dumps(r) for r in reversed(rows)) + "\n")
    out = run("simulate", str(events), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["sends"] == [
        {"cart_id": "a", "step": 1, "at": "2026-05-12T18:00:00Z"},
        {"cart_id": "a", "step": 2, "at": "2026-05-13T14:00:00Z"},
    ]
    assert {(s["cart_id"], s["step"], s["reason"]) for s in report["skips"]} == {
        ("c", 1, "no_email"),
        ("c", 2, "no_email"),
    }
    assert {c["cart_id"]: c["reason"] for c in report["closed"]} == {"a": "gave_up", "c": "gave_up"}
    assert report["totals"]["per_tier"]["small"]["sent_step1"] == 1
    table = run("simulate", str(events))
    assert table.returncode == 0 and "small" in table.stdout


def test_simulate_names_a_bad_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "1"}\n')
    out = run("simulate", str(events))
    assert out.returncode != 0 and "events.jsonl:1" in out.stderr
