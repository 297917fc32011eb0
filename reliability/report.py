"""One command for every figure in docs/reliability.md: the crash run, a load run, the contract
fuzz run and the attack catalog, printed as one Markdown table (and written as JSON).

    python -m reliability.report --carts 10000 --kills 25 --json reliability.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cart_recovery.service.waking import WAKE_CHUNK

from . import crash, load

ROOT = Path(__file__).resolve().parents[1]


def pytest_figures() -> dict[str, Any]:
    """The fuzz run and the attack catalog, through their tests (they write test-output/)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/e2e/test_contract_fuzz.py",
            "tests/security",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    fuzz = json.loads((ROOT / "test-output" / "fuzz.json").read_text())
    attacks = json.loads((ROOT / "test-output" / "attacks.json").read_text())
    return {
        "tests_passed": out.returncode == 0,
        "tail": out.stdout.strip().splitlines()[-1:],
        "fuzz_cases": fuzz["cases"],
        "attacks_tried": attacks["attacks"],
        "attacks_refused": attacks["refused"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--carts", type=int, default=10_000)
    p.add_argument("--kills", type=int, default=25)
    p.add_argument("--rate", type=float, default=120.0, help="the load run's events per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cart-recovery-report-") as tmp:
        work = Path(tmp)
        crashed = crash.run(args.carts, args.kills, 1200.0, 36.0, 7, 16, work / "crash")
        loaded = load.run(args.rate, args.seconds, 32, work / "load")
    tested = pytest_figures()
    rows = [
        ("carts replayed", crashed["carts"]),
        ("kills survived (SIGKILL, restarted)", crashed["kills"]),
        ("emails received", crashed["emails_received"]),
        ("duplicates", crashed["duplicates"]),
        ("emails after a stop was accepted", crashed["sends_after_stop"]),
        ("claimed before a stop, delivered just after", crashed.get("in_flight_at_stop", 0)),
        ("quiet-hours emails", crashed["quiet_hours_sends"]),
        (
            "steps left uncertain by a crash (received)",
            f"{crashed['uncertain']} ({crashed['uncertain_received']})",
        ),
        (
            "steps left claimed and unrecorded by one kill, at most (each kill)",
            f"{crashed['max_uncertain_per_kill']} "
            f"({', '.join(str(n) for n in crashed['uncertain_per_kill'])})",
        ),
        (
            "crash run: events accepted / stored",
            f"{crashed['events_accepted']} / {crashed['events_stored']}",
        ),
        ("crash run: problems found", crashed["problem_count"]),
        (
            f"load run ({args.rate:g}/s for {args.seconds:g} s): accepted / stored",
            f"{loaded['accepted']} / {loaded['stored']}",
        ),
        ("load run: sustained rate", f"{loaded['sustained_rate']}/s"),
        (
            "load run: latency p50 / p99 / p99.9",
            " / ".join(f"{loaded['latency_ms'][k]} ms" for k in ("p50", "p99", "p99.9")),
        ),
        ("load run: reminders sent meanwhile", loaded["reminders_sent_meanwhile"]),
        ("fuzz cases run (schemathesis)", tested["fuzz_cases"]),
        ("attacks tried / refused", f"{tested['attacks_tried']} / {tested['attacks_refused']}"),
    ]
    print("| figure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    result = {"crash": crashed, "load": loaded, "tests": tested}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    ok = (
        crashed["problem_count"] == 0
        and crashed["max_uncertain_per_kill"] <= WAKE_CHUNK
        and loaded["accepted"] == loaded["stored"]
        and tested["tests_passed"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
