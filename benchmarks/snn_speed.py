"""Speed of the snn target against the snnTorch tutorial loop, on identical weights.

For the two sample networks (``specs/mnist_fc.yaml``: 784-1000-10; ``specs/mnist_conv.yaml``:
12C5-MP2-64C5-MP2-FC10), batch 128, 25 time steps, two CPU threads, it times

* a training step: forward, loss (cross-entropy of the output membrane at every step), backward, Adam step;
* inference: forward under ``torch.no_grad``;

for four implementations built from the same ann module:

* ``snntorch loop`` — the tutorial: ``for step in range(T): cur = fc(x); spk, mem = lif(cur, mem)``, recording
  spikes and membrane (the baseline of the speed-up columns);
* ``snntorch loop + torch.compile`` — the same module through ``torch.compile``;
* ``snnc`` — ``ann_to_snn(gm)`` (default mode);
* ``snnc compile=True`` — ``ann_to_snn(gm, compile=True)``.

It compares every implementation's output spikes with the tutorial's and says which holds: ``identical``
(``torch.equal``), or how many spikes differ — with the largest membrane difference, which shows whether they are
equal within floating-point order (a different summation order moves a membrane that sits on the threshold) or
really differ. It then prints a table of medians and ratios (repetitions interleaved across implementations),
and the compile time of the compiled ones (first inference call and first training step), twice: **cold**, with
a fresh, empty ``TORCHINDUCTOR_CACHE_DIR`` in a temporary folder (what a first run on a new machine pays), and
**warm**, the same modules rebuilt after ``torch._dynamo.reset()`` with that cache filled (what every later run
pays). ``--cache-dir DIR`` uses DIR instead of a fresh one (then "cold" is only as cold as DIR is).

Usage::

    python benchmarks/snn_speed.py            # full run (several minutes; compiles four times)
    python benchmarks/snn_speed.py --quick    # few repetitions, no torch.compile variants
    python benchmarks/snn_speed.py --quick --compile --nets fc
    python benchmarks/snn_speed.py --device cuda  # on a GPU (auto: cuda when available); same table
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import surrogate
from torch import nn

import snnc
from snnc.compiler.targets.snn import ann_to_snn

SPECS = Path(__file__).resolve().parents[1] / "specs"
BATCH, STEPS = 128, 25


class TutorialFC(nn.Module):
    """snnTorch tutorial 5's loop (784-1000-10, Leaky beta 0.95, atan surrogate)."""

    def __init__(self, gm: nn.Module):
        super().__init__()
        self.fc1, self.fc2 = copy.deepcopy(gm.fc1), copy.deepcopy(gm.fc2)
        self.lif1, self.lif2 = snn.Leaky(beta=0.95), snn.Leaky(beta=0.95)

    def forward(self, x):
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        spk2_rec, mem2_rec = [], []
        for _ in range(STEPS):
            cur1 = self.fc1(x.flatten(1))
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


class TutorialConv(nn.Module):
    """snnTorch tutorial 6's loop (12C5-MP2-64C5-MP2-FC10, Leaky beta 0.5, fast sigmoid slope 25)."""

    def __init__(self, gm: nn.Module):
        super().__init__()
        self.conv1, self.conv2, self.fc1 = (copy.deepcopy(gm.conv1), copy.deepcopy(gm.conv2),
                                            copy.deepcopy(gm.fc1))
        grad = surrogate.fast_sigmoid(slope=25)
        self.lif1, self.lif2, self.lif3 = (snn.Leaky(beta=0.5, spike_grad=grad) for _ in range(3))

    def forward(self, x):
        mem1, mem2, mem3 = self.lif1.reset_mem(), self.lif2.reset_mem(), self.lif3.reset_mem()
        spk3_rec, mem3_rec = [], []
        for _ in range(STEPS):
            cur1 = F.max_pool2d(self.conv1(x), 2)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = F.max_pool2d(self.conv2(spk1), 2)
            spk2, mem2 = self.lif2(cur2, mem2)
            cur3 = self.fc1(spk2.flatten(1))
            spk3, mem3 = self.lif3(cur3, mem3)
            spk3_rec.append(spk3)
            mem3_rec.append(mem3)
        return torch.stack(spk3_rec), torch.stack(mem3_rec)


