"""Benchmark 1: signed cart events over real HTTP vs a bare ASGI app under the same server.

* ``ingest.real``: ``python -m cart_recovery serve`` (SQLite in WAL, ``synchronous=FULL``,
  mail to the outbox folder, a clock fixed to a weekday morning so no reminder falls due)
  receives pre-signed ``POST /webhooks/cart`` requests on 127.0.0.1, every one a distinct
  ``cart.updated`` event of a distinct cart. The webhook answers 2xx only after the commit
  that holds the event. After the run, the number of events answered ``accepted`` must equal
  the rows in the ``events`` table (and the carts), or the run fails.
* ``ingest.bare_asgi``: ``bench/bare_asgi.py``, an ASGI app that answers 200 with an empty
  body without reading the request, under the same server with the same options, sent the
  same signed requests.

The load comes from wrk (``bench/ingest.lua``) with the same threads, connections and
duration for both sides. The requests are signed beforehand in Python (the signing is not
part of the load), one file per wrk thread. Each wrk thread sends for the duration, then
waits for every answer before it stops, so every request sent is answered and counted. On a
machine with two or more CPUs the server is pinned to CPU 0 and wrk to CPU 1.

Each figure: ``rate`` (answered requests per second; for the real side only the ones answered
``accepted``), ``p50_ms`` / ``p90_ms`` / ``p99_ms`` / ``max_ms`` (wrk's latency histogram),
``count`` and ``seconds`` (first request sent to last answer received).

    python -m bench.ingest [--seconds 10] [--quick] [--connections 64] [--threads 1] [--normal]
                           [--profile stacks.txt] [--src OTHER_CHECKOUT/src]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reliability.service import free_port

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_name("ingest.lua")
PATH = "/webhooks/cart"

SECRET = "bench-webhook-secret-0123456789abcdef"
T0 = datetime(2026, 5, 12, 14, 0, tzinfo=UTC)  # 10:00 in New York: a $120 cart is due at 12:00

FULL_SECONDS = 10.0
QUICK_SECONDS = 3.0
# One wrk thread: wrk is pinned to the one CPU the server does not use, where a second thread
# adds nothing but switching. 64 connections: enough concurrent requests for the webhook's
# group commit to fill its batches, as a busy storefront's workers would.
THREADS = 1
CONNECTIONS = 64
# Requests signed per second of the run for the real side (each is sent at most once): well
# above what the real service answers here (and above 0.5x the bare app's rate), so the run
# is time-bound; were it ever reached, the run just ends early (the rate is per second of what
# was sent). Signing 30,000 a second of a 10-second run takes about 1.5 s, before the load.
MAX_RATE = 30_000
WRAP_REQUESTS = 2_000  # the bare side sends the same requests round and round
SERVER_CPU = 0
LOAD_CPU = 1


def _pinned(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _cpus(pin: bool) -> tuple[int | None, int | None]:
    """(server CPU, load CPU), or no pinning on a single-CPU machine or when not asked."""
    if not pin or not hasattr(os, "sched_setaffinity"):
        return None, None
    usable = os.sched_getaffinity(0)
    if {SERVER_CPU, LOAD_CPU} <= usable:
        return SERVER_CPU, LOAD_CPU
    return None, None


def cpu_usage(pid: int) -> dict[str, Any]:
    """User and system CPU seconds and context switches of a process so far, summed over its
    threads, and each thread's CPU seconds under ``threads`` (by thread id; Linux; zeros
    elsewhere)."""
    out: dict[str, Any] = {"user": 0.0, "system": 0.0, "voluntary": 0.0, "involuntary": 0.0}
    threads: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir() if tasks.is_dir() else ():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except OSError:
            continue
        user, system = int(fields[11]) / tick, int(fields[12]) / tick
        out["user"] += user
        out["system"] += system
        threads[task.name] = user + system
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                out["voluntary"] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                out["involuntary"] += int(line.split()[1])
    out["threads"] = threads
    return out


def _used(before: dict[str, Any], after: dict[str, Any], pid: int) -> dict[str, Any]:
    """What the process used between two ``cpu_usage`` readings; ``threads``: the CPU seconds
    of its main thread (the event loop) and of its two busiest other threads."""
    used: dict[str, Any] = {k: round(after[k] - before[k], 3) for k in before if k != "threads"}
    per = {
        tid: seconds - before["threads"].get(tid, 0.0) for tid, seconds in after["threads"].items()
    }
    main = per.pop(str(pid), 0.0)
    others = sorted(per.values(), reverse=True)[:2]
    used["threads"] = [round(s, 3) for s in (main, *others)]
    return used


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


class Server:
    """A server process on 127.0.0.1 that is up once ``GET health`` answers 200."""

    def __init__(
        self, argv: list[str], env: dict[str, str], port: int, health: str, log: Path
    ) -> None:
        self.argv = argv
        self.env = env
        self.port = port
        self.health = health
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, cpu: int | None) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
                preexec_fn=_pinned(cpu),  # before any thread starts here
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(self.port, self.health) == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv} exited with {self.proc.returncode}: {self.tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv} did not answer in 60 s: {self.tail()}")

    def tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _body(tag: str, k: int) -> bytes:
    cart = f"cart-{tag}-{k:07d}"
    return (
        f'{{"event_id":"ev-{tag}-{k}","type":"cart.updated","cart_id":"{cart}",'
        f'"occurred_at":"2026-05-12T14:00:00Z","email":"shopper-{tag}-{k}@example.com",'
        '"name":"Maya","items":[{"title":"Linen shirt","quantity":1,"unit_price":"120.00",'
        '"url":"https://shop.example/p/linen-shirt"}],"total":"120.00","currency":"USD",'
        f'"return_url":"https://shop.example/cart/{cart}","timezone":"America/New_York"}}'
    ).encode()


def write_requests(prefix: Path, threads: int, per_thread: int, timestamp: int) -> int:
    """``per_thread`` signed requests for each wrk thread, each a distinct event and cart, in
    ``<prefix><thread>.txt``; returns how many in all."""
    key = SECRET.encode()
    head = f"{timestamp}.".encode()
    for t in range(1, threads + 1):
        lines = []
        for k in range(per_thread):
            body = _body(f"t{t}", k)
            mac = hmac.new(key, head + body, hashlib.sha256).hexdigest()
            lines.append(b"%d %s %s\n" % (timestamp, mac.encode(), body))
        Path(f"{prefix}{t}.txt").write_bytes(b"".join(lines))
    return threads * per_thread


def run_wrk(
    port: int,
    prefix: Path,
    *,
    seconds: float,
    wrap: bool,
    threads: int,
    connections: int,
    cpu: int | None,
    work: Path,
) -> dict[str, Any]:
    """One wrk run (see ingest.lua); ends as soon as every thread has had all its answers."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    done_dir = work / f"done-{port}"
    done_dir.mkdir()
    slack = 60  # time to load the request files, and to drain; wrk is stopped early anyway
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{math.ceil(seconds) + slack}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}{PATH}",
        "--",
        str(prefix),
        repr(seconds),
        "wrap" if wrap else "once",
        str(math.ceil(connections / threads)),
        str(done_dir),
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_pinned(cpu),
    )
    while proc.poll() is None and len(list(done_dir.iterdir())) < threads:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # wrk then stops its threads and reports at once
    out, err = proc.communicate(timeout=60)
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("INGEST_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("INGEST_RESULT "))
            return result
    raise RuntimeError(f"wrk reported nothing (exit {proc.returncode}): {out!r} {err!r}")


def _figure(w: dict[str, Any], count: int, **extra: Any) -> dict[str, Any]:
    errors = {k: v for k, v in w["errors"].items() if v}
    if w["finished_threads"] != w["threads"] or w["answered"] != w["sent"] or errors:
        raise RuntimeError(f"the load run did not complete cleanly: {w}")
    seconds = float(w["seconds"])
    cpu = w["server"]["user"] + w["server"]["system"]
    return {
        "rate": count / seconds,
        "count": count,
        "seconds": seconds,
        "p50_ms": w["p50_us"] / 1000,
        "p90_ms": w["p90_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "max_ms": w["max_us"] / 1000,
        "mean_ms": w["mean_us"] / 1000,
        "sent": w["sent"],
        # the server's CPU time over the run (user + system, all threads): the share of a CPU
        # it got (below 1: it waited for the load, or other work had the CPU) and per request
        "server_cpu_share": cpu / seconds,
        "server_cpu_us_per_request": 1e6 * cpu / max(count, 1),
        "server_cpu": w["server"],
        # per event: the event loop's thread, then the two busiest others (the writer, the sync)
        "server_cpu_us_per_request_by_thread": [
            round(1e6 * t / max(count, 1), 1) for t in w["server"]["threads"]
        ],
        **extra,
    }


def bare_asgi(
    seconds: float, *, threads: int, connections: int, pin: bool, work: Path
) -> dict[str, Any]:
    """The baseline: the bare app under the same server, the same signed requests."""
    server_cpu, load_cpu = _cpus(pin)
    port = free_port()
    prefix = work / "bare-requests-"
    write_requests(prefix, threads, WRAP_REQUESTS, int(time.time()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CART_RECOVERY_")}
    server = Server(
        [sys.executable, "-m", "bench.bare_asgi", "--port", str(port)],
        env,
        port,
        "/",
        work / "bare.log",
    )
    server.start(server_cpu)
    try:
        cpu0 = cpu_usage(server.pid)
        w = run_wrk(
            port,
            prefix,
            seconds=seconds,
            wrap=True,
            threads=threads,
            connections=connections,
            cpu=load_cpu,
            work=work,
        )
        w["server"] = _used(cpu0, cpu_usage(server.pid), server.pid)
    finally:
        server.stop()
    if w["ok"] != w["answered"]:
        raise RuntimeError(f"the bare app answered {w['other']} requests with an error: {w}")
    return _figure(w, w["ok"], connections=connections, threads=threads, pinned=pin)


def _stored(database: Path) -> tuple[int, int]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        carts = conn.execute("SELECT count(*) FROM carts").fetchone()[0]
    finally:
        conn.close()
    return int(events), int(carts)


def real(
    seconds: float,
    *,
    threads: int,
    connections: int,
    pin: bool,
    work: Path,
    synchronous: str = "FULL",
    profile: Path | None = None,
    src: Path | None = None,
) -> dict[str, Any]:
    """The real service: every accepted answer must be a stored event. With ``profile``,
    py-spy samples the service during the load and writes collapsed stacks there."""
    server_cpu, load_cpu = _cpus(pin)
    port = free_port()
    data = work / "data"
    data.mkdir()
    (data / "config.toml").write_text(
        f'webhook_secrets = ["{SECRET}"]\n'
        'signing_key = "bench-signing-key-0123456789abcdef"\n'
        'admin_token = "bench-admin-token-0123456789"\n'
        f'sqlite_synchronous = "{synchronous}"\n',
        encoding="utf-8",
    )
    origin = time.time()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CART_RECOVERY_")}
    env.update(
        {
            "CART_RECOVERY_DATA_DIR": str(data),
            "CART_RECOVERY_HOST": "127.0.0.1",
            "CART_RECOVERY_PORT": str(port),
            # real time from T0 on: nothing falls due for an hour after the first event
            "CART_RECOVERY_CLOCK": f"{T0.isoformat()}@{origin}*1",
        }
    )
    if src is not None:  # the service from another checkout (to compare two versions)
        env["PYTHONPATH"] = os.pathsep.join([str(src.resolve()), env.get("PYTHONPATH", "")])
    server = Server(
        [sys.executable, "-m", "cart_recovery", "serve"], env, port, "/healthz", work / "real.log"
    )
    server.start(server_cpu)
    try:
        per_thread = max(4 * connections, math.ceil(seconds * MAX_RATE / threads))
        # the service's clock is T0 + (now - origin): sign with its current time, so the
        # requests stay inside the 5-minute replay window for the whole run
        timestamp = int(T0.timestamp() + (time.time() - origin))
        prefix = work / "real-requests-"
        signed = write_requests(prefix, threads, per_thread, timestamp)
        spy = None
        if profile is not None and server.proc is not None:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(server.proc.pid),
                    "--threads",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--duration",
                    str(math.ceil(seconds)),
                    "-o",
                    str(profile),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        cpu0 = cpu_usage(server.pid)
        w = run_wrk(
            port,
            prefix,
            seconds=seconds,
            wrap=False,
            threads=threads,
            connections=connections,
            cpu=load_cpu,
            work=work,
        )
        w["server"] = _used(cpu0, cpu_usage(server.pid), server.pid)
        events, carts = _stored(data / "cart-recovery.sqlite3")
        if spy is not None:
            spy.wait(timeout=60)
    finally:
        server.stop()
    if w["other"] or w["duplicate"] or w["accepted"] != w["answered"]:
        raise RuntimeError(
            f"the service refused or repeated events: {w['other']} not 2xx, "
            f"{w['duplicate']} duplicates of {w['answered']}; see {server.log_path}"
        )
    if not events == carts == w["accepted"]:
        raise RuntimeError(
            f"{w['accepted']} events answered accepted but {events} events and {carts} carts stored"
        )
    return _figure(
        w,
        w["accepted"],
        stored=events,
        signed=signed,
        synchronous=synchronous,
        connections=connections,
        threads=threads,
        pinned=pin,
    )


def run_once(
    seconds: float | None = None,
    *,
    quick: bool = False,
    threads: int = THREADS,
    connections: int = CONNECTIONS,
    pin: bool = True,
    profile: Path | None = None,
    src: Path | None = None,
    normal: bool = False,
) -> dict[str, dict[str, Any]]:
    """One run of both figures, side by side (``seconds`` of load each; by default 10, or 3
    with ``quick``); with ``normal`` also ``ingest.real_normal``, the service at
    ``synchronous=NORMAL`` (no fsync per commit: how much of the cost is the sync)."""
    if seconds is None:
        seconds = QUICK_SECONDS if quick else FULL_SECONDS
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        (work / "bare").mkdir()
        (work / "real").mkdir()
        kw: dict[str, Any] = {"threads": threads, "connections": connections, "pin": pin}
        out = {
            "ingest.bare_asgi": bare_asgi(seconds, work=work / "bare", **kw),
            "ingest.real": real(seconds, work=work / "real", profile=profile, src=src, **kw),
        }
        if normal:
            (work / "normal").mkdir()
            out["ingest.real_normal"] = real(
                seconds, work=work / "normal", synchronous="NORMAL", src=src, **kw
            )
        return out


RATIOS = {"ingest real/bare_asgi": ("ingest.real", "ingest.bare_asgi")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="load per side")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per side")
    parser.add_argument("--threads", type=int, default=THREADS, help="wrk threads")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy's collapsed stacks of the service"
    )
    parser.add_argument(
        "--normal", action="store_true", help="also the service at synchronous=NORMAL"
    )
    parser.add_argument(
        "--src", type=Path, default=None, help="run the service from this src folder instead"
    )
    args = parser.parse_args(argv)
    out = run_once(
        args.seconds,
        quick=args.quick,
        threads=args.threads,
        connections=args.connections,
        pin=not args.no_pin,
        profile=args.profile,
        src=args.src,
        normal=args.normal,
    )
    ratios = {
        label: out[top]["rate"] / out[bottom]["rate"] for label, (top, bottom) in RATIOS.items()
    }
    print(json.dumps({"figures": out, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
