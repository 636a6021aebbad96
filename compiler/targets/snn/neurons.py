"""From resolved :class:`~snnc.compiler.ir.neuron.NeuronParams` to snnTorch objects.

Two tables, one per choice the IR makes: the neuron model (``leaky``, ``synaptic``, ``if``) and the surrogate
gradient (``atan``, ``fast_sigmoid``, ``sigmoid``, ``straight_through``, ``triangular``). Every entry builds a
real snnTorch object, so the step-by-step reference path *is* snnTorch and the fused path borrows its
parameters (``beta``, ``threshold`` as buffers or ``nn.Parameter``) and its surrogate function.

Mapping of ``slope`` (the IR's single surrogate knob) onto snnTorch's arguments:

* ``atan``: ``surrogate.atan(alpha=slope)``
* ``fast_sigmoid``: ``surrogate.fast_sigmoid(slope=slope)``
* ``sigmoid``: ``surrogate.sigmoid(slope=slope)``
* ``straight_through``: ``surrogate.straight_through_estimator()`` (no parameter)
* ``triangular``: ``surrogate.triangular(threshold=threshold)`` — snnTorch's only argument is the neuron
  threshold ``U_thr`` that sets the gradient's height, so ``slope`` does not apply.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor

from ...errors import UnsupportedError
from ...ir.neuron import NeuronParams

SurrogateFn = Callable[..., object]

SURROGATES: dict[str, Callable[[NeuronParams], SurrogateFn]] = {
    "atan": lambda p: surrogate.atan(alpha=p.slope),
    "fast_sigmoid": lambda p: surrogate.fast_sigmoid(slope=p.slope),
    "sigmoid": lambda p: surrogate.sigmoid(slope=p.slope),
    "straight_through": lambda p: surrogate.straight_through_estimator(),
    "triangular": lambda p: surrogate.triangular(threshold=p.threshold),
}
"""Surrogate kind → factory of the snnTorch spike function (Heaviside forward, surrogate backward)."""


SurrogateGrad = Callable[[Tensor, Tensor], Tensor]
"""``fn(x, g)``: the surrogate's gradient ``dS/dx * g`` at ``x = mem - threshold``, written into ``x``."""


def _atan_grad(p: NeuronParams) -> SurrogateGrad:
    a = p.slope

    def grad(x: Tensor, g: Tensor) -> Tensor:
        # snnTorch: alpha / 2 / (1 + (pi / 2 * alpha * x) ** 2) * g
        x.mul_(math.pi / 2 * a).square_().add_(1.0)
        return torch.div(g, x, out=x).mul_(a / 2)

    return grad


def _fast_sigmoid_grad(p: NeuronParams) -> SurrogateGrad:
    k = p.slope

    def grad(x: Tensor, g: Tensor) -> Tensor:
        # snnTorch: g / (slope * |x| + 1) ** 2
        x.abs_().mul_(k).add_(1.0).square_()
        return torch.div(g, x, out=x)

    return grad


def _sigmoid_grad(p: NeuronParams) -> SurrogateGrad:
    k = p.slope

    def grad(x: Tensor, g: Tensor) -> Tensor:
        # snnTorch: g * k * exp(-k x) / (exp(-k x) + 1) ** 2. The derivative is even in x, so use |x|: the
        # exponential then never overflows (snnTorch's gives NaN for x < -88 / k; this gives 0).
        e = x.abs_().mul_(-k).exp_()
        return e.div_((e + 1.0).square_()).mul_(g).mul_(k)

    return grad


def _straight_through_grad(p: NeuronParams) -> SurrogateGrad:
    return lambda x, g: x.copy_(g)


def _triangular_grad(p: NeuronParams) -> SurrogateGrad:
    u = p.threshold

    def grad(x: Tensor, g: Tensor) -> Tensor:
        # snnTorch: g * threshold, negated where x >= 0
        at_or_above = x >= 0
        return x.fill_(u).masked_fill_(at_or_above, -u).mul_(g)

    return grad


