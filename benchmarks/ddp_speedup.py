"""Speed-up of data-parallel training on N processes over one, on this machine (the ddp strategy under torchrun).

For each N in ``--nproc`` (default 1, 2) it runs ``torchrun --standalone --nproc-per-node N`` on this script,
which trains ``mnist_conv`` (snn target, T = ``--timesteps``; or ``--target ann``) with
:class:`~snnc.runtime.strategies.distributed.Distributed` (gloo) for one epoch over ``--limit`` MNIST images at a
global batch of 128 (128 / N per rank), after a warm-up of 2 steps, and prints the images per second of rank 0.
Each rank gets ``--threads / N`` intra-op threads, so every run uses the same cores: the speed-up measures how
well processes use them, not more hardware.

Usage::

    python benchmarks/ddp_speedup.py                      # N = 1, 2 on the CPU
    python benchmarks/ddp_speedup.py --nproc 1,2,4 --threads 4 --target ann
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOBAL_BATCH = 128


def child(args: argparse.Namespace) -> None:
    """One rank: train one epoch with the ddp strategy; rank 0 prints a JSON line."""
    import torch
    import torch.nn.functional as F

    import snnc
    from snnc.compiler.errors import DataError
    from snnc.runtime.data import load_dataset
    from snnc.runtime.strategies.distributed import Distributed

    strategy = Distributed(timeout=600)
    strategy.setup()
    try:
        torch.set_num_threads(max(1, args.threads // strategy.world_size))
        try:
            data = load_dataset("mnist", "train", normalize=True, limit=args.limit)
        except DataError:
            data = load_dataset("mnist-sample", "train", normalize=True, limit=args.limit)
        torch.manual_seed(0)
        options = {"timesteps": args.timesteps} if args.target == "snn" else {}
        model = snnc.compile(snnc.load_spec(ROOT / "specs" / "mnist_conv.yaml"), target=args.target, **options)
        run = strategy.prepare(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = strategy.loader(data, GLOBAL_BATCH // strategy.world_size, shuffle=True, seed=0)
        n, start = 0, None
        for i, (x, y) in enumerate(loader):
            if i == 2:
                strategy.barrier()
                start = time.perf_counter()
            out = run(x)
            loss = F.cross_entropy(out[1].mean(0) if isinstance(out, tuple) else out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += x.shape[0] if start is not None else 0
        strategy.barrier()
        total = strategy.reduce_sums({"n": n})["n"]
        if strategy.is_main:
            print(json.dumps({"nproc": strategy.world_size, "images_s": total / (time.perf_counter() - start)}))
    finally:
        run = None  # free the DDP wrapper (it holds the process group) before the group is destroyed
        strategy.teardown()


def main() -> None:
    """Run every N through torchrun and print images/s and the speed-up over N = 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nproc", default="1,2")
    parser.add_argument("--target", default="snn", choices=["snn", "ann"])
    parser.add_argument("--timesteps", type=int, default=8)
    parser.add_argument("--limit", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2, help="threads shared by all processes")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    rows = []
    for n in (int(v) for v in args.nproc.split(",")):
        env = dict(os.environ, OMP_NUM_THREADS=str(max(1, args.threads // n)),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n), __file__,
               "--child", "--target", args.target, "--timesteps", str(args.timesteps), "--limit", str(args.limit),
               "--threads", str(args.threads)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"N = {n} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"mnist_conv {args.target}" + (f" T={args.timesteps}" if args.target == "snn" else "") +
          f", global batch {GLOBAL_BATCH}, {args.limit} images, {args.threads} threads shared, gloo\n")
    print(f"{'processes':>9} {'images/s':>10} {'speed-up':>9}")
    for r in rows:
        print(f"{r['nproc']:>9} {r['images_s']:10.1f} {r['images_s'] / rows[0]['images_s']:9.2f}")


if __name__ == "__main__":
    main()
