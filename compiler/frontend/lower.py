"""Lowering: each expanded layer becomes a normalised IR node, and its shape is inferred with the shape table.

:data:`LOWER_LAYER` maps a spec layer kind to the function that builds its node (channels and features inferred,
``padding: same`` and ``-1`` resolved, neuron sections merged); :func:`lower_items` runs it over the ordered items,
skipping the layers fed by a broken one, and reports every impossible shape at the layer and field to blame.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..errors import Diagnostic, SpecError
from ..ir import (Activation, AdaptiveAvgPool2d, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dropout, Flatten,
                  GlobalAvgPool, Identity, Input, Linear, MaxPool2d, Multiply, NeuronParams, Reshape, Slice, Spike,
                  Upsample)
from ..ir.shapes import ShapeProblem, infer_shape
from ..spec import models as m
from .expand import Item, Origin


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


class LowerProblem(Exception):
    """A layer that cannot become a node: the message, what to do, and the layer field to blame."""

    def __init__(self, message: str, hint: str = "", field: str = ""):
        super().__init__(message)
        self.message, self.hint, self.field = message, hint, field


def _conv(layer: m.Conv2dLayer, shapes, ctx, b):
    in_ch = layer.in_channels or (shapes[0][0] if shapes[0] else 1)
    k, d = _pair(layer.kernel_size), _pair(layer.dilation)
    stride = _pair(layer.stride)
    if layer.padding == "same":
        if stride != (1, 1):
            raise LowerProblem("padding 'same' needs stride 1", "give the padding as a number", "padding")
        if any((dd * (kk - 1)) % 2 for kk, dd in zip(k, d)):
            raise LowerProblem(f"padding 'same' needs an odd kernel, got {list(k)}", "give the padding as a number",
                                "padding")
        padding = tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d))
    else:
        padding = _pair(layer.padding)
    groups = in_ch if layer.depthwise else layer.groups
    if layer.depthwise and layer.groups != 1:
        raise LowerProblem("give either depthwise: true or groups, not both", "", "groups")
    return Conv2d(**b, in_channels=in_ch, out_channels=layer.out_channels, kernel_size=k, stride=stride, padding=padding,
                  dilation=d, groups=groups, bias=layer.bias)


def _linear(layer: m.LinearLayer, shapes, ctx, b):
    return Linear(**b, in_features=layer.in_features or (shapes[0][-1] if shapes[0] else 1),
                  out_features=layer.out_features, bias=layer.bias)


def _batchnorm(layer: m.BatchNormLayer, shapes, ctx, b):
    rank = len(shapes[0])
    dims = {"batchnorm1d": 1, "batchnorm2d": 2}.get(layer.kind, 2 if rank == 3 else 1)
    return BatchNorm(**b, num_features=layer.num_features or (shapes[0][0] if shapes[0] else 1), dims=dims, eps=layer.eps,
                     momentum=layer.momentum, affine=layer.affine)


def _pool(layer: m.PoolLayer, shapes, ctx, b):
    cls = MaxPool2d if layer.kind == "maxpool2d" else AvgPool2d
    k = _pair(layer.kernel_size)
    return cls(**b, kernel_size=k, stride=_pair(layer.stride) if layer.stride is not None else k,
               padding=_pair(layer.padding), ceil_mode=layer.ceil_mode)


def _reshape(layer: m.ReshapeLayer, shapes, ctx, b):
    target = list(layer.shape)
    total = math.prod(shapes[0])
    if target.count(-1) > 1:
        raise LowerProblem("at most one entry of shape may be -1", "", "shape")
    if any(t == 0 or t < -1 for t in target):
        raise LowerProblem(f"shape entries must be positive (or one -1), got {target}", "", "shape")
    if -1 in target:
        known = math.prod(t for t in target if t != -1)
        if total % known:
            raise LowerProblem(f"cannot reshape {list(shapes[0])} ({total} values) to {target}",
                                "make the element counts agree", "shape")
        target[target.index(-1)] = total // known
    return Reshape(**b, target=tuple(target))


def _upsample(layer: m.UpsampleLayer, shapes, ctx, b):
    s = shapes[0]
    if len(s) != 3:
        raise LowerProblem(f"upsample needs an input shaped [C, H, W], got {list(s)}", "", "inputs")
    if layer.like is not None:  # the last input only lends its size: it is not an input of the node
        like, b = shapes[-1], {**b, "inputs": b["inputs"][:-1]}
        if len(like) != 3:
            raise LowerProblem(f"'like' names a layer shaped {list(like)}, not [C, H, W]", "", "like")
        size = (like[1], like[2])
    elif layer.size is not None:
        size = _pair(layer.size)
    else:
        size = (s[1] * layer.scale_factor, s[2] * layer.scale_factor)
    return Upsample(**b, size=size, mode=layer.mode, align_corners=layer.align_corners)


def resolve_neuron(model_wide: m.NeuronSpec, override: m.NeuronSpec | None = None) -> NeuronParams:
    """Merge a layer's neuron override into the model-wide section and resolve ``tau`` and ``if``.

    Returns:
        Fully resolved parameters (``beta = exp(-1/tau)`` when ``tau`` is given; ``beta = 1`` for ``if``).
    """
    merged: dict[str, Any] = {}
    for section in (model_wide, override or m.NeuronSpec()):
        values = section.model_dump(exclude_none=True)
        if "beta" in values or "tau" in values:
            merged.pop("beta", None)
            merged.pop("tau", None)
        merged.update(values)
    tau = merged.pop("tau", None)
    if tau is not None:
        merged["beta"] = math.exp(-1.0 / tau)
    if merged.get("model") == "if":
        merged["beta"] = 1.0
    return NeuronParams(**merged)


_SIMPLE: dict[str, Callable[[Any, list, dict, dict], Any]] = {
    "flatten": lambda layer, s, c, b: Flatten(**b),
    "identity": lambda layer, s, c, b: Identity(**b),
    "global_avgpool": lambda layer, s, c, b: GlobalAvgPool(**b),
    "dropout": lambda layer, s, c, b: Dropout(**b, p=layer.p),
    "add": lambda layer, s, c, b: Add(**b),
    "multiply": lambda layer, s, c, b: Multiply(**b),
    "concat": lambda layer, s, c, b: Concat(**b, dim=layer.dim),
    "activation": lambda layer, s, c, b: Activation(**b, function=layer.function, negative_slope=layer.negative_slope),
    "spike": lambda layer, s, c, b: Spike(**b, neuron=resolve_neuron(c["neuron"], layer.neuron)),
    "adaptive_avgpool2d": lambda layer, s, c, b: AdaptiveAvgPool2d(**b, output_size=_pair(layer.output_size)),
    "slice": lambda layer, s, c, b: Slice(**b, dim=layer.dim, start=layer.start, stop=layer.stop),
}

LOWER_LAYER: dict[str, Callable[[Any, list, dict, dict], Any]] = {
    "conv2d": _conv,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "batchnorm1d": _batchnorm,
    "batchnorm2d": _batchnorm,
    "maxpool2d": _pool,
    "avgpool2d": _pool,
    "reshape": _reshape,
    "upsample": _upsample,
    **_SIMPLE,
}
"""Spec layer kind → function(layer, input shapes, context, base fields) building the IR node (shape not yet set)."""


def lower_items(items: list[Item], spec: m.Spec, source) -> tuple[list[Any], dict[str, Origin]]:
    """Build the shape-annotated nodes of ``items`` (in topological order), the input node first.

    Returns:
        The nodes and the spec origin of each.

    Raises:
        SpecError: every impossible layer, located at the field to blame (layers fed by it are not reported).
    """
    input_name = spec.input.name
    ctx = {"neuron": spec.neuron}
    nodes: list[Any] = [Input(name=input_name, shape=tuple(spec.input.shape), value_range=spec.input.range)]
    shapes: dict[str, tuple] = {input_name: tuple(spec.input.shape)}
    origins: dict[str, Origin] = {input_name: Origin(("input", "shape"))}
    broken: set[str] = set()
    problems: list[Diagnostic] = []
    for it in items:
        if any(i in broken for i in it.inputs):
            broken.add(it.name)
            continue
        try:
            node = _lower_one(it, [shapes[i] for i in it.inputs], ctx)
            shape = infer_shape(node, [shapes[i] for i in node.inputs])
        except (ShapeProblem, LowerProblem) as exc:
            broken.add(it.name)
            problems.append(_diagnostic(it, exc, source))
            continue
        nodes.append(node.model_copy(update={"shape": shape}))
        shapes[it.name] = shape
        origins[it.name] = it.origin
    if problems:
        raise SpecError(problems)
    return nodes, origins


def _lower_one(it: Item, in_shapes: list, ctx: dict) -> Any:
    """The IR node of one item (shape not yet set): a split part is a slice, any other layer goes by its kind."""
    if it.slice_of is not None:
        dim, start, stop = it.slice_of
        return Slice(name=it.name, inputs=tuple(it.inputs), dim=dim, start=start, stop=stop)
    return LOWER_LAYER[it.layer.kind](it.layer, in_shapes, ctx, {"name": it.name, "inputs": tuple(it.inputs)})


def _diagnostic(it: Item, exc: ShapeProblem | LowerProblem, source) -> Diagnostic:
    """Locate a lowering problem at the layer's field to blame (``sizes`` for a split part's bounds)."""
    fld = exc.field if exc.field in set(type(it.layer).model_fields) else ""
    if it.slice_of is not None and fld == "stop":
        fld = "sizes"
    path = it.origin.path + ((fld,) if fld else ())
    where = f"'{it.name}' ({it.layer.kind}): "
    hint = exc.hint + (f" (in block instance '{it.origin.via}')" if it.origin.via else "")
    return source.diagnostic(path, where + exc.message, hint)
