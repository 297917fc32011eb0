"""Benchmark 3: ``cart-recovery simulate`` over a generated month of carts, on one core.

* ``simulate.carts``: the real command, ``python -m cart_recovery simulate FILE --json``, as a
  child process pinned to one CPU, over N carts (``bench/simulate_gen.py``: about three events
  each, mixed sizes, shared addresses, checkouts, redeliveries, shopper timezones; written
  before the clock starts). Wall time from start to exit, the child's peak RSS
  (``ru_maxrss`` from ``wait4``) and its CPU time; the report's totals are read back from its
  output and checked (every cart and event counted, every list as long as its total).
* ``simulate.read_floor``: the floor under it, in a child process on the same CPU: read the
  same file and decode each line into a ``CartEvent`` with msgspec, nothing else.

Rates are carts per second of wall time. Generation is not timed. Target (the performance
issue): 1,000,000 carts in 60 s or less on one core, peak RSS 1 GB or less.

    python -m bench.simulate [N]
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import simulate_gen

ROOT = Path(__file__).resolve().parents[1]
QUICK_N = 2_000
SEED = 7

_files: dict[tuple[int, int], tuple[Path, int]] = {}
_tmp: tempfile.TemporaryDirectory[str] | None = None

FLOOR = """
import sys, msgspec
from cart_recovery.domain.model import CartEvent
decode = msgspec.json.Decoder(CartEvent).decode
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        if line.strip():
            decode(line)
            n += 1
print(n)
"""


def month(n: int, seed: int = SEED) -> tuple[Path, int]:
    """The generated file of ``n`` carts and its number of events (made once per process)."""
    global _tmp
    if (n, seed) not in _files:
        if _tmp is None:
            _tmp = tempfile.TemporaryDirectory(prefix="bench-simulate-")
            atexit.register(_tmp.cleanup)
        path = Path(_tmp.name) / f"month-{n}-{seed}.jsonl"
        _files[n, seed] = (path, simulate_gen.write(path, n, seed))
    return _files[n, seed]


def _one_cpu() -> int:
    return min(os.sched_getaffinity(0))


def _run_pinned(args: list[str], stdout: Any) -> tuple[float, int, float, int]:
    """Run ``args`` on one CPU: (wall seconds, exit status, CPU seconds, peak RSS in KiB)."""
    cpu = _one_cpu()
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    taskset = shutil.which("taskset")
    pin: dict[str, Any] = {}
    if taskset:  # exec'd directly: the peak RSS is the child's own, not a fork of ours
        args = [taskset, "-c", str(cpu), *args]
    else:
        pin["preexec_fn"] = lambda: os.sched_setaffinity(0, {cpu})
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, env=env, **pin)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{args} failed ({proc.returncode}): {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _totals(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The report's ``totals`` (read from the end of the output) and its lists' lengths."""
    data = path.read_bytes()
    at = data.rindex(b'"totals":')
    totals: dict[str, Any] = json.loads(data[at + len(b'"totals":') : data.rindex(b"}")])
    lengths = {}
    for name, nxt in (("sends", "skips"), ("skips", "closed"), ("closed", "deferred")):
        start = data.index(f'"{name}":['.encode())
        end = data.index(f'"{nxt}":['.encode())
        lengths[name] = data.count(b'{"cart_id"', start, end)
    start = data.index(b'"deferred":[')
    lengths["deferred"] = data.count(b'{"cart_id"', start, at)
    return totals, lengths


def simulate(n: int) -> dict[str, Any]:
    """The real command over ``n`` generated carts, on one CPU."""
    path, events = month(n)
    with tempfile.NamedTemporaryFile(prefix="bench-simulate-out-", suffix=".json") as out:
        cmd = [sys.executable, "-m", "cart_recovery", "simulate", str(path), "--json"]
        with open(out.name, "wb") as sink:
            elapsed, _, cpu_s, rss_kib = _run_pinned([*cmd, "--no-progress"], sink)
        totals, lengths = _totals(Path(out.name))
    if totals["carts"] != n or totals["events"] != events:
        raise RuntimeError(f"simulate counted {totals['carts']} carts, {totals['events']} events")
    for name, length in lengths.items():
        if totals[name] != length:
            raise RuntimeError(f"{name}: total {totals[name]} but {length} listed")
    return {
        "rate": n / elapsed,
        "seconds": elapsed,
        "cpu_seconds": cpu_s,
        "peak_rss_mb": rss_kib / 1024,
        "carts": n,
        "events": events,
        "sends": totals["sends"],
        "skips": totals["skips"],
        "closed": totals["closed"],
        "deferred": totals["deferred"],
        "skips_by_reason": totals["skips_by_reason"],
        "closed_by_reason": totals["closed_by_reason"],
        "rejected_events": totals["rejected_events"],
        "file_mb": path.stat().st_size / 2**20,
    }


def read_floor(n: int) -> dict[str, Any]:
    """Read and decode the same file, nothing else, in a child on the same CPU."""
    path, events = month(n)
    with tempfile.TemporaryFile() as out:
        elapsed, _, cpu_s, rss_kib = _run_pinned([sys.executable, "-c", FLOOR, str(path)], out)
        out.seek(0)
        decoded = int(out.read())
    if decoded != events:
        raise RuntimeError(f"decoded {decoded} of {events} events")
    return {
        "rate": n / elapsed,
        "seconds": elapsed,
        "cpu_seconds": cpu_s,
        "peak_rss_mb": rss_kib / 1024,
        "carts": n,
        "events": events,
    }


def run_once(n: int, quick: bool = False) -> dict[str, dict[str, Any]]:
    """One run of every figure of this benchmark (``quick``: QUICK_N carts whatever ``n``)."""
    size = QUICK_N if quick else n
    return {"simulate.carts": simulate(size), "simulate.read_floor": read_floor(size)}


RATIOS = {"simulate carts/read floor": ("simulate.carts", "simulate.read_floor")}


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(run_once(size), indent=2))
