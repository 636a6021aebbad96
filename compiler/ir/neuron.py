"""Spiking nodes: where a neuron fires.

In the ann target a spike node is a ReLU; in spiking targets it becomes a neuron whose parameters are fully
resolved here (no "inherit from the model-wide section" left).

Equations (discrete time, one step per time step ``t``, input current ``I[t]`` from the previous layer):

* ``leaky`` (LIF, snnTorch ``Leaky``):   ``U[t] = beta * U[t-1] + I[t] - R[t]``
* ``synaptic`` (snnTorch ``Synaptic``):  ``S[t] = alpha * S[t-1] + I[t]``;  ``U[t] = beta * U[t-1] + S[t] - R[t]``
* ``if`` (integrate-and-fire):           ``U[t] = U[t-1] + I[t] - R[t]`` (``beta`` = 1)

The neuron fires ``Z[t] = H(U[t] - threshold)`` (Heaviside; its gradient is replaced by the surrogate).
Reset ``R[t]``: ``subtract`` removes ``threshold * Z[t-1]``, ``zero`` sets ``U`` to 0 after a spike, ``none``
never resets. Units are dimensionless (membrane in units of the input current); ``beta = exp(-1/tau)``
with ``tau`` in time steps.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import NodeBase

NeuronModel = Literal["leaky", "synaptic", "if"]
ResetMechanism = Literal["subtract", "zero", "none"]
Surrogate = Literal["atan", "fast_sigmoid", "sigmoid", "straight_through", "triangular"]


class NeuronParams(BaseModel):
    """Resolved neuron parameters of one spike node.

    Attributes:
        model: ``leaky``, ``synaptic`` or ``if``.
        beta: membrane decay per step, in [0, 1] (1 for ``if``).
        alpha: synaptic current decay per step (``synaptic`` only), in [0, 1].
        threshold: firing threshold (> 0).
        reset: ``subtract``, ``zero`` or ``none``.
        surrogate: surrogate gradient of the Heaviside step.
        slope: the surrogate's slope / sharpness parameter (snnTorch's ``alpha`` or ``slope``).
        learn_beta: whether beta is a trainable parameter.
        learn_threshold: whether the threshold is a trainable parameter.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    model: NeuronModel = "leaky"
    beta: float = Field(0.95, ge=0.0, le=1.0)
    alpha: float = Field(0.9, ge=0.0, le=1.0)
    threshold: float = Field(1.0, gt=0.0)
    reset: ResetMechanism = "subtract"
    surrogate: Surrogate = "atan"
    slope: float = Field(2.0, gt=0.0)
    learn_beta: bool = False
    learn_threshold: bool = False


class Spike(NodeBase):
    """Where a neuron fires: ReLU in the ann target, a neuron of ``neuron.model`` in spiking targets."""

    kind: Literal["spike"] = "spike"
    neuron: NeuronParams = NeuronParams()
