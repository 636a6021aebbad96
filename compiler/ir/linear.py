"""Fully connected layers."""

from typing import Literal

from pydantic import PositiveInt

from .base import NodeBase


class Linear(NodeBase):
    """``y = x W^T + b`` on the last dimension (NIR's ``Affine`` when ``bias``, ``Linear`` otherwise)."""

    kind: Literal["linear"] = "linear"
    in_features: PositiveInt
    out_features: PositiveInt
    bias: bool = True
