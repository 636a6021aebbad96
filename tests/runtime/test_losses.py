"""Losses by name: every entry builds, reads the right recording, and the defaults follow the decoding."""

from __future__ import annotations

import pytest
import snntorch.functional as SF
import torch
import torch.nn.functional as F

from snnc.compiler.errors import UnsupportedError
from snnc.runtime.losses import DEFAULT_LOSS, LOSSES, RECORDING, SCORES, default_loss, make_loss, resolve_loss


def _recording(steps=5, batch=4, classes=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    spk = (torch.rand(steps, batch, classes, generator=gen) > 0.7).float().requires_grad_()
    mem = torch.randn(steps, batch, classes, generator=gen, requires_grad=True)
    return spk, mem, torch.randint(0, classes, (batch,), generator=gen)


@pytest.mark.parametrize("name", [n for n, i in LOSSES.items() if i.form == RECORDING])
def test_every_snn_loss_is_a_differentiable_scalar(name):
    spk, mem, y = _recording()
    value = make_loss(name, RECORDING)((spk, mem), y)
    assert value.shape == () and torch.isfinite(value)
    value.backward()
    grad = spk.grad if LOSSES[name].reads == "spk" else mem.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("name,criterion,reads", [
    ("ce_rate_loss", SF.ce_rate_loss(), 0),
    ("ce_count_loss", SF.ce_count_loss(), 0),
    ("mse_count_loss", SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2), 0),
    ("ce_max_membrane_loss", SF.ce_max_membrane_loss(), 1),
    ("mse_membrane_loss", SF.mse_membrane_loss(), 1),
])
def test_snntorch_losses_equal_snntorch(name, criterion, reads):
    spk, mem, y = _recording()
    ours = make_loss(name, RECORDING)((spk, mem), y)
    theirs = criterion((spk, mem)[reads], y)
    assert torch.allclose(ours, theirs.reshape(()))


def test_membrane_per_step_is_the_tutorial_loop():
    spk, mem, y = _recording(steps=7)
    expected = torch.zeros(())
    for step in range(mem.shape[0]):  # snnTorch tutorial 5
        expected = expected + F.cross_entropy(mem[step], y)
    assert torch.allclose(make_loss("ce_membrane_per_step", RECORDING)((spk, mem), y), expected)


def test_loss_options_reach_snntorch():
    spk, mem, y = _recording()
    ours = make_loss("mse_count_loss", RECORDING, correct_rate=1.0, incorrect_rate=0.0)((spk, mem), y)
    assert torch.allclose(ours, SF.mse_count_loss(correct_rate=1.0, incorrect_rate=0.0)(spk, y).reshape(()))


def test_defaults_follow_decoding_and_target():
    assert {d: default_loss(RECORDING, d) for d in DEFAULT_LOSS} == {
        "rate": "ce_rate_loss", "count": "ce_count_loss", "membrane": "ce_membrane_per_step"}
    assert default_loss(SCORES, "membrane") == "cross_entropy"
    name, fn = resolve_loss(None, SCORES, "rate")
    logits, y = torch.randn(3, 10), torch.tensor([1, 2, 3])
    assert name == "cross_entropy" and torch.allclose(fn(logits, y), F.cross_entropy(logits, y))


def test_unknown_loss_suggests_a_name():
    with pytest.raises(UnsupportedError, match="unknown loss 'ce_rate'. Did you mean 'ce_rate_loss'"):
        make_loss("ce_rate", RECORDING)


def test_loss_of_the_other_target_is_refused():
    with pytest.raises(UnsupportedError, match=r"loss 'cross_entropy' is for scores or logits \(ann\); losses for "
                                               r"spiking networks trained through time \(snn\): ce_rate_loss"):
        make_loss("cross_entropy", RECORDING)


def test_unknown_option_lists_the_options():
    with pytest.raises(UnsupportedError, match="has no option 'correct'.*Its options: correct_rate, incorrect_rate"):
        make_loss("mse_count_loss", RECORDING, correct=0.5)


def test_dense_recording_needs_the_per_step_loss():
    spk = torch.zeros(3, 2, 2, 8, 8)
    with pytest.raises(UnsupportedError, match=r"reads a recording \[T, B, classes\], got shape \[3, 2, 2, 8, 8\]"):
        make_loss("ce_rate_loss", RECORDING)((spk, spk), torch.zeros(2, 8, 8, dtype=torch.long))


def test_callable_loss_keeps_its_name_and_refuses_options():
    def my_loss(output, targets):
        return output.sum()

    assert resolve_loss(my_loss, SCORES, "rate")[0] == "my_loss"
    with pytest.raises(UnsupportedError, match="loss options apply to named losses only"):
        resolve_loss(my_loss, SCORES, "rate", {"x": 1})