SURROGATE_GRADS: dict[str, Callable[[NeuronParams], SurrogateGrad]] = {
    "atan": _atan_grad,
    "fast_sigmoid": _fast_sigmoid_grad,
    "sigmoid": _sigmoid_grad,
    "straight_through": _straight_through_grad,
    "triangular": _triangular_grad,
}
"""Surrogate kind → the same gradient as the snnTorch function of :data:`SURROGATES`, with in-place ops.

Why a second table: snnTorch's backward allocates a tensor per operation, which over all time steps of a
layer at once costs more than the rest of the backward; the fused neuron uses these instead (tests check that
both agree).
"""


def _membrane_options(p: NeuronParams, spike_grad: SurrogateFn) -> dict:
    """The keyword arguments snnTorch's Leaky and Synaptic share."""
    return dict(beta=p.beta, threshold=p.threshold, spike_grad=spike_grad, learn_beta=p.learn_beta,
                learn_threshold=p.learn_threshold, reset_mechanism=p.reset)


def _leaky(p: NeuronParams, spike_grad: SurrogateFn) -> snn.SpikingNeuron:
    return snn.Leaky(**_membrane_options(p, spike_grad))


def _synaptic(p: NeuronParams, spike_grad: SurrogateFn) -> snn.SpikingNeuron:
    return snn.Synaptic(alpha=p.alpha, **_membrane_options(p, spike_grad))


def _integrate_and_fire(p: NeuronParams, spike_grad: SurrogateFn) -> snn.SpikingNeuron:
    # Why: snnTorch has no separate IF neuron; a Leaky with beta = 1 never leaks.
    if p.learn_beta:
        raise UnsupportedError(
            "an integrate-and-fire neuron ('if') has no decay to learn (beta is fixed at 1): "
            "set learn_beta: false or use model: leaky"
        )
    return snn.Leaky(
        beta=1.0,
        threshold=p.threshold,
        spike_grad=spike_grad,
        learn_threshold=p.learn_threshold,
        reset_mechanism=p.reset,
    )


NEURONS: dict[str, Callable[[NeuronParams, SurrogateFn], snn.SpikingNeuron]] = {
    "leaky": _leaky,
    "synaptic": _synaptic,
    "if": _integrate_and_fire,
}
"""Neuron model → factory of the snnTorch neuron (``init_hidden=False``: state is passed explicitly)."""


def _lookup(table: dict, key: str, what: str):
    if key not in table:
        raise UnsupportedError(
            f"the snn target has no {what} '{key}'; supported: {', '.join(sorted(table))}"
        )
    return table[key]


def build_surrogate(params: NeuronParams) -> SurrogateFn:
    """Build the snnTorch spike function (Heaviside forward, surrogate gradient backward) of ``params``.

    Args:
        params: resolved neuron parameters.

    Returns:
        A callable ``spk = fn(mem - threshold)`` from :mod:`snntorch.surrogate`.

    Raises:
        UnsupportedError: the surrogate kind has no snnTorch counterpart here.
    """
    return _lookup(SURROGATES, params.surrogate, "surrogate gradient")(params)


def build_surrogate_grad(params: NeuronParams) -> Optional[SurrogateGrad]:
    """The in-place surrogate gradient of ``params`` (see :data:`SURROGATE_GRADS`), or None if there is none.

    Args:
        params: resolved neuron parameters.

    Returns:
        ``fn(x, g)`` that overwrites ``x = mem - threshold`` with ``dS/dx * g`` and returns it.
    """
    factory = SURROGATE_GRADS.get(params.surrogate)
    return factory(params) if factory is not None else None


def build_neuron(params: NeuronParams) -> snn.SpikingNeuron:
    """Build the snnTorch neuron that implements ``params``.

    Args:
        params: resolved neuron parameters (model, beta, alpha, threshold, reset, surrogate, slope, learn flags).

    Returns:
        ``snn.Leaky`` (``leaky``; ``if`` with beta = 1) or ``snn.Synaptic`` (``synaptic``), with ``beta`` and
        ``threshold`` registered as ``nn.Parameter`` when their ``learn_*`` flag is set.

    Raises:
        UnsupportedError: the model or surrogate is unknown, or ``learn_beta`` is set for ``if``.
    """
    factory = _lookup(NEURONS, params.model, "neuron model")
    return factory(params, build_surrogate(params))
