"""Pooling layers."""

from typing import Literal

from .base import NodeBase

Pair = tuple[int, int]


class _Window2d(NodeBase):
    """Fields of a pooling window sliding over ``[C, H, W]``."""

    kernel_size: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil_mode: bool = False


class MaxPool2d(_Window2d):
    """Max pooling over ``[C, H, W]`` windows (in spiking targets: a max over spikes per step)."""

    kind: Literal["maxpool2d"] = "maxpool2d"


class AvgPool2d(_Window2d):
    """Average pooling over ``[C, H, W]`` windows (linear; makes spike inputs non-binary)."""

    kind: Literal["avgpool2d"] = "avgpool2d"


class AdaptiveAvgPool2d(NodeBase):
    """Adaptive average pooling to a fixed ``output_size`` (as ``torch.nn.AdaptiveAvgPool2d``)."""

    kind: Literal["adaptive_avgpool2d"] = "adaptive_avgpool2d"
    output_size: Pair


class GlobalAvgPool(NodeBase):
    """Mean over all spatial positions: ``[C, H, W] → [C]``."""

    kind: Literal["global_avgpool"] = "global_avgpool"
