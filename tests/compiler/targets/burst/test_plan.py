"""The fast run of a converted network (static prefix once, suffix on folded time, strided max-pooling) gives
bit for bit the outputs and spike counts of the step-by-step equations, on every test net and on the two
networks the speed target names (mnist_conv, the Fashion-MNIST VGG of examples/)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import fx, nn

import snnc
from snnc.compiler.targets.burst import BurstNeuron, LIPool, convert
from snnc.compiler.targets.burst.neurons import max_pool
from snnc.compiler.targets.burst.plan import plan_static

from ....conftest import REPO

sys.path.insert(0, str(REPO / "examples"))
from burst_fashion_mnist import VGGNet  # noqa: E402


def reference_steps(snn, x: torch.Tensor, steps: int) -> tuple[torch.Tensor, dict[str, int]]:
    """The converted graph run one step at a time with the equations written out (the implementation before
    the fast path): ``[T, B, ...]`` outputs and spikes per neuron layer."""
    state: dict[str, dict] = {}
    counts: dict[str, float] = {}

    class Stepper(fx.Interpreter):
        def call_module(self, target, args, kwargs):
            module = self.fetch_attr(target)
            (current,) = args
            s = state.setdefault(target, {})
            if isinstance(module, BurstNeuron):
                theta = module.threshold
                v = s.get("v", torch.zeros_like(current) + module.v_init * theta) + current
                k = torch.clamp(torch.floor(v / theta), 0, module.gamma)
                s["v"] = v - k * theta
                counts[target] = counts.get(target, 0.0) + float(k.sum(dtype=torch.float64))
                return k * theta
            if isinstance(module, LIPool):
                accumulated = s.get("acc", torch.zeros_like(current)) + current
                pooled = module.pool(accumulated)
                out = pooled - s.get("emitted", module.pool(torch.zeros_like(current)))
                s["acc"], s["emitted"] = accumulated, pooled
                return out
            return super().call_module(target, args, kwargs)

    stepper = Stepper(snn.network)
    with torch.no_grad():
        outputs = torch.stack([stepper.run(x) for _ in range(steps)])
    return outputs, {name: int(round(c)) for name, c in counts.items()}


def _nets():
    torch.manual_seed(0)
    return {"mnist_conv": lambda: snnc.compile("mnist_conv", target="ann"), "vgg": lambda: VGGNet(width=8)}


@pytest.mark.parametrize("name, gamma", [("mnist_conv", 3), ("vgg", 3), ("small_cnn", 1), ("small_cnn", 3),
                                         ("residual", 5)])
def test_fast_run_equals_the_step_by_step_equations(name, gamma, cnn, resnet, images):
    if name in ("small_cnn", "residual"):
        model, x = (cnn if name == "small_cnn" else resnet), images
    else:
        model = _nets()[name]().eval()
        x = torch.rand(24, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    snn = convert(model.eval(), x, gamma=gamma, percentile=99)
    assert plan_static(snn.network) is not None  # the fast path is taken
    expected, spikes = reference_steps(snn, x[:6], 8)
    for fold in (6, 18, 1000):  # one step per chunk, three, all eight
        snn.fold_batch = fold
        snn.reset_counts()
        got = snn(x[:6], timesteps=8, return_steps=True)
        assert torch.equal(got, expected), (name, fold, (got - expected).abs().max())
        assert snn.spike_counts() == spikes
    at = snn.accumulate(x[:6], [5, 8])  # one chunk of 8 steps (fold 1000): a cumulative sum over them
    assert torch.equal(at[5], snn._apply_head(expected.cumsum(0)[4] / 5))
    assert torch.equal(at[8], snn._apply_head(expected.cumsum(0)[7] / 8))


def test_step_continues_a_fast_run_exactly(cnn, images):
    snn = convert(cnn, images, gamma=3)
    x = images[:5]
    expected, _ = reference_steps(snn, x, 8)
    snn(x, timesteps=6)
    assert torch.equal(torch.stack([snn.step(x), snn.step(x)]), expected[6:])
    snn.reset()
    assert torch.equal(snn.step(x), expected[0])  # step-by-step with its own input runs the whole network


def test_the_plan_moves_only_the_layers_before_the_first_neuron(cnn, images):
    snn = convert(cnn, images, gamma=3)
    plan = plan_static(snn.network)
    prefix_calls = [n.target for n in plan.prefix.graph.nodes if n.op == "call_module"]
    assert prefix_calls[0] == "features.0" and not any(
        isinstance(plan.prefix.get_submodule(t), BurstNeuron) for t in prefix_calls)
    shared = dict(snn.network.named_modules())
    for node in plan.suffix.graph.nodes:  # the suffix calls the network's own neurons (counts, thresholds)
        if node.op == "call_module" and isinstance(plan.suffix.get_submodule(node.target), BurstNeuron):
            assert plan.suffix.get_submodule(node.target) is shared[node.target]
    assert set(snn.state_dict()) == set(convert(cnn, images, gamma=3).state_dict())  # nothing new saved


def test_a_net_that_starts_with_a_neuron_has_no_plan_and_still_runs(images):
    model = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)).eval()
    snn = convert(model, images, gamma=2)
    assert plan_static(snn.network) is None
    expected, _ = reference_steps(snn, images[:3], 4)
    assert torch.equal(snn(images[:3], timesteps=4, return_steps=True), expected)


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 1), nn.MaxPool2d(2, 1),
                                  nn.MaxPool2d(3, 2, 1, dilation=2), nn.MaxPool2d(3, 2, ceil_mode=True),
                                  nn.MaxPool2d((2, 3), (1, 2)), nn.MaxPool2d(1), nn.AdaptiveMaxPool2d(3)])
def test_strided_max_pool_equals_max_pool2d(pool):
    x = torch.randn(3, 4, 11, 12, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, :3] = float("nan")
    torch.testing.assert_close(max_pool(pool, x), pool(x), rtol=0, atol=0, equal_nan=True)
