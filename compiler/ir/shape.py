"""Shape-only and pass-through nodes: flatten, reshape, slice, dropout, identity."""

from typing import Literal

from .base import NodeBase


class Flatten(NodeBase):
    """Flatten everything but the batch: ``[C, H, W] → [C*H*W]``."""

    kind: Literal["flatten"] = "flatten"


class Reshape(NodeBase):
    """Reshape to ``target`` (without batch; fully resolved, no -1)."""

    kind: Literal["reshape"] = "reshape"
    target: tuple[int, ...]


class Slice(NodeBase):
    """``x[:, ..., start:stop]`` along ``dim`` (dim counts the batch as 0, so channels are dim 1)."""

    kind: Literal["slice"] = "slice"
    dim: int = 1
    start: int
    stop: int


class Dropout(NodeBase):
    """Dropout with probability ``p`` (identity at inference)."""

    kind: Literal["dropout"] = "dropout"
    p: float = 0.5


class Identity(NodeBase):
    """Passes its input through unchanged."""

    kind: Literal["identity"] = "identity"