TUTORIALS = {"fc": TutorialFC, "conv": TutorialConv}


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _time_s(fn: Callable[[], None]) -> float:
    _sync()
    start = time.perf_counter()
    fn()
    _sync()  # Why: CUDA kernels run asynchronously; time them to completion
    return time.perf_counter() - start


def _steps(net: nn.Module, x: torch.Tensor, target: torch.Tensor):
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)

    def train():
        spk, mem = net(x)
        # The tutorials' loss, sum over steps of cross-entropy(mem[t]), computed in one call.
        loss = F.cross_entropy(mem.flatten(0, 1), target.repeat(mem.shape[0])) * mem.shape[0]
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            net(x)

    return train, infer


def bench_net(name: str, *, compiled: bool, warmup: int, reps: int, device: str = "cpu") -> list[dict]:
    """Time every implementation of one sample network; returns one row per implementation."""
    torch.manual_seed(0)
    gm = snnc.compile(snnc.load_spec(SPECS / f"mnist_{name}.yaml"))
    if name == "conv":
        # Why: at the initial scale (beta 0.5) the conv net's upper layers never fire, which would make the
        # spike check trivial; x3 gives trained-like firing (timing does not depend on it).
        with torch.no_grad():
            for layer in ("conv1", "conv2", "fc1"):
                gm.get_submodule(layer).weight.mul_(3.0)
    gm.to(device)
    x = torch.rand(BATCH, 1, 28, 28).to(device)
    target = torch.randint(0, 10, (BATCH,)).to(device)
    builders: dict[str, Callable[[], nn.Module]] = {
        "snntorch loop": lambda: TUTORIALS[name](gm).to(device),
        "snnc": lambda: ann_to_snn(gm),
    }
    if compiled:
        builders["snntorch loop + torch.compile"] = lambda: torch.compile(TUTORIALS[name](gm).to(device))
        builders["snnc compile=True"] = lambda: ann_to_snn(gm, compile=True)
    with torch.no_grad():
        want_spk, want_mem = TUTORIALS[name](gm).to(device)(x)
    rows, steps = [], []
    for label, build in builders.items():
        net = build()
        train, infer = _steps(net, x, target)
        row = {"net": name, "impl": label, "train": [], "infer": []}
        start = time.perf_counter()
        with torch.no_grad():
            spk, mem = net(x)
        _sync()
        first_infer = time.perf_counter() - start
        row.update(agreement(spk, mem, want_spk, want_mem))
        first_train = _time_s(train)
        if "compile" in label:
            row["cold_infer_s"], row["cold_train_s"] = first_infer, first_train
            torch._dynamo.reset()  # forget the compiled code in memory; the cache folder keeps what it wrote
            net = build()
            train, infer = _steps(net, x, target)
            row["warm_infer_s"] = _time_s(infer)
            row["warm_train_s"] = _time_s(train)
        for _ in range(warmup):
            train()
            infer()
        rows.append(row)
        steps.append((train, infer))
    for train, infer in steps:  # a later dynamo reset dropped earlier modules' compiled code: compile it again now
        train()
        infer()
    # Why interleaved: on a machine shared with other jobs, load changes over a run; alternating the
    # implementations exposes all of them to the same conditions.
    for _ in range(reps):
        for row, (train, infer) in zip(rows, steps):
            row["train"].append(_time_s(train))
            row["infer"].append(_time_s(infer))
    for row in rows:
        row["train_ms"] = statistics.median(row.pop("train")) * 1e3
        row["infer_ms"] = statistics.median(row.pop("infer")) * 1e3
    return rows


def agreement(spk: torch.Tensor, mem: torch.Tensor, want_spk: torch.Tensor, want_mem: torch.Tensor) -> dict:
    """How an implementation's output spikes compare with the tutorial loop's.

    Returns:
        ``differ`` (spikes that differ), ``spikes`` (elements compared), ``mem_diff`` (largest membrane
        difference) and ``same`` (the fraction of equal spikes).
    """
    differ = int((spk != want_spk).sum())
    return {"differ": differ, "spikes": want_spk.numel(), "same": 1 - differ / want_spk.numel(),
            "mem_diff": float((mem - want_mem).abs().max())}


