"""The ingest benchmark runs end to end over real HTTP and reports sane numbers. No timing
thresholds: the figures depend on the machine; only their shape is checked, and that every
event answered ``accepted`` was stored (the benchmark itself fails the run otherwise)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)"
)


def test_quick_ingest_run_reports_both_figures_and_their_ratio() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    figures = result["figures"]
    assert set(figures) == {"ingest.real", "ingest.bare_asgi"}
    for name, f in figures.items():
        for key in ("rate", "p50_ms", "p99_ms", "seconds"):
            assert math.isfinite(f[key]) and f[key] > 0, (name, key, f)
        assert f["count"] > 0 and f["count"] == f["sent"], (name, f)
        assert f["p50_ms"] <= f["p99_ms"], (name, f)
    real = figures["ingest.real"]
    assert real["stored"] == real["count"]  # every accepted answer is a stored event
    ratio = result["ratios"]["ingest real/bare_asgi"]
    assert math.isfinite(ratio) and ratio > 0


def test_run_once_has_the_shape_bench_run_collects() -> None:
    from bench import ingest

    assert ingest.RATIOS == {"ingest real/bare_asgi": ("ingest.real", "ingest.bare_asgi")}
    assert callable(ingest.run_once)
