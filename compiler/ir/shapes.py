"""Shape inference: one function per node kind, in a table.

Each function takes the node and the shapes of its inputs (without batch) and returns the output shape, or
raises :class:`ShapeProblem` saying what is wrong, which field is to blame and how to fix it. Pure integer
arithmetic: nothing is allocated, so absurd sizes are caught before any tensor exists.
"""

from __future__ import annotations

import math
from typing import Callable

from .base import NodeBase, Shape


class ShapeProblem(Exception):
    """A node cannot take the shapes it is given.

    Attributes:
        message: what is wrong (names both ends of the edge where it matters).
        hint: how to fix it.
        field: the node field to blame (``"kernel_size"``, ``"in_features"``), or ``""`` for the node itself.
    """

    def __init__(self, message: str, hint: str = "", field: str = ""):
        super().__init__(message)
        self.message, self.hint, self.field = message, hint, field


ShapeFn = Callable[[NodeBase, list[Shape]], Shape]


def _one(node: NodeBase, shapes: list[Shape], rank: int | None = None) -> Shape:
    if len(shapes) != 1:
        raise ShapeProblem(f"'{node.kind}' takes exactly one input, got {len(shapes)}",
                           "give it a single entry in 'inputs'", "inputs")
    (s,) = shapes
    if rank is not None and len(s) != rank:
        want = {1: "[features]", 3: "[channels, height, width]"}.get(rank, f"rank {rank}")
        raise ShapeProblem(f"'{node.kind}' needs an input shaped {want}, got {list(s)}",
                           "insert a flatten or reshape before it, or fix the input shape", "inputs")
    return s


