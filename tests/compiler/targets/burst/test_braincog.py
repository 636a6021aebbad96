"""snnc's burst conversion against BrainCog's ``Convertor`` (``braincog`` 0.2.7.19, the method's original code).

Where BrainCog converts (``nn.ReLU`` and ``nn.Conv2d`` / ``nn.Linear`` modules, ``nn.MaxPool2d(2)``), snnc at the
same settings gives the same spikes: ``p = 1`` ↔ ``normalization="max"``, ``gamma`` ↔ ``gamma``, ``lipool=True``
↔ LIPooling, ``soft_mode=True`` ↔ reset by subtraction, membranes from 0 ↔ ``v_init=0``. The networks are made
so that no calibration activation exceeds 0.9: BrainCog clips activations at Γ while it calibrates
(:func:`test_braincog_clips_calibration_activations_at_gamma`), which would otherwise change its thresholds.

Float64 throughout. snnc's thresholds are float32 (its observer computes in float32), BrainCog's float64: the
tests compare them, then give BrainCog snnc's thresholds and require the same spike counts at every step. With
the same thresholds the two still compute each membrane differently (BrainCog sums ``x * (1/θ)``, snnc divides
the summed ``V`` by ``θ``), but at float64 no membrane here lands within that rounding of an integer.

The cases where BrainCog fails (an exception, or a network that is silently not the converted ANN) and snnc does
not are :data:`FAILURES`; ``docs/burst.md`` ("BrainCog as the reference") has them as a table.
"""

from __future__ import annotations

import copy
import importlib.util
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnc
from snnc.runtime.data import load_dataset

# Why load the benchmark: the reference script and this test rescale the network the same way (one definition)
_REFERENCE = Path(__file__).resolve().parents[4] / "benchmarks" / "braincog_reference.py"
_spec = importlib.util.spec_from_file_location("braincog_reference", _REFERENCE)
_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_reference)
rescale = _reference.rescale

with warnings.catch_warnings():  # its import re-registers timm's model names, with a warning each
    warnings.simplefilter("ignore")
    conversion = pytest.importorskip(
        "braincog.base.conversion",
        reason="braincog is not installed: pip install braincog==0.2.7.19 (the 'dev' extra)",
    )

STEPS = 16


# --- the two conversions, run step by step ----------------------------------------------------------------------

def braincog_run(model, calibration, x, *, gamma, p, channelnorm=False, steps=STEPS, thetas=None):
    """BrainCog's conversion of a copy of ``model`` on one calibration batch, run ``steps`` steps on ``x``.

    Args:
        thetas: replace BrainCog's thresholds by these (one per neuron layer) before running.

    Returns:
        ``(thresholds, outputs [T, B, ...], spike counts per neuron layer [T, B, ...])``.
    """
    bc = conversion.Convertor([(calibration, None)], device="cpu", p=p, channelnorm=channelnorm, lipool=True,
                              gamma=gamma, soft_mode=True, merge=True, batch_num=1)(copy.deepcopy(model))
    sites = [m for m in bc.modules() if isinstance(m, nn.Sequential) and len(m) == 4
             and isinstance(m[1], conversion.SNode)]
    if thetas is not None:  # a site is Scale(1/θ), SNode (threshold 1), SpiCalib, Scale(θ)
        for site, theta in zip(sites, thetas, strict=True):
            theta = theta.to(torch.float64).reshape(-1) if theta.dim() else theta.to(torch.float64)
            site[0].scale, site[3].scale = 1.0 / theta, theta
    counts = [[] for _ in sites]
    hooks = [site[1].register_forward_hook(lambda m, i, o, j=j: counts[j].append(o.clone()))
             for j, site in enumerate(sites)]
    bc.reset()
    with torch.no_grad():
        outputs = torch.stack([bc(x) for _ in range(steps)])
    for hook in hooks:
        hook.remove()
    return [site[3].scale for site in sites], outputs, [torch.stack(c) for c in counts]


def snnc_run(model, calibration, x, *, gamma, p, channelwise=False, steps=STEPS):
    """snnc's conversion at BrainCog's settings, run step by step; returns what :func:`braincog_run` does."""
    how = {"normalization": "max"} if p == 1 else {"percentile": 100 * p}
    snn = snnc.convert(model, [calibration], method="burst", gamma=gamma, channelwise=channelwise, v_init=0.0,
                       calibrate="none", **how)  # (BrainCog has no calibration after conversion)
    neurons = list(snn.neurons().values())
    counts = [[] for _ in neurons]
    hooks = [n.register_forward_hook(lambda m, i, o, j=j: counts[j].append(torch.round(o / m.threshold.to(o.dtype))))
             for j, n in enumerate(neurons)]
    snn.reset()
    with torch.no_grad():
        outputs = torch.stack([snn.step(x) for _ in range(steps)])
    for hook in hooks:
        hook.remove()
    return [n.threshold for n in neurons], outputs, [torch.stack(c) for c in counts]


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    return (outputs.mean(0).argmax(1) == labels).double().mean().item()


