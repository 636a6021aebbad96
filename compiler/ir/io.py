"""Graph inputs."""

from __future__ import annotations

from typing import Literal

from .base import NodeBase


class Input(NodeBase):
    """The network input: a tensor of ``shape`` (without batch) with values in ``value_range``."""

    kind: Literal["input"] = "input"
    value_range: tuple[float, float] = (0.0, 1.0)
