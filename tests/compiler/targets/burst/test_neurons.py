"""The burst neuron's equations and LIPooling's defining property."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnc.compiler.errors import SnncError
from snnc.compiler.targets.burst import BurstNeuron, LIPool


def run_steps(module, inputs: torch.Tensor) -> torch.Tensor:
    """Feed ``inputs`` ``[T, B, ...]`` one step at a time; return the outputs ``[T, B, ...]``."""
    module.reset()
    module.steps = 1
    return torch.stack([module(x) for x in inputs])


def test_neuron_equations_by_hand():
    neuron = BurstNeuron(threshold=1.0, gamma=3, v_init=0.0)
    out = run_steps(neuron, torch.tensor([[2.5], [0.2], [5.0], [-1.0]]))
    # V: 2.5 → k=2, V=0.5; 0.7 → k=0; 5.7 → k=3 (clamped at gamma), V=2.7; 1.7 → k=1, V=0.7
    assert out.flatten().tolist() == [2.0, 0.0, 3.0, 1.0]
    assert neuron.spike_total == 6
    assert neuron.sample_steps == 4


def test_gamma_one_is_an_if_neuron_with_spikes_of_theta():
    theta = 0.7
    neuron = BurstNeuron(threshold=theta, gamma=1)
    out = run_steps(neuron, torch.rand(50, 3, 5) * 3)
    is_zero, is_theta = out == 0, torch.isclose(out, torch.tensor(theta))
    assert bool((is_zero | is_theta).all())
    assert bool(is_zero.any()) and bool(is_theta.any())


@pytest.mark.parametrize("v_init, bound", [(0.0, 1.0), (0.5, 0.5)])
def test_rate_approximates_relu_within_theta_over_t(v_init, bound):
    theta, steps = 0.5, 40
    a = torch.linspace(-0.5, 2.0, 101)  # up to gamma * theta = 2.0
    neuron = BurstNeuron(threshold=theta, gamma=4, v_init=v_init)
    mean = run_steps(neuron, a.expand(steps, -1)).mean(0)
    assert (mean - a.clamp(min=0)).abs().max() <= bound * theta / steps + 1e-6


def test_channelwise_threshold_and_folded_steps_match_step_by_step():
    theta = torch.tensor([0.5, 1.0, 2.0]).reshape(3, 1, 1)
    neuron = BurstNeuron(threshold=theta, gamma=2)
    inputs = torch.rand(6, 2, 3, 4, 4) * 3
    stepped = run_steps(neuron, inputs)
    neuron.reset()
    neuron.steps = 6
    folded = neuron(inputs.reshape(12, 3, 4, 4)).reshape(6, 2, 3, 4, 4)
    torch.testing.assert_close(folded, stepped)
    # every output is k * theta of its channel
    k = stepped / theta
    torch.testing.assert_close(k, k.round())


def test_neuron_rejects_bad_parameters_and_batch_change():
    with pytest.raises(SnncError, match="threshold must be > 0"):
        BurstNeuron(threshold=0.0)
    with pytest.raises(SnncError, match="gamma must be an integer >= 1"):
        BurstNeuron(threshold=1.0, gamma=0)
    neuron = BurstNeuron(threshold=1.0)
    neuron(torch.ones(2, 3))
    with pytest.raises(SnncError, match="call reset"):
        neuron(torch.ones(4, 3))


@pytest.mark.parametrize("pool", [
    nn.MaxPool2d(2, 2), nn.MaxPool2d(3, 2), nn.MaxPool2d(3, 1), nn.MaxPool2d(3, 2, padding=1),
    nn.MaxPool2d(3, 2, ceil_mode=True), nn.MaxPool2d(2, 1, dilation=2), nn.AdaptiveMaxPool2d(3),
    nn.MaxPool1d(3, 2),
], ids=lambda p: repr(p))
def test_lipool_accumulated_output_is_max_pool_of_accumulated_input(pool):
    shape = (2, 3, 9) if isinstance(pool, nn.MaxPool1d) else (2, 3, 9, 9)
    inputs = torch.rand(20, *shape, generator=torch.Generator().manual_seed(0)) - 0.3  # negatives too
    lipool = LIPool(pool)
    out = run_steps(lipool, inputs)
    for t in (1, 5, 20):
        torch.testing.assert_close(out[:t].sum(0), pool(inputs[:t].sum(0)), rtol=1e-5, atol=1e-5)
    # folded in chunks of 7 + 13 steps: the same outputs
    lipool.reset()
    chunks = []
    for part in (inputs[:7], inputs[7:]):
        lipool.steps = part.shape[0]
        chunks.append(lipool(part.reshape(-1, *shape[1:])).reshape(part.shape[0], *out.shape[1:]))
    torch.testing.assert_close(torch.cat(chunks), out, rtol=1e-5, atol=1e-5)


def test_lipool_keeps_bursts_of_spikes_as_spikes():
    theta, gamma = 0.25, 3
    counts = torch.randint(0, gamma + 1, (30, 2, 2, 6, 6), generator=torch.Generator().manual_seed(1))
    out = run_steps(LIPool(nn.MaxPool2d(3, 2)), counts.float() * theta)
    k = out / theta
    torch.testing.assert_close(k, k.round().clamp(0, gamma), atol=1e-5, rtol=0)


def test_lipool_refuses_indices():
    with pytest.raises(SnncError, match="returns indices"):
        LIPool(nn.MaxPool2d(2, return_indices=True))


def test_neuron_before_max_pool_matches_ann_order_of_ops():
    """max-pool(relu(a)) in the ANN; LIPool(neuron(a)) converges to it."""
    a = torch.rand(1, 2, 6, 6) * 2 - 0.5
    neuron, lipool = BurstNeuron(threshold=1.5, gamma=5), LIPool(nn.MaxPool2d(3, 2))
    neuron.reset(), lipool.reset()
    steps = 200
    out = sum(lipool(neuron(a)) for _ in range(steps)) / steps
    torch.testing.assert_close(out, F.max_pool2d(a.relu(), 3, 2), atol=1.5 / steps, rtol=0)