def _stack(dataset, n):
    xs, ys = zip(*[dataset[i] for i in range(n)])
    return torch.stack(xs), torch.as_tensor(ys)


@pytest.fixture(scope="module")
def mnist():
    """(train images, train labels, 64 test images, their labels) of the bundled MNIST sample."""
    x_train, y_train = _stack(load_dataset("mnist-sample", "train"), 2000)
    x_test, y_test = _stack(load_dataset("mnist-sample", "test"), 64)
    return x_train, y_train, x_test, y_test


def _cnn(hidden_linear: bool) -> nn.Sequential:
    head = ([nn.Linear(12 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10)] if hidden_linear
            else [nn.Linear(12 * 7 * 7, 10)])
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), *head)


@pytest.fixture(scope="module")
def trained(mnist):
    """Conv-ReLU-MaxPool(2)-Conv-ReLU-MaxPool(2)-Linear-ReLU-Linear after 200 Adam steps on the sample."""
    x_train, y_train, _, _ = mnist
    torch.manual_seed(0)
    model = _cnn(hidden_linear=True)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, len(x_train), (64,), generator=generator)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def case(mnist, trained):
    """(rescaled trained network, calibration batch, test images, labels), float64."""
    x_train, _, x_test, y_test = mnist
    calibration = x_train[:256]
    model = rescale(trained, calibration).double()
    return model, calibration.double(), x_test.double(), y_test


# --- where both convert: the same spikes ---------------------------------------------------------------------------

def assert_same_spikes(braincog_counts, snnc_counts):
    assert len(braincog_counts) == len(snnc_counts)
    for layer, (a, b) in enumerate(zip(braincog_counts, snnc_counts)):
        assert torch.equal(a, b), f"layer {layer}: {(a != b).sum().item()} of {a.numel()} spike counts differ"


def differing(braincog_counts, snnc_counts) -> float:
    """The largest share of (neuron, sample, step) spike counts that differ in a layer."""
    return max((a != b).double().mean().item() for a, b in zip(braincog_counts, snnc_counts))


@pytest.mark.parametrize("gamma", [1, 5])
def test_max_normalisation_gives_the_same_spikes_at_every_step(case, gamma):
    """``p = 1`` ↔ ``normalization="max"``: the same thresholds (snnc's rounded to float32) and, with the very same
    thresholds, the same spike counts at every step. Without that last step an input equal to the calibration
    maximum (a saturated 3x3 patch recurs across MNIST images) can lie between the float32 and the float64
    threshold and fire one step apart."""
    model, calibration, x, y = case
    tb, ob, cb = braincog_run(model, calibration, x, gamma=gamma, p=1.0)
    ts, os_, cs = snnc_run(model, calibration, x, gamma=gamma, p=1.0)
    assert len(tb) == len(ts) == 3
    for a, b in zip(tb, ts):
        torch.testing.assert_close(b.double(), a.double(), rtol=2 ** -24, atol=0)  # snnc's are float32
    assert differing(cb, cs) < 1e-4
    assert accuracy(os_, y) == accuracy(ob, y) > 0.8
    _, ob, cb = braincog_run(model, calibration, x, gamma=gamma, p=1.0, thetas=ts)
    assert_same_spikes(cb, cs)
    torch.testing.assert_close(os_, ob, rtol=1e-9, atol=1e-9)


