"""snnc's burst conversion against BrainCog's ``Convertor``, the method's original code, on one trained CNN.

The network (``conv(1→8)-ReLU-maxpool2-conv(8→16)-ReLU-maxpool2-linear(784→32)-ReLU-linear(32→10)``, all
``nn.ReLU`` / ``nn.MaxPool2d(2)`` modules, the only kind BrainCog converts) is trained for 300 Adam steps on the
bundled MNIST sample (``load_dataset("mnist-sample")``), then converted by both at the same settings: one
calibration batch of 256 training images, Γ, the percentile (``p = 1`` is snnc's ``normalization="max"``),
LIPooling, reset by subtraction, membranes starting at 0 (snnc ``v_init=0``). Both run ``T`` steps on the 500
test images, one step at a time; the table gives each neuron layer's thresholds (BrainCog / snnc), the share of
(neuron, step) spike counts that differ, the largest output difference and both accuracies.

Two versions of the network are converted:

* ``trained``: as trained. BrainCog clips every activation at Γ while it calibrates (its ``HookScale`` gets the
  Convertor's ``gamma`` as its clip level), so a layer whose activations exceed Γ gets ``θ ≤ Γ`` and the layers
  after it see clipped inputs;
* ``rescaled``: the same function with every calibration activation ≤ 0.9 (each ReLU layer's weights and bias
  divided by its largest activation / 0.9, the next layer's weights multiplied back; ReLU and max-pooling commute
  with a positive scale, so the ANN is unchanged to rounding). There the clip never acts and the two
  conversions are the same method.

With ``--failures`` it prints instead, for each network of ``FAILURES`` in
``tests/compiler/targets/burst/test_braincog.py`` (the networks BrainCog fails on; random weights, 16 random
8x8 inputs, calibration on the same inputs, Γ = 5, ``p = 1``, ``T = 64``), BrainCog's exception or the largest
difference between its time-averaged output and the ANN's, next to snnc's.

Usage (needs ``pip install braincog==0.2.7.19``; about 5 minutes on a busy 2-core machine)::

    python benchmarks/braincog_reference.py                 # float32, T = 16, 500 test images
    python benchmarks/braincog_reference.py --dtype float64
    python benchmarks/braincog_reference.py --failures      # seconds
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import pathlib
import warnings

import torch
from torch import nn

import snnc
from snnc.runtime.data import load_dataset


def stack(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """All items of a map-style dataset as ``(images, labels)``."""
    xs, ys = zip(*[dataset[i] for i in range(len(dataset))])
    return torch.stack(xs), torch.as_tensor(ys)


def network() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))


def train(x: torch.Tensor, y: torch.Tensor, steps: int = 300, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    model = network()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=generator)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def rescale(model: nn.Sequential, x: torch.Tensor, bound: float = 0.9) -> nn.Sequential:
    """The same function with every ReLU activation on ``x`` at most ``bound`` (see the module docstring)."""
    model = copy.deepcopy(model)
    layers = [i for i, m in enumerate(model) if isinstance(m, (nn.Conv2d, nn.Linear))]
    carried = 1.0
    with torch.no_grad():
        for n, i in enumerate(layers):
            model[i].weight.mul_(carried)
            if n == len(layers) - 1:
                break
            scale = model[:i + 2](x).max().item() / bound
            model[i].weight.div_(scale)
            model[i].bias.div_(scale)
            carried = scale
    return model


def braincog_run(model, calibration, x, steps, gamma, p, channelnorm=False):
    """Convert with BrainCog and run; returns (thresholds, outputs ``[T, B, ...]``, spike counts per layer)."""
    from braincog.base.conversion import Convertor, SNode

    bc = Convertor([(calibration, None)], device=x.device, p=p, channelnorm=channelnorm, lipool=True,
                   gamma=gamma, soft_mode=True, merge=True, batch_num=1)(copy.deepcopy(model))
    sites = [m for m in bc.modules() if isinstance(m, nn.Sequential) and len(m) == 4 and isinstance(m[1], SNode)]
    counts: list[list[torch.Tensor]] = [[] for _ in sites]
    hooks = [site[1].register_forward_hook(lambda m, i, o, j=j: counts[j].append(o.clone()))
             for j, site in enumerate(sites)]
    bc.reset()
    with torch.no_grad():
        outputs = torch.stack([bc(x) for _ in range(steps)])
    for hook in hooks:
        hook.remove()
    return [site[3].scale for site in sites], outputs, [torch.stack(c) for c in counts]


def snnc_run(model, calibration, x, steps, gamma, p, channelwise=False):
    """Convert with snnc at BrainCog's settings and run step by step; returns what :func:`braincog_run` does."""
    how = {"normalization": "max"} if p == 1 else {"percentile": 100 * p}
    snn = snnc.convert(copy.deepcopy(model), [calibration], method="burst", gamma=gamma, channelwise=channelwise,
                       v_init=0.0, **how)
    neurons = list(snn.neurons().values())
    counts: list[list[torch.Tensor]] = [[] for _ in neurons]
    hooks = [n.register_forward_hook(lambda m, i, o, j=j: counts[j].append(torch.round(o / m.threshold.to(o.dtype))))
             for j, n in enumerate(neurons)]
    snn.reset()
    with torch.no_grad():
        outputs = torch.stack([snn.step(x) for _ in range(steps)])
    for hook in hooks:
        hook.remove()
    return [n.threshold for n in neurons], outputs, [torch.stack(c) for c in counts]


