"""Benchmark 3 (``simulate`` over a generated month) runs in quick mode and reports sane
figures. No timing thresholds: only the shape of the numbers is checked."""

from __future__ import annotations

import math

from bench import simulate


def test_quick_run_reports_a_rate_a_peak_and_consistent_totals() -> None:
    # Given the quick size, when one run is made
    figures = simulate.run_once(100_000, quick=True)
    # Then both figures are positive, finite rates over the same carts
    assert set(figures) == {"simulate.carts", "simulate.read_floor"}
    for name, f in figures.items():
        assert f["carts"] == simulate.QUICK_N, name
        for key in ("rate", "seconds", "cpu_seconds", "peak_rss_mb"):
            assert math.isfinite(f[key]) and f[key] > 0, (name, key, f[key])
        assert f["events"] > 2 * f["carts"], name
    run = figures["simulate.carts"]
    # and the report's totals hold together
    assert sum(run["skips_by_reason"].values()) == run["skips"]
    assert sum(run["closed_by_reason"].values()) == run["closed"]
    assert run["sends"] > 0 and run["closed"] > 0 and run["deferred"] > 0
    assert run["skips_by_reason"].get("do_not_disturb", 0) > 0
    assert run["closed"] <= run["carts"]
    assert run["sends"] <= 2 * run["carts"]
    assert run["rejected_events"] == 0
    for top, bottom in simulate.RATIOS.values():
        assert figures[top]["rate"] / figures[bottom]["rate"] > 0