def _window(size: int, k: int, s: int, p: int, d: int, ceil: bool, what: str, dim: str) -> int:
    span = d * (k - 1) + 1
    if span > size + 2 * p:
        raise ShapeProblem(
            f"{what} {k} (spanning {span}) is larger than its padded input ({size} + 2×{p} = {size + 2 * p}) "
            f"along {dim}", "use a smaller kernel, more padding, or remove a down-sampling layer before it",
            "kernel_size")
    num = size + 2 * p - span
    out = (math.ceil(num / s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _conv2d(node, shapes):
    c, h, w = _one(node, shapes, 3)
    if c != node.in_channels:
        raise ShapeProblem(f"expects {node.in_channels} input channels but its input has {c}",
                           f"set in_channels: {c} (or leave it out to infer it)", "in_channels")
    if node.in_channels % node.groups or node.out_channels % node.groups:
        raise ShapeProblem(f"groups={node.groups} must divide in_channels={node.in_channels} and "
                           f"out_channels={node.out_channels}", "choose groups that divides both", "groups")
    oh = _window(h, node.kernel_size[0], node.stride[0], node.padding[0], node.dilation[0], False, "kernel", "height")
    ow = _window(w, node.kernel_size[1], node.stride[1], node.padding[1], node.dilation[1], False, "kernel", "width")
    return (node.out_channels, oh, ow)


def _linear(node, shapes):
    s = _one(node, shapes)
    if not s:
        raise ShapeProblem("'linear' needs at least one dimension", "", "inputs")
    if s[-1] != node.in_features:
        hint = (f"set in_features: {s[-1]}" if len(s) == 1 else
                f"its input is {list(s)}: add a flatten before it (giving {math.prod(s)} features)")
        raise ShapeProblem(f"expects {node.in_features} input features but its input has {s[-1]} "
                           f"(input shape {list(s)})", hint, "in_features")
    return s[:-1] + (node.out_features,)


def _batchnorm(node, shapes):
    s = _one(node, shapes)
    want = (1, 2) if node.dims == 1 else (3,)
    if len(s) not in want:
        raise ShapeProblem(f"batchnorm{node.dims}d cannot take an input shaped {list(s)}",
                           "use batchnorm1d after linear layers and batchnorm2d after convolutions", "kind")
    if s[0] != node.num_features:
        raise ShapeProblem(f"normalises {node.num_features} channels but its input has {s[0]}",
                           f"set num_features: {s[0]} (or leave it out to infer it)", "num_features")
    return s


def _pool(node, shapes):
    c, h, w = _one(node, shapes, 3)
    ceil = getattr(node, "ceil_mode", False)
    for i, p in enumerate(node.padding):
        if p * 2 > node.kernel_size[i]:
            raise ShapeProblem(f"padding {p} is more than half the kernel {node.kernel_size[i]}",
                               "use padding ≤ kernel_size // 2", "padding")
    oh = _window(h, node.kernel_size[0], node.stride[0], node.padding[0], 1, ceil, "pooling window", "height")
    ow = _window(w, node.kernel_size[1], node.stride[1], node.padding[1], 1, ceil, "pooling window", "width")
    return (c, oh, ow)


def _adaptive(node, shapes):
    c, h, w = _one(node, shapes, 3)
    return (c, *node.output_size)


def _global(node, shapes):
    c, _, _ = _one(node, shapes, 3)
    return (c,)


def _same(node, shapes):
    return _one(node, shapes)


def _flatten(node, shapes):
    return (math.prod(_one(node, shapes)),)


def _reshape(node, shapes):
    s = _one(node, shapes)
    if math.prod(s) != math.prod(node.target):
        raise ShapeProblem(f"cannot reshape {list(s)} ({math.prod(s)} values) to {list(node.target)} "
                           f"({math.prod(node.target)} values)", "make the element counts agree", "shape")
    return tuple(node.target)


def _dim(node, rank: int) -> int:
    """Turn a batch-counting ``dim`` (1 = channels, negative from the end) into an index of the shape."""
    d = node.dim if node.dim >= 0 else node.dim + rank + 1
    if not 1 <= d <= rank:
        raise ShapeProblem(f"dim {node.dim} is out of range for inputs of rank {rank} (plus batch)",
                           "dims count the batch as 0: channels are dim 1", "dim")
    return d - 1


def _slice(node, shapes):
    s = _one(node, shapes)
    d = _dim(node, len(s))
    if not 0 <= node.start < node.stop <= s[d]:
        raise ShapeProblem(f"slice {node.start}:{node.stop} is outside 0:{s[d]} along dim {node.dim}",
                           "choose 0 ≤ start < stop ≤ size", "stop")
    return s[:d] + (node.stop - node.start,) + s[d + 1:]


def _elementwise(node, shapes):
    if len(shapes) < 2:
        raise ShapeProblem(f"'{node.kind}' needs at least two inputs, got {len(shapes)}",
                           "list two or more node names in 'inputs'", "inputs")
    out = shapes[0]
    for i, s in enumerate(shapes[1:], start=1):
        if node.kind == "multiply" and len(s) == len(out) and all(a == b or 1 in (a, b) for a, b in zip(s, out)):
            out = tuple(max(a, b) for a, b in zip(s, out))
            continue
        if s != out:
            raise ShapeProblem(
                f"inputs have different shapes: '{node.inputs[0]}' gives {list(shapes[0])} but "
                f"'{node.inputs[i]}' gives {list(s)}",
                "make both branches produce the same shape (e.g. a 1×1 conv or stride on the shortcut)", "inputs")
    return out


def _concat(node, shapes):
    if len(shapes) < 2:
        raise ShapeProblem(f"'concat' needs at least two inputs, got {len(shapes)}",
                           "list two or more node names in 'inputs'", "inputs")
    rank = len(shapes[0])
    d = _dim(node, rank)
    for i, s in enumerate(shapes[1:], start=1):
        if len(s) != rank or any(a != b for j, (a, b) in enumerate(zip(s, shapes[0])) if j != d):
            raise ShapeProblem(
                f"cannot concatenate along dim {node.dim}: '{node.inputs[0]}' gives {list(shapes[0])} but "
                f"'{node.inputs[i]}' gives {list(s)} (all other dims must match)",
                "make the non-concatenated dimensions agree", "inputs")
    return shapes[0][:d] + (sum(s[d] for s in shapes),) + shapes[0][d + 1:]


def _upsample(node, shapes):
    c, _, _ = _one(node, shapes, 3)
    return (c, *node.size)


def _input(node, shapes):
    if shapes:
        raise ShapeProblem("the input node takes no inputs", "remove its 'inputs'", "inputs")
    return tuple(node.shape)


SHAPE_FUNCTIONS: dict[str, ShapeFn] = {
    "input": _input,
    "conv2d": _conv2d,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "maxpool2d": _pool,
    "avgpool2d": _pool,
    "adaptive_avgpool2d": _adaptive,
    "global_avgpool": _global,
    "activation": _same,
    "spike": _same,
    "dropout": _same,
    "identity": _same,
    "flatten": _flatten,
    "reshape": _reshape,
    "slice": _slice,
    "add": _elementwise,
    "multiply": _elementwise,
    "concat": _concat,
    "upsample": _upsample,
}
"""Node kind → shape function. Every IR kind has an entry (a test checks this)."""


def infer_shape(node: NodeBase, input_shapes: list[Shape]) -> Shape:
    """Output shape of ``node`` given its inputs' shapes.

    Raises:
        ShapeProblem: the shapes do not fit, or no shape function exists for the kind.
    """
    fn = SHAPE_FUNCTIONS.get(node.kind)
    if fn is None:
        raise ShapeProblem(f"no shape inference for node kind '{node.kind}'",
                           "supported kinds: " + ", ".join(sorted(SHAPE_FUNCTIONS)))
    return tuple(fn(node, list(input_shapes)))
