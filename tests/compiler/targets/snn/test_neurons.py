"""NeuronParams → snnTorch neuron and surrogate: the right objects, and the in-place surrogate gradients
agree with snnTorch's own backward."""

from __future__ import annotations

import math

import pytest
import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.ir.neuron import NeuronParams
from snnc.compiler.targets.snn.neurons import (
    NEURONS,
    SURROGATE_GRADS,
    SURROGATES,
    build_neuron,
    build_surrogate,
    build_surrogate_grad,
)

RESETS = ["subtract", "zero", "none"]


@pytest.mark.parametrize(
    "model, cls, beta",
    [("leaky", snn.Leaky, 0.8), ("synaptic", snn.Synaptic, 0.8), ("if", snn.Leaky, 1.0)],
)
@pytest.mark.parametrize("reset", RESETS)
def test_model_and_reset_map_to_the_snntorch_neuron(model, cls, beta, reset):
    neuron = build_neuron(NeuronParams(model=model, beta=0.8, alpha=0.6, threshold=0.7, reset=reset))
    assert type(neuron) is cls
    assert neuron.reset_mechanism == reset
    assert neuron.beta.item() == pytest.approx(beta)
    assert neuron.threshold.item() == pytest.approx(0.7)
    if model == "synaptic":
        assert neuron.alpha.item() == pytest.approx(0.6)


def test_every_model_and_surrogate_has_an_entry():
    assert set(NEURONS) == {"leaky", "synaptic", "if"}
    assert set(SURROGATES) == set(SURROGATE_GRADS) == {
        "atan", "fast_sigmoid", "sigmoid", "straight_through", "triangular"
    }


def _grad_of(fn, x, g):
    x = x.clone().requires_grad_()
    (out,) = torch.autograd.grad(fn(x), x, g)
    return out


SNNTORCH_EQUIVALENT = {
    "atan": lambda p: surrogate.atan(alpha=p.slope),
    "fast_sigmoid": lambda p: surrogate.fast_sigmoid(slope=p.slope),
    "sigmoid": lambda p: surrogate.sigmoid(slope=p.slope),
    "straight_through": lambda p: surrogate.straight_through_estimator(),
    "triangular": lambda p: surrogate.triangular(threshold=p.threshold),
}


@pytest.mark.parametrize("kind", sorted(SURROGATES))
def test_surrogate_matches_snntorch_forward_and_backward(kind):
    params = NeuronParams(surrogate=kind, slope=3.0, threshold=0.8)
    torch.manual_seed(0)
    x, g = torch.randn(200) * 2, torch.randn(200)
    x[:3] = torch.tensor([0.0, -0.0, 1e-30])
    ours, theirs = build_surrogate(params), SNNTORCH_EQUIVALENT[kind](params)
    assert torch.equal(ours(x), theirs(x))
    assert torch.equal(ours(x), (x > 0).float())
    expected = _grad_of(theirs, x, g)
    assert torch.allclose(_grad_of(ours, x, g), expected)
    assert torch.allclose(build_surrogate_grad(params)(x.clone(), g), expected, rtol=1e-5, atol=1e-7)


def test_atan_surrogate_gradient_formula():
    params = NeuronParams(surrogate="atan", slope=2.0)
    x = torch.tensor([0.0, 0.5])
    got = build_surrogate_grad(params)(x.clone(), torch.ones(2))
    expected = 2.0 / 2 / (1 + (math.pi / 2 * 2.0 * x) ** 2)
    assert torch.allclose(got, expected)


@pytest.mark.parametrize("model", ["leaky", "synaptic", "if"])
def test_learnable_beta_and_threshold_are_parameters(model):
    params = NeuronParams(model=model, learn_beta=model != "if", learn_threshold=True)
    neuron = build_neuron(params)
    names = dict(neuron.named_parameters())
    assert isinstance(names["threshold"], nn.Parameter)
    assert ("beta" in names) == (model != "if")
    frozen = dict(build_neuron(NeuronParams(model=model)).named_parameters())
    assert frozen == {}


def test_if_with_learnable_beta_is_rejected():
    with pytest.raises(UnsupportedError, match="integrate-and-fire.*learn_beta"):
        build_neuron(NeuronParams(model="if", learn_beta=True))


def test_unknown_surrogate_lists_the_supported_ones():
    bogus = NeuronParams.model_construct(**{**NeuronParams().model_dump(), "surrogate": "erf"})
    with pytest.raises(UnsupportedError, match="surrogate gradient 'erf'; supported: atan, fast_sigmoid"):
        build_neuron(bogus)
