"""Speed of one burst-converted time step against one ANN forward pass, side by side.

For ``specs/mnist_conv.yaml`` (12C5-MP2-64C5-MP2-FC10) and the Fashion-MNIST VGG of
``examples/burst_fashion_mnist.py`` (three conv-BN-ReLU-maxpool blocks, width 16), each converted with Γ = 3
on 256 calibration images, it times on one batch of images (default 500):

Each is timed by the wall clock and by the process's CPU time (with one thread, the default, the CPU time is
the work done and hardly changes when other jobs share the machine; the wall clock does). It also prints the
minor page faults per call: a fresh multi-megabyte activation costs one per 4 KiB page on its first write, and
how many depends on the C allocator's state, so the ANN's time varies with it from run to run.

* ``ann`` — one forward pass of the ANN under ``torch.no_grad`` (the baseline of the ratio columns);
* ``burst step`` — ``BurstSNN.accumulate(x, [T])`` divided by ``T`` (the fast path: the layers before the
  first neuron once, the rest step by step or on folded time);
* ``step()`` loop — ``T`` calls of ``BurstSNN.step(x)``, which run the whole network at every step (the
  execution before the fast path), divided by ``T``.

It checks that the fast path's per-step outputs equal the ``step()`` loop's exactly (``torch.equal``), then
prints medians (repetitions interleaved) and ratios. Weights are the models' seeded initialisation and the
images random (timing does not depend on either: every op is dense).

Usage::

    python benchmarks/burst_speed.py                 # both nets, batch 500, T = 32, 7 repetitions
    python benchmarks/burst_speed.py --quick         # 3 repetitions, T = 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import torch
from torch import nn

import snnc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from burst_fashion_mnist import VGGNet  # noqa: E402

NETS: dict[str, Callable[[], nn.Module]] = {
    "mnist_conv": lambda: snnc.compile(ROOT / "specs" / "mnist_conv.yaml", target="ann"),
    "fashion_vgg": lambda: VGGNet(width=16),
}


def _faults() -> int:
    """Minor page faults of this process so far (0 where the platform does not count them)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


def _time_s(fn: Callable[[], object]) -> tuple[float, float, int]:
    """(wall-clock seconds, process CPU seconds, minor page faults) of one call."""
    faults, wall, cpu = _faults(), time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu, _faults() - faults


def bench(name: str, batch: int, steps: int, reps: int, gamma: int) -> dict:
    """Time the ANN, the burst step and the ``step()`` loop of one network; returns medians in ms."""
    torch.manual_seed(0)
    ann = NETS[name]().eval()
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    snn = snnc.convert(ann, torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(2)), gamma=gamma)

    def loop() -> torch.Tensor:
        snn.reset()
        return torch.stack([snn.step(x) for _ in range(steps)])

    with torch.no_grad():
        identical = torch.equal(snn(x, timesteps=steps, return_steps=True), loop())
        runs = {"ann": lambda: ann(x), "burst": lambda: snn.accumulate(x, [steps]), "loop": loop}
        for fn in runs.values():
            fn()  # warm-up
        times: dict[str, list[tuple[float, float, int]]] = {k: [] for k in runs}
        for _ in range(reps):  # interleaved: a shared machine's load changes over a run
            for key, fn in runs.items():
                times[key].append(_time_s(fn))
    row = {"net": name, "identical": identical}
    for i, clock in enumerate(("wall", "cpu")):
        med = {k: statistics.median(t[i] for t in v) * 1e3 for k, v in times.items()}
        row[clock] = {"ann_ms": med["ann"], "step_ms": med["burst"] / steps, "loop_ms": med["loop"] / steps}
    row["faults"] = {"ann": statistics.median(t[2] for t in times["ann"]),
                     "step": statistics.median(t[2] for t in times["burst"]) / steps}
    return row


def print_table(rows: list[dict]) -> None:
    """Print the medians and the ratios to the ANN forward pass."""
    head = (f"{'net':<12} {'clock':<5} {'ANN forward ms':>15} {'burst step ms':>14} {'x ANN':>6} "
            f"{'step() loop ms':>15} {'x ANN':>6}  outputs")
    print(head)
    print("-" * len(head))
    for r in rows:
        for clock in ("wall", "cpu"):
            m = r[clock]
            print(f"{r['net']:<12} {clock:<5} {m['ann_ms']:15.1f} {m['step_ms']:14.1f} "
                  f"{m['step_ms'] / m['ann_ms']:6.2f} {m['loop_ms']:15.1f} {m['loop_ms'] / m['ann_ms']:6.2f}  "
                  f"{'identical' if r['identical'] else 'DIFFER'}")
    print("\nminor page faults (medians; the first write to fresh memory, which the allocator's state decides): " +
          "; ".join(f"{r['net']}: ANN forward {r['faults']['ann']:,.0f}, burst step {r['faults']['step']:,.0f}"
                    for r in rows))


def main() -> None:
    """Parse the options, run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions, T = 8")
    parser.add_argument("--nets", default=",".join(NETS), help="comma-separated: " + ", ".join(NETS))
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--timesteps", type=int, default=None, help="T (default 32; 8 with --quick)")
    parser.add_argument("--gamma", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the CPU-time column is then "
                        "the work done, unaffected by other jobs' load)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = args.timesteps or (8 if args.quick else 32)
    reps = 3 if args.quick else 7
    rows = [bench(n.strip(), args.batch, steps, reps, args.gamma) for n in args.nets.split(",")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"batch {args.batch}, T = {steps}, Γ = {args.gamma}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}; medians of {reps} (interleaved) after a warm-up; load average {load:.1f} on "
          f"{os.cpu_count()} CPUs at the end\n")
    print_table(rows)


if __name__ == "__main__":
    main()
