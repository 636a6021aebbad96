"""Convolutions."""

from typing import Literal

from pydantic import PositiveInt

from .base import NodeBase

Pair = tuple[int, int]


class Conv2d(NodeBase):
    """2-D convolution over ``[C, H, W]``; ``groups == in_channels`` is a depthwise convolution.

    ``H_out = floor((H + 2*padding - dilation*(kernel-1) - 1) / stride) + 1`` per spatial dimension.
    """

    kind: Literal["conv2d"] = "conv2d"
    in_channels: PositiveInt
    out_channels: PositiveInt
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: PositiveInt = 1
    bias: bool = True
