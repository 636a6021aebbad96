"""Peak memory and step time of one training step of ``mnist_conv`` over long time windows.

For T = 25, 50, 100, 200 (batch 128, two CPU threads) it runs one training step (forward, snnTorch's
``ce_rate_loss`` — the default loss of rate decoding —, backward, Adam step) of ``ann_to_snn(gm)`` with

* ``plain`` — full backpropagation through time (every step's activations kept for the backward pass);
* ``checkpoint`` — ``checkpoint_time=True``: each chunk of steps is recomputed in the backward pass;
* ``tbptt K`` — ``tbptt=K``: the neuron states are detached every K steps (approximate gradient);
* ``tbptt K + checkpoint`` — both.

How memory is measured: every configuration runs in a fresh Python process (``--child``), which builds the
network, runs a warm-up step at T = 1 (so that one-off allocations — thread pools, oneDNN primitives, Adam's
state — are not counted), reads its resident set size (``VmRSS``), resets the kernel's high-water mark
(``echo 5 > /proc/self/clear_refs``, Linux ≥ 4.0), runs the measured step and reads the high-water mark
(``VmHWM``). Peak = VmHWM − VmRSS before the step: the peak resident memory above the loaded model, counted
by the kernel itself (no sampling gaps, every allocator included). Step time: the median of that step and
``--reps`` more in the same process.

Usage::

    python benchmarks/snn_memory.py                 # T = 25, 50, 100, 200; all four configurations
    python benchmarks/snn_memory.py --quick         # T = 25, 50; one step each
    python benchmarks/snn_memory.py --steps 100 --configs plain,checkpoint
    python benchmarks/snn_memory.py --interleaved --steps 25 --reps 5   # step-time ratios only, in turn
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SPECS = Path(__file__).resolve().parents[1] / "specs"
ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
TBPTT = 25
CONFIGS = {
    "plain": {},
    "checkpoint": {"checkpoint_time": True},
    f"tbptt {TBPTT}": {"tbptt": TBPTT},
    f"tbptt {TBPTT} + checkpoint": {"tbptt": TBPTT, "checkpoint_time": True},
}
"""Configuration name → ``ann_to_snn`` options."""


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}: this benchmark needs Linux")


def _stepper(config: str, threads: int, device: str):
    """A network of ``config`` at T = 1 and a function running one training step of it."""
    import snntorch.functional as SF
    import torch

    import snnc
    from snnc.compiler.targets.snn import ann_to_snn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    gm = snnc.compile(snnc.load_spec(SPECS / "mnist_conv.yaml"))
    with torch.no_grad():  # Why: trained-like firing rates (at the initial scale the upper layers are silent)
        for layer in ("conv1", "conv2", "fc1"):
            gm.get_submodule(layer).weight.mul_(3.0)
    net = ann_to_snn(gm, timesteps=1, **CONFIGS[config]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    loss_fn = SF.ce_rate_loss()
    x = torch.rand(BATCH, 1, 28, 28, device=device)
    target = torch.randint(0, 10, (BATCH,), device=device)

    def step() -> None:
        spk, _ = net(x)
        loss = loss_fn(spk, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return net, step


def interleaved(steps: int, configs: list[str], reps: int, threads: int, device: str) -> dict[str, float]:
    """Median step seconds of each configuration, timed in turn in this process (fairer on a busy machine)."""
    runs = {}
    for config in configs:
        net, step = _stepper(config, threads, device)
        net.timesteps = steps
        step()
        runs[config] = (step, [])
    for _ in range(reps):
        for step, times in runs.values():
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return {config: statistics.median(times) for config, (_, times) in runs.items()}


def child(steps: int, config: str, reps: int, threads: int, device: str) -> dict:
    """Measure one configuration in this (fresh) process; returns peak MiB and median step seconds."""
    import torch

    net, step = _stepper(config, threads, device)
    step()  # warm-up at T = 1
    net.timesteps = steps
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        start = time.perf_counter()
        step()
        times = [time.perf_counter() - start]
        peak_mib = (torch.cuda.max_memory_allocated() - before) / 2**20
        method = "torch.cuda.max_memory_allocated"
    else:
        before = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        start = time.perf_counter()
        step()
        times = [time.perf_counter() - start]
        peak_mib = (_status_kib("VmHWM") - before) / 1024
        method = "VmHWM - VmRSS"
    for _ in range(reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"steps": steps, "config": config, "peak_mib": peak_mib, "step_s": statistics.median(times),
            "method": method}


def measure(steps: int, config: str, *, reps: int, threads: int, device: str) -> dict:
    """Run :func:`child` in a fresh interpreter and return its result."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--child", str(steps), config, "--reps", str(reps), "--threads", str(threads),
           "--device", device]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{config} at T = {steps} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    """Print peak memory and step time per (T, configuration), with ratios to plain BPTT at the same T."""
    plain = {r["steps"]: r for r in rows if r["config"] == "plain"}
    head = f"{'T':>4} {'configuration':<24} {'peak MiB':>9} {'÷ plain':>8} {'step s':>8} {'× plain':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        b = plain.get(r["steps"])
        less = f"{b['peak_mib'] / r['peak_mib']:8.2f}" if b and r["peak_mib"] > 0 else f"{'-':>8}"
        slower = f"{r['step_s'] / b['step_s']:8.2f}" if b else f"{'-':>8}"
        print(f"{r['steps']:>4} {r['config']:<24} {r['peak_mib']:9.1f} {less} {r['step_s']:8.3f} {slower}")
    ckpt = [r for r in rows if r["steps"] == 100 and r["config"] == "checkpoint"]
    if ckpt and 100 in plain:
        cut, cost = plain[100]["peak_mib"] / ckpt[0]["peak_mib"], ckpt[0]["step_s"] / plain[100]["step_s"]
        verdict = "met" if cut >= 3 and cost <= 1.5 else "NOT met"
        print(f"\ntarget at T = 100 (checkpointing cuts the peak >= 3x for <= 1.5x the step time): {verdict} "
              f"({cut:.2f}x less memory, {cost:.2f}x the time)")


def main() -> None:
    """Parse the options and run every configuration in its own process (or be one such process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("T", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="T = 25, 50 and one timed step")
    parser.add_argument("--steps", default="25,50,100,200", help="comma-separated time windows")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated: {', '.join(CONFIGS)}")
    parser.add_argument("--reps", type=int, default=3,
                        help="timed steps after the measured one (the time is the median of all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--interleaved", action="store_true",
                        help="only time the configurations, in turn in one process (ratios on a busy machine)")
    args = parser.parse_args()
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.reps, args.threads, args.device)))
        return
    steps = [25, 50] if args.quick else [int(s) for s in args.steps.split(",")]
    reps = 0 if args.quick else args.reps
    configs = [c.strip() for c in args.configs.split(",")]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {list(CONFIGS)}")
    if args.interleaved:
        for t in steps:
            medians = interleaved(t, configs, max(1, reps), args.threads, args.device)
            base = medians.get("plain")
            print(f"T = {t}: " + ", ".join(f"{c} {v:.3f} s" + (f" ({v / base:.2f}x plain)" if base else "")
                                          for c, v in medians.items()), flush=True)
        return
    rows = []
    for t in steps:
        for config in configs:
            rows.append(measure(t, config, reps=reps, threads=args.threads, device=args.device))
            print(f"  measured {config} at T = {t}", file=sys.stderr, flush=True)
    print(f"mnist_conv, batch {BATCH}, {args.threads} threads, device {args.device}; peak = "
          f"{rows[0]['method']} above the loaded model (fresh process per row); step time = median of {reps + 1}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