def test_channelwise_max_gives_the_same_spikes(mnist):
    """``channelnorm=True`` ↔ ``channelwise=True`` on conv layers (BrainCog's channel statistic is for 4-d
    activations only: a linear layer's ReLU stays layer-wise there, per feature in snnc)."""
    x_train, _, x_test, y_test = mnist
    torch.manual_seed(1)
    calibration = x_train[:128]
    model = rescale(_cnn(hidden_linear=False).eval(), calibration).double()
    calibration, x, y = calibration.double(), x_test[:32].double(), y_test[:32]
    tb, ob, cb = braincog_run(model, calibration, x, gamma=3, p=1.0, channelnorm=True)
    ts, os_, cs = snnc_run(model, calibration, x, gamma=3, p=1.0, channelwise=True)
    for a, b in zip(tb, ts):  # BrainCog's is torch.quantile(..., 1.0) + 1e-10
        assert a.shape == (b.shape[0],) and b.shape[0] > 1
        torch.testing.assert_close(b.double().reshape(-1), a.double(), rtol=2 ** -24, atol=2e-10)
    assert differing(cb, cs) < 1e-3
    assert accuracy(os_, y) == accuracy(ob, y)
    _, ob, cb = braincog_run(model, calibration, x, gamma=3, p=1.0, channelnorm=True, thetas=ts)
    assert_same_spikes(cb, cs)
    torch.testing.assert_close(os_, ob, rtol=1e-9, atol=1e-9)


