"""Does data loading starve training? Images per second with 0, 1 and 2 DataLoader workers (and pinned memory).

On MNIST (``$SNNC_DATA_DIR``, else the repository's ``../shared/data``; the bundled sample otherwise), batch 128, it measures for
each ``make_loader`` setting

* ``loader only`` — iterating the loader (what the data pipeline can deliver);
* ``train ann`` — a full training loop of ``mnist_conv`` as an ann (forward, cross-entropy, backward, Adam): the
  fastest model, so the one where loading matters most;
* ``train snn`` — the same with the snn target (``--snn``, T = ``--timesteps``).

Each figure is the median images/s of ``--reps`` epochs over ``--limit`` images, after one warm-up epoch
(workers are persistent, so their start-up is paid once). ``pin_memory`` is measured only with a GPU (it pins
batches in page-locked host memory for faster copies to the device; without one torch ignores it).

Usage::

    python benchmarks/loader_throughput.py                  # cpu, ann loop and loader only
    python benchmarks/loader_throughput.py --snn --device auto
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import snnc
from snnc.compiler.errors import DataError
from snnc.runtime.data import load_dataset, make_loader

SPECS = Path(__file__).resolve().parents[1] / "specs"
BATCH = 128


def _dataset(limit: int):
    try:
        return load_dataset("mnist", "train", normalize=True, limit=limit), "mnist"
    except DataError:
        return load_dataset("mnist-sample", "train", normalize=True, limit=limit), "mnist-sample"


def _epoch(loader, step, device: str) -> float:
    """Images per second of one pass over ``loader`` running ``step(x, y)`` on each batch."""
    n = 0
    start = time.perf_counter()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        step(x, y)
        n += x.shape[0]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def _trainer(target: str, timesteps: int, device: str):
    torch.manual_seed(0)
    options = {"timesteps": timesteps} if target == "snn" else {}
    model = snnc.compile(snnc.load_spec(SPECS / "mnist_conv.yaml"), target=target, **options).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        out = model(x)
        logits = out[1].mean(0) if isinstance(out, tuple) else out
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main() -> None:
    """Measure every (workers, pin_memory) setting for each loop and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=2048, help="images per epoch")
    parser.add_argument("--reps", type=int, default=3, help="timed epochs (median)")
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--snn", action="store_true", help="also time the snn training loop")
    parser.add_argument("--timesteps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    data, name = _dataset(args.limit)
    loops = {"loader only": lambda x, y: None, "train ann": _trainer("ann", 0, device)}
    if args.snn:
        loops[f"train snn T={args.timesteps}"] = _trainer("snn", args.timesteps, device)
    pins = [False, True] if device.startswith("cuda") else [False]
    print(f"{name}, {len(data)} images per epoch, batch {BATCH}, device {device}, {args.threads} threads; "
          f"median images/s of {args.reps} epochs after one warm-up\n")
    head = f"{'loop':<18} {'workers':>7} {'pinned':>6} {'images/s':>10} {'× 0 workers':>12}"
    print(head)
    print("-" * len(head))
    for label, step in loops.items():
        base = None
        for pin in pins:
            for workers in (int(w) for w in args.workers.split(",")):
                loader = make_loader(data, BATCH, shuffle=True, seed=0, num_workers=workers, pin_memory=pin,
                                     persistent_workers=True)
                _epoch(loader, step, device)
                rate = statistics.median(_epoch(loader, step, device) for _ in range(args.reps))
                base = base or rate
                print(f"{label:<18} {workers:>7} {'yes' if pin else 'no':>6} {rate:10.0f} {rate / base:12.2f}",
                      flush=True)
                del loader


if __name__ == "__main__":
    main()
