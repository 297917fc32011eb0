"""What a backup costs the webhook's writer: commit latency while a backup copies the store.

A writer process commits one small transaction after another into a WAL database
(``synchronous=FULL``, as ``serve`` runs), recording each commit's time, while this process
copies the file four ways, one after another, each with the writer running:

* ``steps``: the online backup API, ``PAGES_PER_STEP`` pages a step, inside one read
  transaction (what ``cart-recovery backup`` does);
* ``one-step``: the online backup API, every page in one step;
* ``vacuum-into``: ``VACUUM INTO`` (it cannot run inside a transaction);
* ``idle``: no copy (the baseline).

For each: the copy's time, and the writer's commits during it (count, median, 99th
percentile, slowest). Numbers only: nothing here asserts a time.

    python -m bench.backup_writer [--mb 64] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from cart_recovery.adapters.sqlite.backup import PAGES_PER_STEP


def seed(path: Path, mb: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, at REAL, data BLOB)")
    blob = os.urandom(1000)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO rows (at, data) VALUES (?, ?)", ((0.0, blob) for _ in range(mb * 1000))
    )
    conn.execute("COMMIT")
    conn.close()


def writer(path: str, stop: Event, out: Any) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA synchronous = FULL")
    blob = os.urandom(1000)
    commits: list[tuple[float, float]] = []  # (when it ended, how long it took)
    while not stop.is_set():
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO rows (at, data) VALUES (?, ?)", (start, blob))
        conn.execute("COMMIT")
        commits.append((time.monotonic(), time.perf_counter() - start))
        if len(commits) == 1:
            out.put("writing")
    conn.close()
    out.put(commits)


def copy(method: str, source: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    if method == "idle":
        time.sleep(2.0)  # the baseline's window
        return
    conn = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        if method == "vacuum-into":
            conn.execute("VACUUM INTO ?", (str(dest),))
            return
        target = sqlite3.connect(dest, isolation_level=None)
        conn.execute("BEGIN")
        try:
            conn.backup(target, pages=PAGES_PER_STEP if method == "steps" else -1)
        finally:
            conn.execute("COMMIT")
            target.close()
    finally:
        conn.close()


def measure(method: str, source: Path, dest: Path) -> dict[str, Any]:
    stop = multiprocessing.Event()
    out: Any = multiprocessing.Queue()
    proc = multiprocessing.Process(target=writer, args=(str(source), stop, out))
    proc.start()
    assert out.get() == "writing"
    start = time.monotonic()
    copy(method, source, dest)
    end = time.monotonic()
    stop.set()
    commits: list[tuple[float, float]] = out.get()
    proc.join()
    during = sorted(d for at, d in commits if start <= at <= end)
    ms = [d * 1000 for d in during] or [0.0]
    return {
        "method": method,
        "copy_s": round(end - start, 3),
        "commits": len(during),
        "median_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1 if len(ms) > 1 else 0], 2),
        "max_ms": round(max(ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=int, default=64, help="the store's size, in MB")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source, dest = Path(folder) / "store.sqlite3", Path(folder) / "copy.sqlite3"
        seed(source, args.mb)
        results = [measure(m, source, dest) for m in ("idle", "steps", "one-step", "vacuum-into")]
    for r in results:
        print(
            f"{r['method']:<12} copy {r['copy_s']:>6.2f} s  commits {r['commits']:>6}  "
            f"median {r['median_ms']:>6.2f} ms  p99 {r['p99_ms']:>7.2f} ms  "
            f"max {r['max_ms']:>7.2f} ms"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
