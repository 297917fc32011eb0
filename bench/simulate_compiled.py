"""``simulate`` with its modules compiled by mypyc, against the pure-Python modules, in one run.

An experiment, not a build the project ships: ``src/`` is copied into a temporary folder, two
sets of the simulate path's modules are compiled there in place (``python -m mypyc``, the
mypyc of the pinned mypy; needs a C compiler and the Python headers), and each copy is put
first on ``PYTHONPATH`` in turn with the working tree's own ``src/``:

* ``no_structs``: the modules that define no msgspec Struct (the engine, the report's
  outcomes, the gates, the calendar, addresses, the events file, the rules' zones and tiers).
* ``with_structs``: those and the domain modules that define Structs (``cart``, ``decide``,
  ``timers``, ``wakeup``). mypyc does not pass a class's keywords to msgspec's metaclass, so
  there those Structs are neither frozen nor ``gc=False`` (``model`` is left out: its
  ``kw_only`` Structs do not even import compiled).

The copy's ``simulation/engine.py`` gets two edits mypyc needs (the pure modules stay as they
are): ``RememberedTiers`` subclasses ``Rules``, a dataclass of a module left uncompiled, so it
is marked ``@mypyc_attr(native_class=False)`` and imports ``Rules`` from its own module.
Compiling ``domain/rules/model.py`` as well is no way out: its dataclass defaults then read
back as descriptors.

Each round runs the real command (``python -m cart_recovery simulate FILE --json
--no-progress``) once per variant, then the read floor, pinned to one CPU; every report
must be identical to the pure one byte for byte.

    python -m bench.simulate_compiled [N] [--runs K] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.simulate import ROOT, month, read_floor
from bench.simulate_ab import _one

NO_STRUCTS = [
    "simulation/engine.py",
    "simulation/outcomes.py",
    "simulation/events_file.py",
    "domain/gates.py",
    "domain/calendar.py",
    "domain/address.py",
    "domain/rules/zones.py",
    "domain/rules/tiers.py",
]
WITH_STRUCTS = [
    *NO_STRUCTS,
    "domain/cart.py",
    "domain/decide.py",
    "domain/timers.py",
    "domain/wakeup.py",
]
VARIANTS = {"no_structs": NO_STRUCTS, "with_structs": WITH_STRUCTS}

ENGINE_EDITS = [
    (
        "from cart_recovery.domain.rules import Rules, SizeTier, zone_named\n",
        "from mypy_extensions import mypyc_attr\n\n"
        "from cart_recovery.domain.rules import zone_named\n"
        "from cart_recovery.domain.rules.model import Rules, SizeTier\n",
    ),
    (
        "@dataclass(frozen=True)\nclass RememberedTiers(Rules):",
        "@mypyc_attr(native_class=False)\n@dataclass(frozen=True)\nclass RememberedTiers(Rules):",
    ),
]


def build(into: Path, modules: list[str]) -> Path:
    """A copy of ``src/`` below ``into`` with ``modules`` compiled in place; the folder to put
    on the path."""
    src = into / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    engine = src / "cart_recovery" / "simulation" / "engine.py"
    text = engine.read_text()
    for old, new in ENGINE_EDITS:
        if old not in text:
            raise RuntimeError(f"simulation/engine.py no longer has {old!r}: update ENGINE_EDITS")
        text = text.replace(old, new, 1)
    engine.write_text(text)
    paths = [f"cart_recovery/{m}" for m in modules]
    env = {**os.environ, "MYPYPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-m", "mypyc", *paths], cwd=src, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"mypyc failed:\n{(done.stdout + done.stderr)[-3000:]}")
    for m in paths:
        stem = m.removesuffix(".py")
        if not list(src.glob(f"{stem}.*.so")):
            raise RuntimeError(f"{m} was not compiled")
    return src


def struct_keywords_kept(src: Path) -> bool:
    """Whether the copy's ``Send`` plan is still a frozen, ``gc=False`` Struct."""
    probe = (
        "from cart_recovery.domain.wakeup import Send\n"
        "c = Send.__struct_config__\n"
        "print(c.frozen and not c.gc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip() == "True"


def spread(xs: list[float]) -> dict[str, float]:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def compare(n: int, runs: int) -> dict[str, Any]:
    path, events = month(n)
    with tempfile.TemporaryDirectory(prefix="bench-simulate-compiled-") as tmp:
        srcs = {"pure": ROOT / "src"}
        for name, modules in VARIANTS.items():
            srcs[name] = build(Path(tmp) / name, modules)
        kept = {name: struct_keywords_kept(src) for name, src in srcs.items()}
        out = Path(tmp) / "out.json"
        cpu: dict[str, list[float]] = {name: [] for name in srcs}
        floor: list[float] = []
        digest = ""
        for _ in range(runs):
            for name, src in srcs.items():
                seconds, sha = _one(path, src, out)
                if name == "pure":
                    digest = sha
                elif sha != digest:
                    raise RuntimeError(f"{name}: the report differs ({sha[:12]}, {digest[:12]})")
                cpu[name].append(seconds)
            floor.append(read_floor(n)["cpu_seconds"])
    result: dict[str, Any] = {
        "carts": n,
        "events": events,
        "runs": runs,
        "report_sha256": digest,
        "identical_reports": True,
        "read_floor_cpu_seconds": spread(floor),
    }
    for name in srcs:
        result[name] = {
            "modules": VARIANTS.get(name, []),
            "struct_keywords_kept": kept[name],
            "cpu_seconds": spread(cpu[name]),
            "speedup_over_pure": spread(
                [p / c for p, c in zip(cpu["pure"], cpu[name], strict=True)]
            ),
            "over_read_floor": spread([f / c for f, c in zip(floor, cpu[name], strict=True)]),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="carts (100,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = compare(args.n, args.runs)
    for name in ("pure", *VARIANTS):
        r = result[name]
        for key in ("cpu_seconds", "speedup_over_pure", "over_read_floor"):
            s = r[key]
            print(
                f"{name:12} {key:18} min {s['min']:8.3f}  median {s['median']:8.3f}"
                f"  max {s['max']:8.3f}"
            )
        print(f"{name:12} Struct keywords kept: {r['struct_keywords_kept']}")
    print(f"reports identical, sha256 {result['report_sha256']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
