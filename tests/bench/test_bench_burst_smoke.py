"""The ingest-during-a-burst benchmark runs end to end in quick mode and reports sane numbers.
No timing thresholds: only the shape of the figures and the bookkeeping (checked by the
benchmark itself: every due cart reminded exactly once, every accepted event stored)."""

from __future__ import annotations

import math

import pytest

from bench import burst

pytestmark = pytest.mark.e2e


def test_quick_run_measures_ingest_alone_and_during_the_burst() -> None:
    out = burst.run_once(500, quick=True, window=1.0)

    alone, during = out["burst.ingest_alone"], out["burst.ingest_during"]
    for figure in (alone, during):
        assert figure["accepted"] > 0 and figure["errors"] == {}
        for key in ("rate", "p50_ms", "p99_ms"):
            assert math.isfinite(figure[key]) and figure[key] > 0
    assert alone["due"] == 0 and during["due"] == 500 and during["wakeups_rate"] > 0
    assert during["p99_vs_alone"] == during["p99_ms"] / alone["p99_ms"]
    assert set(burst.RATIOS.values()) == {("burst.ingest_during", "burst.ingest_alone")}