def test_percentile_thresholds_differ_by_at_most_two_order_statistics(case):
    """BrainCog's ``p`` picks ``sorted[int(n * p) - 1]``; snnc's percentile ``100 p`` interpolates at
    ``p * (n - 1)`` (as numpy): at most two order statistics apart, everything else the same."""
    model, calibration, x, y = case
    p = 0.99
    activations = []
    hooks = [m.register_forward_hook(lambda m, i, o: activations.append(o.reshape(-1).sort().values))
             for m in model if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(calibration)
    for hook in hooks:
        hook.remove()
    tb, ob, cb = braincog_run(model, calibration, x, gamma=5, p=p)
    ts, os_, cs = snnc_run(model, calibration, x, gamma=5, p=p)
    for values, a, b in zip(activations, tb, ts):
        k = int(values.numel() * p) - 1
        assert a.item() == values[k].item()
        assert values[k].item() * (1 - 2 ** -23) <= b.item() <= values[k + 2].item() * (1 + 2 ** -23)
    assert differing(cb, cs) < 1e-2
    assert abs(accuracy(os_, y) - accuracy(ob, y)) <= 2 / len(y)


def test_the_same_percentile_thresholds_give_the_same_spikes(case):
    """With BrainCog's thresholds set to snnc's, the neurons and LIPools agree exactly: the statistic is the
    only difference at ``p < 1``."""
    model, calibration, x, _ = case
    ts, os_, cs = snnc_run(model, calibration, x, gamma=5, p=0.99)
    _, ob, cb = braincog_run(model, calibration, x, gamma=5, p=0.99, thetas=ts)
    assert_same_spikes(cb, cs)
    assert max(c.max().item() for c in cs) >= 2  # bursts do happen (below the maximum, some inputs exceed θ)
    torch.testing.assert_close(os_, ob, rtol=1e-9, atol=1e-9)


def test_braincog_clips_calibration_activations_at_gamma(mnist, trained):
    """Its ``HookScale`` clips each activation at the Convertor's ``gamma`` while calibrating, so with Γ = 1 every
    threshold is at most 1 whatever the activations; snnc's are the activations' maxima."""
    x_train, _, x_test, y_test = mnist
    calibration = x_train[:256]
    peaks = []
    hooks = [m.register_forward_hook(lambda m, i, o: peaks.append(o.max().item()))
             for m in trained if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        trained(calibration)
    for hook in hooks:
        hook.remove()
    assert min(peaks) > 1.5
    tb, ob, _ = braincog_run(trained, calibration, x_test, gamma=1, p=1.0)
    ts, os_, _ = snnc_run(trained, calibration, x_test, gamma=1, p=1.0)
    assert [a.item() for a in tb] == [1.0] * 3
    assert [b.item() for b in ts] == pytest.approx(peaks, rel=1e-6)
    assert accuracy(os_, y_test) > accuracy(ob, y_test) + 0.1


# --- where BrainCog fails and snnc does not -------------------------------------------------------------------------

class ReusedReLU(nn.Module):
    """A residual block as torchvision writes it: one ``nn.ReLU`` module called at three places."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0, self.relu = nn.Conv2d(1, 8, 3, padding=1), nn.ReLU()
        self.conv1, self.conv2 = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        x = self.relu(self.conv0(x))
        x = self.relu(x + self.conv2(self.relu(self.conv1(x))))
        return self.fc(x.flatten(1))


class FunctionalReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 8, 3, padding=1), nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


class FunctionalMaxPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.relu, self.fc = nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(F.max_pool2d(self.relu(self.conv(x)), 2).flatten(1))


class InputBatchNorm(nn.Module):
    """A batch-norm on the input, before the first conv (registered first)."""

    def __init__(self) -> None:
        super().__init__()
        self.bn, self.conv, self.relu = nn.BatchNorm2d(1), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU()
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(self.relu(self.conv(self.bn(x))).flatten(1))


def _seq(*layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(*layers)


FAILURES = {
    # name: (network, input size, BrainCog's exception and message, or None when it runs but is not the ANN)
    "max-pool 2x2 on an odd size (7x7)": (
        lambda: _seq(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 3 * 3, 10)),
        (1, 9, 9), (RuntimeError, r"The size of tensor a \(7\) must match the size of tensor b \(6\)")),
    "max-pool 2x2, stride 1": (
        lambda: _seq(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 1), nn.Flatten(),
                     nn.Linear(8 * 7 * 7, 10)),
        (1, 8, 8), (RuntimeError, r"The size of tensor a \(8\) must match the size of tensor b \(14\)")),
    "max-pool 3x3, stride 2, padding 1": (
        lambda: _seq(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Flatten(),
                     nn.Linear(8 * 4 * 4, 10)),
        (1, 8, 8), None),
    "F.max_pool2d": (FunctionalMaxPool, (1, 8, 8), None),
    "depthwise conv + BN": (
        lambda: _seq(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                     nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)),
        (1, 8, 8), (RuntimeError, r"Given groups=1, weight of size \[8, 1, 3, 3\]")),
    "dilated conv + BN": (
        lambda: _seq(nn.Conv2d(1, 8, 3, padding=2, dilation=2), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                     nn.Linear(8 * 8 * 8, 10)),
        (1, 8, 8), (RuntimeError, r"mat1 and mat2 shapes cannot be multiplied \(16x800 and 512x10\)")),
    "BN on the input": (InputBatchNorm, (1, 8, 8), (AttributeError, "'NoneType' object has no attribute 'weight'")),
    "F.relu": (FunctionalReLU, (1, 8, 8), None),
    "nn.ReLU reused at three places": (ReusedReLU, (1, 8, 8), None),
}


def _randomize_batch_norm(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(0.0, 0.2)
    return model


@pytest.mark.parametrize("name", list(FAILURES))
def test_where_braincog_fails_snnc_converts(name):
    make, size, error = FAILURES[name]
    torch.manual_seed(0)
    model = _randomize_batch_norm(make()).eval()
    x = torch.rand(16, *size)
    with torch.no_grad():
        ann = model(x)
    snn = snnc.convert(copy.deepcopy(model), [x], gamma=5, normalization="max", v_init=0.0, calibrate="none")
    snnc_error = (snn(x, 64) - ann).abs().max().item()
    assert snnc_error < 0.1 * ann.abs().max().item()
    if error is not None:
        with pytest.raises(error[0], match=error[1]):
            braincog_run(model, x, x, gamma=5, p=1.0, steps=64)
        return
    _, outputs, counts = braincog_run(model, x, x, gamma=5, p=1.0, steps=64)
    braincog_error = (outputs.mean(0) - ann).abs().max().item()
    if name == "F.relu":  # not converted at all: no spiking neuron, the output is the ANN's
        assert counts == [] and braincog_error < 1e-6
    else:  # converted, but it computes something else
        assert braincog_error > 3 * snnc_error


def test_braincog_soft_mode_false_never_resets():
    """``soft_mode=False``: ``SNode.forward`` names ``self.hard_reset`` without calling it, so the membrane never
    resets and the neurons end up firing Γ spikes at every step (snnc has only reset by subtraction, BrainCog's
    ``soft_mode=True``, under which no input here reaches 2θ in a step)."""
    torch.manual_seed(0)
    model = _seq(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()
    x = torch.rand(16, 1, 8, 8)
    most = {}
    for soft in (True, False):
        bc = conversion.Convertor([(x, None)], device="cpu", p=1.0, gamma=5, soft_mode=soft)(copy.deepcopy(model))
        node = next(m for m in bc.modules() if isinstance(m, conversion.SNode))
        bc.reset()
        with torch.no_grad():
            for _ in range(16):
                bc(x)
        most[soft] = node.spike.max().item()
    assert most == {True: 1.0, False: 5.0}


def test_braincog_converts_the_callers_model_in_place():
    torch.manual_seed(0)
    model = _seq(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()
    x = torch.rand(4, 1, 8, 8)
    snnc.convert(model, [x], normalization="max")
    assert type(model[1]) is nn.ReLU
    conversion.Convertor([(x, None)], device="cpu", p=1.0)(model)
    assert type(model[1]) is nn.Sequential and isinstance(model[1][1], conversion.SNode)
