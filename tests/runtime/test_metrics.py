"""Predictions by decoding, snnTorch's accuracy, confusion matrices and recorded spike trains."""

from __future__ import annotations

import pytest
import snntorch.functional as SF
import torch

import snnc
from snnc.runtime.metrics import (ConfusionMatrix, RunningMean, count_correct, firing_rates_from_trains,
                                  layer_spike_trains, predictions, scores)


def test_rate_and_count_accuracy_is_snntorch_accuracy_rate():
    gen = torch.Generator().manual_seed(1)
    spk = (torch.rand(6, 50, 10, generator=gen) > 0.8).float()
    y = torch.randint(0, 10, (50,), generator=gen)
    expected = float(SF.accuracy_rate(spk, y))
    for decoding in ("rate", "count"):
        assert count_correct((spk, spk), y, decoding) == round(expected * 50)
        assert (predictions((spk, spk), decoding) == y).float().mean().item() == pytest.approx(expected)


def test_membrane_decoding_uses_mean_membrane():
    mem = torch.zeros(3, 2, 4)
    mem[:, 0, 2] = 1.0
    mem[0, 1, 1], mem[1:, 1, 3] = 5.0, 2.0  # mean: class 1 → 5/3, class 3 → 4/3
    spk = torch.zeros_like(mem)
    assert predictions((spk, mem), "membrane").tolist() == [2, 1]
    assert torch.equal(scores((spk, mem), "membrane"), mem.mean(0))


def test_logits_and_unknown_decoding():
    logits = torch.tensor([[0.1, 2.0], [3.0, -1.0]])
    assert count_correct(logits, torch.tensor([1, 1]), None) == 1
    with pytest.raises(ValueError, match="unknown decoding 'spikes'"):
        scores((logits, logits), "spikes")


def test_confusion_matrix_counts_pairs():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
    cm.update(torch.tensor([0]), torch.tensor([1]))
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert cm.total == 5 and cm.accuracy == pytest.approx(3 / 5)
    assert cm.per_class_accuracy() == pytest.approx([1.0, 0.5, 0.5])


def test_running_mean_weights_batches():
    mean = RunningMean()
    mean.add(1.0, 3)
    mean.add(3.0, 1)
    assert mean.mean == pytest.approx(1.5)


def test_layer_spike_trains_agree_with_spike_counts(tiny_spec):
    torch.manual_seed(0)
    model = snnc.compile(tiny_spec(), "snn", timesteps=6, chunk=4)  # two chunks: 4 + 2 steps
    with torch.no_grad():
        model.fc1.weight.mul_(20)  # make the hidden layer fire
    x = torch.rand(3, 1, 28, 28)
    trains = layer_spike_trains(model, x)
    assert {k: tuple(v.shape) for k, v in trains.items()} == {"lif1": (6, 3, 32), "lif2": (6, 3, 10)}
    with model.recording(), torch.no_grad():
        spk, _ = model(x)
    assert torch.equal(trains["lif2"], spk)
    assert {k: int(v.sum()) for k, v in trains.items()} == model.spike_counts()
    assert firing_rates_from_trains(trains) == pytest.approx(model.firing_rates())
    assert trains["lif1"].sum() > 0
