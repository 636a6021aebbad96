"""Nodes with several inputs: element-wise add and multiply, concatenation."""

from typing import Literal

from .base import NodeBase


class Add(NodeBase):
    """Element-wise sum of all inputs (equal shapes). A residual connection."""

    kind: Literal["add"] = "add"


class Multiply(NodeBase):
    """Element-wise product of all inputs (equal shapes, or broadcast of ``[C, 1, 1]``-style gates)."""

    kind: Literal["multiply"] = "multiply"


class Concat(NodeBase):
    """Concatenation along ``dim`` (batch is dim 0, so channels are dim 1)."""

    kind: Literal["concat"] = "concat"
    dim: int = 1
