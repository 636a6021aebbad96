"""Non-spiking activation functions (spike nodes are in :mod:`.neuron`)."""

from typing import Literal

from .base import NodeBase

ActivationFunction = Literal["relu", "relu6", "sigmoid", "hardsigmoid", "hardswish", "gelu", "tanh", "silu",
                             "leaky_relu", "softmax"]


class Activation(NodeBase):
    """An element-wise activation ``function`` (``softmax`` over ``dim`` 1). Stays analog in every target."""

    kind: Literal["activation"] = "activation"
    function: ActivationFunction
    negative_slope: float = 0.01
