"""Resampling."""

from typing import Literal

from .base import NodeBase


class Upsample(NodeBase):
    """Spatial up-sampling of ``[C, H, W]`` to ``size`` (resolved from a scale factor by the front end)."""

    kind: Literal["upsample"] = "upsample"
    size: tuple[int, int]
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool = False
