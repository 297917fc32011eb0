"""The benchmark command runs end to end and reports sane numbers. No timing thresholds: the
figures depend on the machine; only their shape is checked."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_writes_positive_finite_figures_and_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--runs",
            "1",
            "--only",
            "wakeups",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["runs"] == 1 and result["cpu_count"] >= 1
    figures = result["figures"]
    assert {
        "wakeups.real_full",
        "wakeups.real_scheduled",
        "wakeups.apscheduler",
        "wakeups.apscheduler_fire",
        "wakeups.raw_sqlite",
    } <= set(figures)
    for name, f in figures.items():
        for key in ("min", "median", "max"):
            assert math.isfinite(f[key]) and f[key] > 0, (name, f)
        assert f["min"] <= f["median"] <= f["max"], (name, f)
    ratios = result["ratios"]
    assert {
        "wakeups real/apscheduler (fire)",
        "wakeups real/apscheduler (schedule+fire)",
        "wakeups real/raw_sqlite",
    } <= set(ratios)
    for name, r in ratios.items():
        assert math.isfinite(r["median"]) and r["median"] > 0, (name, r)
    # the real path really sent one reminder per due wake-up
    [run] = result["raw"]
    for name in ("wakeups.real_full", "wakeups.real_scheduled"):
        real = run[name]
        assert real["outcomes"] == {"Sent": result["sizes"]["wakeups"]}
        assert real["fired"] == result["sizes"]["wakeups"]
    assert run["wakeups.apscheduler"]["fired"] == result["sizes"]["wakeups"]
    assert "wakeups" in proc.stdout