def agreement_text(row: dict) -> str:
    """``identical``, or how many spikes differ and why (floating-point order or a real difference)."""
    if row["differ"] == 0 and row["mem_diff"] == 0:
        return "identical"
    if row["differ"] == 0:
        return f"same spikes; membrane max |Δ| {row['mem_diff']:.1e} (floating-point order)"
    why = "floating-point order" if row["mem_diff"] < 1e-3 else "NOT just floating-point order"
    return (f"{row['differ']:,} of {row['spikes']:,} spikes differ ({1 - row['same']:.4%}); membrane max |Δ| "
            f"{row['mem_diff']:.1e} ({why})")


def print_table(rows: list[dict]) -> None:
    """Print medians and speed-ups against the snnTorch loop of the same network."""
    base = {r["net"]: r for r in rows if r["impl"] == "snntorch loop"}
    head = (f"{'net':<5} {'implementation':<30} {'train ms':>9} {'x':>6} {'infer ms':>9} {'samples/s':>10} "
            f"{'x':>6}  output spikes against the loop")
    print(head)
    print("-" * len(head))
    for r in rows:
        b = base[r["net"]]
        print(f"{r['net']:<5} {r['impl']:<30} {r['train_ms']:9.1f} {b['train_ms'] / r['train_ms']:6.2f} "
              f"{r['infer_ms']:9.1f} {BATCH / r['infer_ms'] * 1e3:10.0f} {b['infer_ms'] / r['infer_ms']:6.2f}  "
              f"{agreement_text(r)}")
    cold = [r for r in rows if "cold_train_s" in r]
    if cold:
        print("\ncompile time (first call, includes the step itself); cold: empty TORCHINDUCTOR_CACHE_DIR, "
              "warm: the same modules again after torch._dynamo.reset(), cache filled:")
        for r in cold:
            print(f"  {r['net']:<5} {r['impl']:<30} cold: train {r['cold_train_s']:6.1f} s, inference "
                  f"{r['cold_infer_s']:6.1f} s   warm: train {r['warm_train_s']:6.1f} s, inference "
                  f"{r['warm_infer_s']:6.1f} s")


def main() -> None:
    """Parse the options, run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions; no torch.compile unless --compile")
    parser.add_argument("--compile", action="store_true", help="include the torch.compile variants with --quick")
    parser.add_argument("--nets", default="fc,conv", help="comma-separated: fc, conv")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                        help="where to run (auto: cuda when a GPU is visible)")
    parser.add_argument("--cache-dir", default=None, help="the inductor cache folder for the compiled variants "
                        "(default: a fresh, empty one in a temporary folder, removed afterwards)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    if args.device == "auto":
        args.device = "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is visible (torch.cuda.is_available() is False)")
    fresh = args.cache_dir is None
    cache = tempfile.mkdtemp(prefix="snnc-inductor-") if fresh else args.cache_dir
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache  # read when inductor first compiles, i.e. after this line
    try:
        run(args)
    finally:
        if fresh:
            shutil.rmtree(cache, ignore_errors=True)
    where = "a fresh, empty temporary folder (cold), then that folder filled (warm)" if fresh else cache
    if args.compile or not args.quick:
        print(f"\ninductor cache: {where}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end")


def run(args: argparse.Namespace) -> None:
    """Run the benchmark of the parsed options and print the table."""
    warmup, reps = (1, 5) if args.quick else (3, 15)
    compiled = args.compile or not args.quick
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"batch {BATCH}, {STEPS} steps, {where}, torch {torch.__version__}, "
          f"snntorch {snn.__version__}; medians of {reps} after {warmup} warm-up", flush=True)
    for name in args.nets.split(","):  # a table per net as soon as it is measured
        print()
        print_table(bench_net(name.strip(), compiled=compiled, warmup=warmup, reps=reps, device=args.device))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