def failures() -> None:
    """The table of networks BrainCog fails on (see the module docstring)."""
    path = pathlib.Path(__file__).resolve().parents[1] / "tests/compiler/targets/burst/test_braincog.py"
    spec = importlib.util.spec_from_file_location("test_braincog", path)
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    print("| network | BrainCog | snnc: max abs(SNN - ANN) |")
    print("| --- | --- | ---: |")
    for name, (make, size, _) in cases.FAILURES.items():
        torch.manual_seed(0)
        model = cases._randomize_batch_norm(make()).eval()
        x = torch.rand(16, *size)
        with torch.no_grad():
            ann = model(x)
        snn = snnc.convert(copy.deepcopy(model), [x], gamma=5, normalization="max", v_init=0.0)
        ours = (snn(x, 64) - ann).abs().max().item()
        try:
            _, outputs, counts = cases.braincog_run(model, x, x, gamma=5, p=1.0, steps=64)
            theirs = (f"runs, {len(counts)} neuron layer(s): max abs(SNN - ANN) = "
                      f"{(outputs.mean(0) - ann).abs().max().item():.3g}")
        except Exception as error:  # what BrainCog raises is the result
            theirs = f"`{type(error).__name__}: {str(error).splitlines()[0]}`"
        print(f"| {name} | {theirs} | {ours:.3g} (ANN output up to {ann.abs().max().item():.2g}) |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=16, help="time steps T")
    parser.add_argument("--test", type=int, default=500, help="test images (at most 500)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--failures", action="store_true", help="the table of networks BrainCog fails on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # BrainCog's import re-registers timm models, with a warning each
    if args.failures:
        failures()
        return
    dtype = getattr(torch, args.dtype)
    x_train, y_train = stack(load_dataset("mnist-sample", "train"))
    x_test, y_test = stack(load_dataset("mnist-sample", "test"))
    x_test, y_test = x_test[:args.test].to(dtype), y_test[:args.test]
    trained = train(x_train, y_train)
    calibration = x_train[:256]
    models = {"trained": trained, "rescaled": rescale(trained, calibration)}
    calibration = calibration.to(dtype)
    print(f"{args.dtype}, T = {args.steps}, {len(x_test)} test images, one calibration batch of 256\n")
    print("| network | Γ | p | θ per layer, BrainCog / snnc | spike counts that differ, per layer | "
          "max abs output difference | accuracy BrainCog | accuracy snnc | ANN |")
    print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |")
    for name, model in models.items():
        model = copy.deepcopy(model).to(dtype)
        with torch.no_grad():
            ann = (model(x_test).argmax(1) == y_test).float().mean().item()
        for gamma in (1, 5):
            for p in (1.0, 0.99):
                tb, ob, cb = braincog_run(model, calibration, x_test, args.steps, gamma, p)
                ts, os_, cs = snnc_run(model, calibration, x_test, args.steps, gamma, p)
                thetas = ", ".join(f"{a.item():.5g} / {b.item():.5g}" for a, b in zip(tb, ts))
                differ = ", ".join(f"{(a != b).double().mean().item():.1e}" for a, b in zip(cb, cs))
                acc_b = (ob.mean(0).argmax(1) == y_test).float().mean().item()
                acc_s = (os_.mean(0).argmax(1) == y_test).float().mean().item()
                print(f"| {name} | {gamma} | {'max' if p == 1 else p} | {thetas} | {differ} | "
                      f"{(ob - os_).abs().max().item():.2g} | {100 * acc_b:.1f} | {100 * acc_s:.1f} | "
                      f"{100 * ann:.1f} |", flush=True)


if __name__ == "__main__":
    main()
