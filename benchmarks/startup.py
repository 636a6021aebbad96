"""Start-up benchmark: wall time of two everyday commands, run as a user runs them (a fresh process each time).

    python benchmarks/startup.py [--repeat 7]

Prints the median, min and max over the repetitions of

* ``snnc validate specs/mnist_conv.yaml`` (target: under 0.3 s) and
* ``snnc compile specs/ghostnet_dfc.yaml --target snn`` (target: under 3 s),

and the import time of ``snnc.cli`` alone, each in two cache states:

* ``pyc``: Python's bytecode caches present, as after ``pip install`` (which compiles them) or after the first
  run of an editable install. This is the state the targets are for.
* ``no pyc``: ``PYTHONDONTWRITEBYTECODE=1`` as some sandboxes set it: an editable install's modules are then
  compiled from source on every run (the packages pip installed keep their caches).

The first run of each command in each state is discarded (it fills the page cache and, for ``pyc``, writes the
caches). Run it on an idle machine: the figures are wall times and other jobs on the cores inflate them.
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
    ("python -c 'import snnc.cli'", ["-c", "import snnc.cli"], None),
    ("python -c pass (the interpreter alone)", ["-c", "pass"], None),
]


def environment(bytecode: bool) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "120"}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``python argv`` takes (it must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command and state (after one "
                                                               "warm-up run)")
    args = parser.parse_args(argv)
    rows = []
    for label, command, target in COMMANDS:
        medians = []
        for bytecode in (True, False):
            env = environment(bytecode)
            wall(command, env)  # warm-up: page cache, bytecode caches
            times = [wall(command, env) for _ in range(args.repeat)]
            medians.append((statistics.median(times), min(times), max(times)))
        rows.append((label, medians, target))
    width = max(len(r[0]) for r in rows)
    print(f"{'command':{width}}  {'pyc: median':>11}  {'min':>6}  {'max':>6}  {'no pyc: median':>14}  target  met")
    for label, ((med, low, high), (med_n, _, _)), target in rows:
        met = "" if target is None else ("yes" if med < target else "NO")
        goal = "" if target is None else f"< {target:g} s"
        print(f"{label:{width}}  {med:11.3f}  {low:6.3f}  {high:6.3f}  {med_n:14.3f}  {goal:6}  {met}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"({args.repeat} warm runs each, wall seconds, python -m snnc; load average {load:.2f} at the end; "
          f"{time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
