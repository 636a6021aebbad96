"""A small training loop over the Strategy API, run by torchrun in the distributed tests (not a test file).

``torchrun --standalone --nproc-per-node 2 ddp_worker.py --target ann --batch 4 --out w.pt`` trains a tiny
network from ``snnc.compile`` on a fixed synthetic data set with :class:`Distributed`; rank 0 saves the
``state_dict``. :func:`train` is also what the tests run in one process (on a :class:`ShardSampler` of one
replica) to get the reference weights.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

import snnc

SAMPLES, CLASSES, EPOCHS, SEED = 32, 3, 2, 5


def spec(batchnorm: bool = False) -> dict:
    """A small conv net on 1x6x6 inputs (optionally a batch norm on the input itself)."""
    layers = [{"name": "bn0", "kind": "batchnorm"}] if batchnorm else []
    layers += [
        {"name": "conv1", "kind": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"name": "lif1", "kind": "spike"},
        {"name": "flatten", "kind": "flatten"},
        {"name": "fc1", "kind": "linear", "out_features": CLASSES},
        {"name": "lif2", "kind": "spike"},
    ]
    return {"name": "tiny", "input": {"shape": [1, 6, 6], "range": [0, 1]},
            "task": {"kind": "classification", "classes": CLASSES}, "timesteps": 4,
            "neuron": {"model": "leaky", "beta": 0.8, "threshold": 0.5}, "encoding": "direct", "decoding": "rate",
            "layers": layers}


def dataset() -> torch.utils.data.TensorDataset:
    """The fixed synthetic data set (the same in every process)."""
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.rand(SAMPLES, 1, 6, 6, generator=g) * 2,
                                          torch.randint(0, CLASSES, (SAMPLES,), generator=g))


def build(target: str, batchnorm: bool = False) -> torch.nn.Module:
    """The network, initialised the same way in every process."""
    torch.manual_seed(0)
    return snnc.compile(spec(batchnorm), target=target)


def loss_of(out, y):
    """Cross-entropy of the logits (ann) or of the mean membrane and spike rate (snn)."""
    if isinstance(out, tuple):
        spk, mem = out
        return F.cross_entropy(mem.mean(0), y) + F.cross_entropy(spk.mean(0), y)
    return F.cross_entropy(out, y)


def train(run: torch.nn.Module, params, loader, *, epochs: int = EPOCHS, reduce=None, fail=None) -> list[float]:
    """SGD with momentum over ``loader`` for ``epochs``; returns the (reduced) mean loss of every epoch."""
    opt = torch.optim.SGD(params, lr=0.2, momentum=0.9)
    means, step = [], 0
    for _ in range(epochs):
        total, count = 0.0, 0
        for x, y in loader:
            if fail:
                fail(step)
            loss = loss_of(run(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count, step = total + loss.item() * len(y), count + len(y), step + 1
        sums = reduce({"loss": total, "n": count}) if reduce else {"loss": total, "n": count}
        means.append(sums["loss"] / sums["n"])
    return means


def extra_module(strategy) -> dict:
    """A module outside DDP (as a method's discriminator): rank ``r`` initialises it with seed ``r`` and sets
    every gradient of ``fc`` to ``r + 1``; returns rank 0's weights and gradients and the sums over ranks."""
    torch.manual_seed(strategy.rank)
    module = torch.nn.ModuleDict({"fc": torch.nn.Linear(3, 2), "unused": torch.nn.Linear(2, 1)})
    before = module["fc"].weight.detach().clone()
    strategy.share(module)
    for p in module["fc"].parameters():
        p.grad = torch.full_like(p, float(strategy.rank + 1))
    strategy.average_gradients(module.parameters())
    weight, grad = module["fc"].weight.detach(), module["fc"].weight.grad
    sums = strategy.reduce_sums({"weight": float(weight.sum()), "grad": float(grad.sum())})
    return {"before": before, "weight": weight.clone(), "grad": grad.clone(), "sums": sums,
            "unused_grad": module["unused"].weight.grad}


def main() -> int:
    """Train under torchrun with the ddp strategy; rank 0 writes ``--out``."""
    from snnc.compiler.errors import SnncError
    from snnc.runtime.strategies import STRATEGIES

    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default="ann", help="comma-separated: ann, snn, ann-bn (ann with batch norm)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail", choices=["raise", "stall"])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--extra", action="store_true", help="check share() and average_gradients() instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    strategy = STRATEGIES.get("ddp")(timeout=args.timeout)

    def fail(step: int) -> None:
        if strategy.rank == 1 and step == 2:
            if args.fail == "raise":
                raise ValueError("rank 1 failed on purpose")
            time.sleep(600)

    try:
        strategy.setup()
        if args.extra:
            results = {"extra": extra_module(strategy)}
            if strategy.is_main:
                torch.save({"results": results, "world": strategy.world_size}, args.out)
            return 0
        results = {}
        for name in args.targets.split(","):
            model = build(name.removesuffix("-bn"), name.endswith("-bn"))
            with strategy.guard():
                run = strategy.prepare(model)
                loader = strategy.loader(dataset(), args.batch, shuffle=True, seed=SEED)
                means = train(run, model.parameters(), loader, reduce=strategy.reduce_sums,
                              fail=fail if args.fail else None)
                strategy.barrier()
            results[name] = {"state": model.state_dict(), "losses": means}
            run = None  # the DDP wrapper holds the process group: free it before teardown destroys the group
        if strategy.is_main:
            torch.save({"results": results, "world": strategy.world_size}, args.out)
    except SnncError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        strategy.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
