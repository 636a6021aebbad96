"""Start-up benchmark: wall time of two everyday commands, run as a user runs them (a fresh process each time).

    python benchmarks/startup.py [--repeat 7]

Prints the median, min and max over the repetitions of

* ``snnc validate specs/mnist_conv.yaml`` (target: under 0.3 s) and
* ``snnc compile specs/ghostnet_dfc.yaml --target snn`` (target: under 3 s),

and, for reference, the same validation through the full typer command line (what ``snnc validate`` cost before
its fast path, ``snnc/quick.py``), the import time of ``snnc.cli`` and the interpreter's own start. Python's bytecode caches are
present, as after ``pip install`` (which compiles them) or after the first run of an editable install: the
benchmark unsets ``PYTHONDONTWRITEBYTECODE`` (which some sandboxes set; an editable install's modules are then
compiled from source on every run, about 0.1-0.2 s more here) and discards the first run of each command, which
writes the caches and fills the page cache. Run it on an idle machine: the figures are wall times and other jobs on
the cores inflate them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = [
    ("snnc validate specs/mnist_conv.yaml", ["-m", "snnc", "validate", "specs/mnist_conv.yaml"], 0.3),
    ("snnc compile specs/ghostnet_dfc.yaml --target snn",
     ["-m", "snnc", "compile", "specs/ghostnet_dfc.yaml", "--target", "snn"], 3.0),
    ("  the same through typer and rich (no fast path)",
     ["-c", "import gc, os, sys; gc.set_threshold(20_000, 10, 10); os.environ.setdefault('PYDANTIC_DISABLE_PLUGINS', "
      "'__all__'); sys.argv = ['snnc', 'validate', 'specs/mnist_conv.yaml']; from snnc.cli import main; main()"], None),
    ("python -c 'import snnc.cli'", ["-c", "import snnc.cli"], None),
    ("python -c pass (the interpreter alone)", ["-c", "pass"], None),
]


def environment() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``python argv`` takes (it must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command (after one warm-up run)")
    args = parser.parse_args(argv)
    rows = []
    env = environment()
    for label, command, target in COMMANDS:
        wall(command, env)  # warm-up: bytecode caches, page cache
        times = [wall(command, env) for _ in range(args.repeat)]
        rows.append((label, statistics.median(times), min(times), max(times), target))
    width = max(len(r[0]) for r in rows)
    print(f"{'command':{width}}  median s   min s   max s  target  met")
    for label, median, low, high, target in rows:
        met = "" if target is None else ("yes" if median < target else "NO")
        goal = "" if target is None else f"< {target:g} s"
        print(f"{label:{width}}  {median:8.3f}  {low:6.3f}  {high:6.3f}  {goal:6}  {met}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"({args.repeat} warm runs each, wall seconds, python -m snnc; load average {load:.2f} at the end; "
          f"{time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
