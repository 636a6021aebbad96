"""The fast run of a converted network (static prefix once, suffix on folded time, strided max-pooling, updates
in cache-sized blocks of rows, reused memory) gives the outputs and spike counts of the step-by-step
equations, on every test net and on the two networks the speed target names (mnist_conv, the Fashion-MNIST
VGG of examples/): the spike counts exactly, the outputs to float64 rounding where the batch layout differs
(``assert_same_run``) and bit for bit where it does not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import fx, nn

import snnc
import functools

from snnc.compiler.targets.burst import BurstNeuron, LIPool
from snnc.compiler.targets.burst import convert as _convert
from snnc.compiler.targets.burst import neurons
from snnc.compiler.targets.burst.neurons import max_pool, max_pool_shape
from snnc.compiler.targets.burst.plan import plan_static

from ....conftest import REPO, assert_same_run

convert = functools.partial(_convert, calibrate="none")
"""The conversion alone: these tests check the run against the equations of the uncalibrated neuron."""

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


@pytest.mark.parametrize("blocks", ["whole", "rows"])
@pytest.mark.parametrize("name, gamma", [("mnist_conv", 3), ("vgg", 3), ("small_cnn", 1), ("small_cnn", 3),
                                         ("residual", 5)])
def test_fast_run_equals_the_step_by_step_equations(name, gamma, blocks, cnn, resnet, images, monkeypatch):
    if blocks == "rows":  # neurons and LIPools update 1-2 samples at a time (the test batches fit one block)
        monkeypatch.setattr(neurons, "BLOCK_ELEMENTS", 2 * 8 * 28 * 28 if name == "vgg" else 100)
    if name in ("small_cnn", "residual"):
        model, x = (cnn if name == "small_cnn" else resnet), images
    else:
        model = _nets()[name]().eval()
        x = torch.rand(24, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    model, x = model.double(), x.double()
    snn = convert(model.eval(), x, gamma=gamma, percentile=99)
    assert plan_static(snn.network) is not None  # the fast path is taken
    expected, spikes = reference_steps(snn, x[:6], 8)
    for fold in (6, 18, 1000):  # one step per chunk, three, all eight
        snn.fold_batch = fold
        snn.reset_counts()
        got = snn(x[:6], timesteps=8, return_steps=True)
        assert_same_run(got, expected, (name, fold))
        assert snn.spike_counts() == spikes
    at = snn.accumulate(x[:6], [5, 8])  # one chunk of 8 steps (fold 1000): a cumulative sum over them
    assert_same_run(at[5], snn._apply_head(expected.cumsum(0)[4] / 5))
    assert_same_run(at[8], snn._apply_head(expected.cumsum(0)[7] / 8))


def test_runs_reusing_memory_equal_fresh_runs_and_never_change_a_result_handed_out(cnn, images):
    snn = convert(cnn, images, gamma=3, fold_batch=5)  # one step per chunk for 5 samples: the in-place paths
    first = snn(images[:5], timesteps=6, return_steps=True)
    kept = first.clone()
    neuron, pool = next(iter(snn.neurons().values())), next(m for m in snn.network.modules() if isinstance(m, LIPool))
    held = {"spikes": neuron(torch.zeros(5, *neuron.v.shape[1:])), "emitted": pool.emitted}  # outputs handed out
    held_copy = {k: v.clone() for k, v in held.items()}
    second = snn(images[5:10], timesteps=6, return_steps=True)  # reuses the modules' memory where nobody holds it
    assert torch.equal(first, kept)
    assert all(torch.equal(held[k], held_copy[k]) for k in held)
    fresh = convert(cnn, images, gamma=3, fold_batch=5)
    assert torch.equal(second, fresh(images[5:10], timesteps=6, return_steps=True))
    assert torch.equal(second, reference_steps(fresh, images[5:10], 6)[0])


def test_explicit_state_is_never_changed_by_a_step(cnn, images):
    snn = convert(cnn, images, gamma=3)
    state = snn.init_state(3)
    for _ in range(3):
        _, state = snn.step(images[:3], state)
    saved = {k: v.clone() for k, v in state.items()}
    out_a, next_a = snn.step(images[:3], state)
    out_b, next_b = snn.step(images[:3], state)  # the same step again, from the same state
    assert all(torch.equal(state[k], saved[k]) for k in state)
    assert torch.equal(out_a, out_b) and all(torch.equal(next_a[k], next_b[k]) for k in next_a)


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
    model, images = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)).double().eval(), images.double()
    snn = convert(model, images, gamma=2)
    assert plan_static(snn.network) is None
    expected, _ = reference_steps(snn, images[:3], 4)
    assert_same_run(snn(images[:3], timesteps=4, return_steps=True), expected)


@pytest.mark.parametrize("pool", [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 1), nn.MaxPool2d(2, 1),
                                  nn.MaxPool2d(3, 2, 1, dilation=2), nn.MaxPool2d(3, 2, ceil_mode=True),
                                  nn.MaxPool2d((2, 3), (1, 2)), nn.MaxPool2d(1), nn.AdaptiveMaxPool2d(3)])
def test_strided_max_pool_equals_max_pool2d(pool):
    x = torch.randn(3, 4, 11, 12, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, :3] = float("nan")
    torch.testing.assert_close(max_pool(pool, x), pool(x), rtol=0, atol=0, equal_nan=True)
    shape = max_pool_shape(pool, x)
    if shape is not None:  # computed by strided views: it can write into given memory
        out = torch.full(shape, 7.0)
        assert max_pool(pool, x, out=out) is out
        torch.testing.assert_close(out, pool(x), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("size", [(7, 7), (6, 9), (28, 28)])
def test_strided_max_pool_of_odd_and_even_sizes(size):
    x = torch.randn(5, 3, *size, generator=torch.Generator().manual_seed(1))
    for pool in (nn.MaxPool2d(2), nn.MaxPool2d(3, 2), nn.MaxPool2d(3, 2, 1)):
        assert torch.equal(max_pool(pool, x), pool(x))
