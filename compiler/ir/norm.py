"""Normalisation layers."""

from typing import Literal

from pydantic import PositiveInt

from .base import NodeBase


class BatchNorm(NodeBase):
    """Batch normalisation over ``num_features`` channels: ``y = (x - mean) / sqrt(var + eps) * gamma + beta``.

    ``dims`` is 1 for ``[C]`` or ``[C, L]`` inputs and 2 for ``[C, H, W]`` inputs.
    """

    kind: Literal["batchnorm"] = "batchnorm"
    num_features: PositiveInt
    dims: Literal[1, 2] = 2
    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True
