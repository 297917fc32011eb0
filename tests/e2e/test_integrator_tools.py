"""The integrator's tools as a user runs them: ``send-test-event`` against a running ``serve``
(each source), and ``import`` of a CSV and a JSON-lines backfill."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cart_recovery.bootstrap.embedded import init_data_dir
from tests.e2e.harness import free_port

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-m", "cart_recovery"]
SHOPIFY_SECRET = "tools-shopify-secret-0123456789abcdef"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"tools-standard-webhooks-secret!!").decode()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CART_RECOVERY_")}
    return {**env, **extra}


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int, dict[str, str]]]:
    port = free_port()
    env = clean_env(
        CART_RECOVERY_SHOPIFY_SECRET=SHOPIFY_SECRET,
        CART_RECOVERY_STANDARD_WEBHOOKS_SECRET=STANDARD_SECRET,
        CART_RECOVERY_PORT=str(port),
    )
    proc = subprocess.Popen(
        [*CLI, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {proc.communicate()}")
            time.sleep(0.05)
        yield tmp_path, port, env
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def carts(data: Path) -> dict[str, tuple[str, str | None]]:
    if not (data / "cart-recovery.sqlite3").exists():
        return {}
    with sqlite3.connect(data / "cart-recovery.sqlite3") as db:
        rows = db.execute("SELECT cart_id, status, data FROM carts").fetchall()
    return {r[0]: (r[1], json.loads(r[2]).get("close_reason")) for r in rows}


@pytest.mark.parametrize("source", ["generic", "shopify", "standard"])
def test_send_test_event_is_accepted_by_the_running_service(
    served: tuple[Path, int, dict[str, str]], source: str
) -> None:
    folder, port, env = served
    out = run(
        "send-test-event", "--source", source, "--cart-id", f"check-{source}", cwd=folder, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"POST http://127.0.0.1:{port}/webhooks/" in out.stdout
    assert '"status":"accepted"' in out.stdout.replace(" ", "")
    assert f"check-{source}" in carts(folder / "cart-recovery-data")
    # a wrong secret is refused, and the command says so with a non-zero exit
    wrong = run(
        "send-test-event", "--source", source, "--secret", "whsec_" + "A" * 44, cwd=folder, env=env
    )
    assert wrong.returncode == 1 and "401" in wrong.stdout


def test_send_test_event_without_a_service_names_the_url(tmp_path: Path) -> None:
    port = free_port()
    out = run(
        "send-test-event", "--url", f"http://127.0.0.1:{port}", "--secret", "x" * 32, cwd=tmp_path
    )
    assert out.returncode != 0 and f"127.0.0.1:{port}" in out.stderr


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def test_import_backfills_and_never_reminds_stale_carts(tmp_path: Path) -> None:
    data = tmp_path / "cart-recovery-data"
    init_data_dir(data)
    now = datetime.now(UTC)
    fresh = (now - timedelta(minutes=30)).isoformat()
    old = (now - timedelta(days=10)).isoformat()
    items = csv_cell(json.dumps([{"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"}]))
    csv_file = tmp_path / "carts.csv"
    csv_file.write_text(
        "cart_id,occurred_at,email,name,items,currency,return_url,marketing_consent\n"
        f"fresh-1,{fresh},maya@example.com,Maya,{items},USD,https://shop.example/c/1,true\n"
        f"old-1,{old},old@example.com,Old,{items},USD,https://shop.example/c/2,\n"
        "bad-1,yesterday,x@example.com,,,,,\n"
    )
    # A bad record stops the import and is named by line
    refused = run("import", str(csv_file), cwd=tmp_path)
    assert refused.returncode == 1
    assert f"{csv_file}:4: occurred_at" in refused.stderr
    assert carts(data) == {}
    # --dry-run checks and stores nothing
    dry = run("import", str(csv_file), "--dry-run", "--skip-invalid", cwd=tmp_path)
    assert dry.returncode == 0 and "2 record(s) would be imported" in dry.stdout
    assert carts(data) == {}
    # --skip-invalid imports the rest: the stale cart is recorded but closed, never reminded
    done = run("import", str(csv_file), "--skip-invalid", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported 2 event(s) for 2 cart(s)" in done.stdout
    assert "1 cart(s) older than 7 days closed without a reminder" in done.stdout
    assert carts(data) == {"fresh-1": ("open", None), "old-1": ("closed", "too_old")}
    with sqlite3.connect(data / "cart-recovery.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM sends").fetchone()[0] == 0
        [(timer_cart,)] = db.execute("SELECT cart_id FROM timers").fetchall()
    assert timer_cart == "fresh-1"
    # Importing the same file again changes nothing (derived event ids)
    again = run("import", str(csv_file), "--skip-invalid", cwd=tmp_path)
    assert "imported 0 event(s)" in again.stdout and "2 already there" in again.stdout
    # JSON lines: one webhook event a line, any order; a checkout always wins
    paid = {"event_id": "p1", "type": "cart.checked_out", "cart_id": "fresh-1"}
    jsonl = tmp_path / "carts.jsonl"
    jsonl.write_text(
        json.dumps({**paid, "occurred_at": now.isoformat()})
        + "\n\n"
        + json.dumps({"cart_id": "new-2", "occurred_at": fresh, "total": "45.00"})
        + "\n"
    )
    imported = run("import", str(jsonl), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert carts(data)["fresh-1"] == ("bought", None)
    assert carts(data)["new-2"] == ("open", None)
