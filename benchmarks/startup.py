"""Start-up benchmark: wall time of everyday commands, run as a user runs them (a fresh process each time), side by
side with ``python -c "import pydantic"``.

    python benchmarks/startup.py [--repeat 7]

Prints the median, min and max over the repetitions, and each median as a multiple of ``import pydantic``'s, of

* ``snnc validate specs/mnist_conv.yaml`` (target: under 0.3 s on an idle machine) and
* ``snnc compile specs/ghostnet_dfc.yaml --target snn`` (target: under 3 s),

and, for reference, the same validation through the full typer command line (what ``snnc validate`` cost before
its fast path, ``snnc/quick.py``), the import time of ``snnc.cli``, ``import pydantic`` (the floor of any command
that validates a spec: the spec is pydantic models) and the interpreter's own start.

Why the ratio: the figures are wall times, and other jobs on the cores inflate them all; the multiple of
``import pydantic`` measured in the same run says how much snnc adds on top of its one unavoidable import, whatever
the load. The commands run round-robin (one run of each per repetition), so a burst of load falls on all of them
alike. Python's bytecode caches are present, as after ``pip install`` (which compiles them) or after the first run
of an editable install: the benchmark unsets ``PYTHONDONTWRITEBYTECODE`` (which some sandboxes set; an editable
install's modules are then compiled from source on every run, about 0.1-0.2 s more here) and discards the first
run of each command, which writes the caches and fills the page cache.
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

PYDANTIC = "python -c 'import pydantic'"
"""The reference every median is divided by."""

COMMANDS = [
    ("snnc validate specs/mnist_conv.yaml", ["-m", "snnc", "validate", "specs/mnist_conv.yaml"], 0.3),
    ("snnc compile specs/ghostnet_dfc.yaml --target snn",
     ["-m", "snnc", "compile", "specs/ghostnet_dfc.yaml", "--target", "snn"], 3.0),
    ("  the same through typer and rich (no fast path)",
     ["-c", "import gc, os, sys; gc.set_threshold(20_000, 10, 10); os.environ.setdefault('PYDANTIC_DISABLE_PLUGINS', "
      "'__all__'); sys.argv = ['snnc', 'validate', 'specs/mnist_conv.yaml']; from snnc.cli import main; main()"], None),
    ("python -c 'import snnc.cli'", ["-c", "import snnc.cli"], None),
    (PYDANTIC, ["-c", "import pydantic"], None),
    ("python -c pass (the interpreter alone)", ["-c", "pass"], None),
]


def environment() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``python argv`` (it must succeed).

    Why the CPU time too: on a loaded machine a process waits for a core and its wall time grows, while the CPU
    time it uses stays near what an idle machine's wall time would be (start-up is one thread).
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"python {' '.join(argv)} failed (exit status {proc.returncode})")
    return seconds, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per command (after one warm-up run)")
    args = parser.parse_args(argv)
    env = environment()
    for _, command, _ in COMMANDS:
        wall(command, env)  # warm-up: bytecode caches, page cache
    times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    for _ in range(args.repeat):
        for label, command, _ in COMMANDS:
            seconds, used = wall(command, env)
            times[label].append(seconds)
            cpu[label].append(used)
    reference = statistics.median(times[PYDANTIC])
    width = max(len(label) for label, _, _ in COMMANDS)
    print(f"{'command':{width}}  median s   min s   max s  × pydantic   cpu s  target  met")
    for label, _, target in COMMANDS:
        median, low, high = statistics.median(times[label]), min(times[label]), max(times[label])
        met = "" if target is None else ("yes" if median < target else "NO")
        goal = "" if target is None else f"< {target:g} s"
        print(f"{label:{width}}  {median:8.3f}  {low:6.3f}  {high:6.3f}  {median / reference:10.2f}  "
              f"{statistics.median(cpu[label]):6.3f}  {goal:6}  {met}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"({args.repeat} warm runs each, round-robin, python -m snnc; seconds of wall time, cpu s the median user + "
          f"system time; load average {load:.2f} at the end; {time.strftime('%Y-%m-%d %H:%M')})")


if __name__ == "__main__":
    main()
