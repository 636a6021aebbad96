"""Running a converted network: the execution modes agree, state resets, spike counts are right."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnc.compiler.errors import SnncError
from snnc.compiler.targets.burst import convert


@pytest.fixture
def snn(cnn, images):
    return convert(cnn, images, timesteps=32)


def test_forward_return_steps_and_accumulate_agree(snn, probe):
    mean = snn(probe)
    steps = snn(probe, return_steps=True)
    assert steps.shape == (32, 4, 5)
    torch.testing.assert_close(steps.mean(0), mean)
    at = snn.accumulate(probe, [32, 4, 16])
    assert sorted(at) == [4, 16, 32]
    torch.testing.assert_close(at[32], mean)
    torch.testing.assert_close(at[4], steps[:4].mean(0))
    torch.testing.assert_close(at[16], steps[:16].mean(0))


def test_folding_time_into_the_batch_does_not_change_the_result(cnn, images, probe):
    folded = convert(cnn, images, fold_batch=1024)(probe, timesteps=40, return_steps=True)
    chunked = convert(cnn, images, fold_batch=12)(probe, timesteps=40, return_steps=True)  # chunks of 3
    stepwise = convert(cnn, images, fold_batch=1)(probe, timesteps=40, return_steps=True)
    torch.testing.assert_close(chunked, folded, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stepwise, folded, rtol=1e-5, atol=1e-5)


def test_step_by_step_with_explicit_reset(snn, probe):
    expected = snn(probe, timesteps=10, return_steps=True)
    snn.reset()
    stepped = torch.stack([snn.step(probe) for _ in range(10)])
    torch.testing.assert_close(stepped, expected, rtol=1e-5, atol=1e-5)
    snn.reset()
    torch.testing.assert_close(snn.step(probe), expected[0], rtol=1e-5, atol=1e-5)


def test_state_resets_between_calls(snn, probe):
    first = snn(probe)
    torch.testing.assert_close(snn(probe), first)
    snn.step(probe)  # leave state behind; forward must not see it
    torch.testing.assert_close(snn(probe), first)


def test_spike_counts_count_every_spike_of_a_burst(cnn, images, probe):
    snn = convert(cnn, images, percentile=90.0, gamma=5)  # low thresholds: many bursts
    outputs: dict[str, list[torch.Tensor]] = {}
    for name, neuron in snn.neurons().items():
        neuron.register_forward_hook(
            lambda mod, i, out, name=name: outputs.setdefault(name, []).append(out / mod.threshold))
    snn(probe, timesteps=16)
    counts = snn.spike_counts()
    bursts = 0
    for name, parts in outputs.items():
        k = torch.cat(parts).round()
        assert counts[name] == int(k.sum().item())
        bursts += int((k > 1).sum().item())
    assert bursts > 0
    neurons = snn.neuron_counts()
    assert neurons == {"features.2": 8 * 8 * 8, "features.6": 8 * 4 * 4, "features.9": 12 * 2 * 2,
                       "classifier.3": 16}
    assert snn.sample_steps == 4 * 16
    rates = snn.firing_rates()
    for name in counts:
        assert rates[name] == pytest.approx(counts[name] / (neurons[name] * 4 * 16))
    assert max(rates.values()) <= 5


def test_spike_counts_accumulate_until_reset_counts(snn, probe):
    snn(probe, timesteps=8)
    once = snn.spike_counts()
    snn(probe, timesteps=8)
    assert snn.spike_counts() == {name: 2 * n for name, n in once.items()}
    assert snn.sample_steps == 2 * 4 * 8
    snn.reset_counts()
    assert set(snn.spike_counts().values()) == {0} and snn.sample_steps == 0


def test_input_is_spikes_per_layer(snn, resnet, images):
    cnn_inputs = snn.input_is_spikes()
    assert cnn_inputs["features.0"] is False  # the image
    assert cnn_inputs["features.2"] is False  # a neuron's input: conv output (current)
    assert cnn_inputs["features.3"] is True  # LIPool after the neuron features.2
    assert cnn_inputs["features.4"] is True  # depthwise conv after LIPool(neuron): still spikes
    assert cnn_inputs["features.8"] is True
    assert cnn_inputs["classifier.1"] is False  # after average pooling
    assert cnn_inputs["classifier.5"] is True  # after a neuron (dropout removed)
    res_inputs = convert(resnet, images).input_is_spikes()
    assert res_inputs["block1.conv1"] is True
    assert res_inputs["head"] is False
    assert res_inputs["add"] is False  # conv output + spikes: the sum's inputs are not all spikes


def test_train_keeps_the_converted_layers_in_eval_mode(snn, probe):
    before = snn(probe)
    snn.train()
    assert snn.training and not snn.network.training
    torch.testing.assert_close(snn(probe), before)


def test_bad_run_arguments(snn, probe):
    with pytest.raises(SnncError, match="timesteps must be a positive integer"):
        snn(probe, timesteps=0)
    with pytest.raises(SnncError, match="needs at least one checkpoint"):
        snn.accumulate(probe, [])
    with pytest.raises(SnncError, match="checkpoint must be a positive integer"):
        snn.accumulate(probe, [0, 4])


def test_device_and_dtype_follow_the_module(snn, probe):
    snn = snn.double()
    assert snn(probe.double()).dtype == torch.float64
    assert all(isinstance(m, nn.Module) for m in snn.neurons().values())
