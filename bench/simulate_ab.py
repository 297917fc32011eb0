"""``simulate`` at an earlier commit against the working tree, in one run, on the same file.

Both are the real command (``python -m cart_recovery simulate FILE --json --no-progress``),
pinned to the same CPU, run in turn (before, after, before, after, …) so that a drift of the
machine's speed hits both alike. The earlier commit's ``src/`` is exported with ``git archive``
into a temporary folder and put first on ``PYTHONPATH``. Each pair's outputs must be identical
byte for byte (a restructuring that changes a report is a behaviour change, not a speed-up).

    python -m bench.simulate_ab REV [N] [--runs K] [--json FILE]

Prints carts per CPU-second of each (min, median, max) and the ratio after/before per pair.
CPU time rather than wall time: on a shared machine it is what the command itself costs.
Each round also measures the read floor (``bench.simulate.read_floor``: decoding the same
file, nothing else) on the same CPU, so each side's ratio to it is taken within the round.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench.simulate import ROOT, _run_pinned, month, read_floor


def export_src(rev: str, into: Path) -> Path:
    """``src/`` of ``rev``, written below ``into``; returns the folder to put on the path."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _one(path: Path, src: Path, out: Path) -> tuple[float, str]:
    env_path = os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-m", "cart_recovery", "simulate", str(path), "--json", "--no-progress"]
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = env_path
    try:
        with out.open("wb") as sink:
            _, _, cpu_seconds, _ = _run_pinned(cmd, sink)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    return cpu_seconds, hashlib.sha256(out.read_bytes()).hexdigest()


def compare(rev: str, n: int, runs: int) -> dict[str, Any]:
    path, events = month(n)
    with tempfile.TemporaryDirectory(prefix="bench-simulate-ab-") as tmp:
        before_src = export_src(rev, Path(tmp) / "before")
        after_src = ROOT / "src"
        out = Path(tmp) / "out.json"
        before: list[float] = []
        after: list[float] = []
        floor: list[float] = []
        for _ in range(runs):
            b, b_hash = _one(path, before_src, out)
            a, a_hash = _one(path, after_src, out)
            if a_hash != b_hash:
                raise RuntimeError(f"the reports differ: {rev} {b_hash[:12]}, now {a_hash[:12]}")
            before.append(n / b)
            after.append(n / a)
            floor.append(n / read_floor(n)["cpu_seconds"])
    ratios = [a / b for a, b in zip(after, before, strict=True)]
    before_floor = [b / f for b, f in zip(before, floor, strict=True)]
    after_floor = [a / f for a, f in zip(after, floor, strict=True)]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()

    def spread(xs: list[float]) -> dict[str, float]:
        return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}

    return {
        "before": commit,
        "carts": n,
        "events": events,
        "runs": runs,
        "before_carts_per_s": spread(before),
        "after_carts_per_s": spread(after),
        "after_over_before": spread(ratios),
        "read_floor_carts_per_s": spread(floor),
        "before_over_floor": spread(before_floor),
        "after_over_floor": spread(after_floor),
        "report_sha256": a_hash,
        "identical_reports": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the earlier commit")
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="carts (100,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = compare(args.rev, args.n, args.runs)
    for key in (
        "before_carts_per_s",
        "after_carts_per_s",
        "after_over_before",
        "read_floor_carts_per_s",
        "before_over_floor",
        "after_over_floor",
    ):
        s = result[key]
        print(f"{key:22} min {s['min']:10.3f}  median {s['median']:10.3f}  max {s['max']:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
