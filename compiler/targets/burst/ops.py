"""What the burst target understands: tables of torch ops by role, the role of a node, and the spike analysis
built on them.

Every fx node that carries a *signal* (a tensor that depends on the network input) plays one role:

* ``activation`` — a ReLU (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()``, ``clamp(min=0)``,
  ``clamp_min(0)``) or a trained QCFS activation (:mod:`snnc.compiler.qcfs`); each call site becomes its own
  :class:`~.neurons.BurstNeuron`.
* ``max_pool`` — max-pooling of any kernel/stride (module or functional, adaptive too); becomes
  :class:`~.neurons.LIPool`.
* ``structural`` — moves or copies values without arithmetic (flatten, view, cat, getitem ...); a spike stays
  a spike through it.
* ``linear`` — linear or affine in its signal inputs (conv, linear, batch-norm with running statistics,
  average pooling, ``+``, ``-``, scaling by a constant ...); runs unchanged at every time step.
* ``dropout`` — removed before conversion.

Anything else on a signal is an :class:`~snnc.compiler.errors.UnsupportedError` that names the node, the op
and what to do (:mod:`.support` checks a graph and words the refusals). Ops on constants only (parameters,
shapes) are always fine: they give the same value at every step.

Why tables: the role of an op is data, so adding one is a one-line change and the error can list the kinds
that are supported.
"""

from __future__ import annotations

import builtins
import inspect
import operator
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.node import _get_qualified_name

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.qcfs import QCFS

from .neurons import BurstNeuron, LIPool

# --- activations (ReLU) -------------------------------------------------------------------------------------

RELU_FUNCTIONS = {F.relu, torch.relu, torch.relu_}
RELU_METHODS = {"relu", "relu_"}
# clamp-like ops: (function or method name) -> names of the (lower, upper) bound parameters after ``input``.
CLAMP_FUNCTIONS: dict[Any, tuple[str, ...]] = {
    torch.clamp: ("min", "max"), torch.clip: ("min", "max"), torch.clamp_: ("min", "max"),
    torch.clamp_min: ("min",), torch.clamp_min_: ("min",),
}
CLAMP_METHODS: dict[str, tuple[str, ...]] = {
    "clamp": ("min", "max"), "clip": ("min", "max"), "clamp_": ("min", "max"), "clip_": ("min", "max"),
    "clamp_min": ("min",), "clamp_min_": ("min",),
}

# --- max pooling --------------------------------------------------------------------------------------------

MAX_POOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


def _max_pool_args(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   return_indices=False):
    """Signature shared by ``F.max_pool*d`` and ``torch.max_pool*d`` (whose ``stride=()`` means kernel)."""


def _adaptive_max_pool_args(input, output_size, return_indices=False):
    """Signature of ``F.adaptive_max_pool*d`` and ``torch.adaptive_max_pool1d``."""


MAX_POOL_FUNCTIONS: dict[Any, tuple[Callable, type[nn.Module]]] = {
    F.max_pool1d: (_max_pool_args, nn.MaxPool1d), F.max_pool2d: (_max_pool_args, nn.MaxPool2d),
    F.max_pool3d: (_max_pool_args, nn.MaxPool3d), torch.max_pool1d: (_max_pool_args, nn.MaxPool1d),
    torch.max_pool2d: (_max_pool_args, nn.MaxPool2d), torch.max_pool3d: (_max_pool_args, nn.MaxPool3d),
    F.adaptive_max_pool1d: (_adaptive_max_pool_args, nn.AdaptiveMaxPool1d),
    F.adaptive_max_pool2d: (_adaptive_max_pool_args, nn.AdaptiveMaxPool2d),
    F.adaptive_max_pool3d: (_adaptive_max_pool_args, nn.AdaptiveMaxPool3d),
    torch.adaptive_max_pool1d: (_adaptive_max_pool_args, nn.AdaptiveMaxPool1d),
}

# What fx records for a max-pooling called with ``return_indices=True`` (refused: LIPool has no argmax).
MAX_POOL_WITH_INDICES = {F.max_pool1d_with_indices, F.max_pool2d_with_indices, F.max_pool3d_with_indices,
                         F.adaptive_max_pool1d_with_indices, F.adaptive_max_pool2d_with_indices,
                         F.adaptive_max_pool3d_with_indices}

# --- dropout (removed) --------------------------------------------------------------------------------------

DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                   nn.FeatureAlphaDropout)
DROPOUT_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
                     F.feature_alpha_dropout, torch.dropout}

# --- structural and linear ops ------------------------------------------------------------------------------
# Rules say where a signal may enter: "any" (every tensor argument, e.g. add, cat), "first" (only the first
# argument: the others are weights or constants), "one" (at most one signal operand: a product is linear only
# when one factor is constant), "numerator" (division by a constant).

STRUCTURAL_MODULES = (nn.Flatten, nn.Unflatten, nn.Identity, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d,
                      nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d, nn.ReplicationPad1d,
                      nn.ReplicationPad2d, nn.ReplicationPad3d, nn.CircularPad1d, nn.CircularPad2d,
                      nn.CircularPad3d,
                      nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle)
LINEAR_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                  nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.AvgPool1d, nn.AvgPool2d,
                  nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                  nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.Upsample)

STRUCTURAL_FUNCTIONS: dict[Any, str] = {
    torch.flatten: "first", torch.reshape: "first", torch.squeeze: "first", torch.unsqueeze: "first",
    torch.permute: "first", torch.transpose: "first", torch.chunk: "first", torch.split: "first",
    torch.narrow: "first", torch.unflatten: "first", torch.cat: "any", torch.concat: "any",
    torch.concatenate: "any", torch.stack: "any", operator.getitem: "first", F.pixel_shuffle: "first",
    F.pixel_unshuffle: "first",
}
LINEAR_FUNCTIONS: dict[Any, str] = {
    operator.add: "any", operator.sub: "any", operator.neg: "any", operator.pos: "any", torch.add: "any",
    torch.sub: "any", torch.subtract: "any", torch.neg: "any", torch.sum: "first", torch.mean: "first",
    operator.mul: "one", torch.mul: "one", torch.multiply: "one", operator.matmul: "one",
    torch.matmul: "one", torch.mm: "one", torch.bmm: "one", operator.truediv: "numerator",
    torch.div: "numerator", torch.true_divide: "numerator",
    F.linear: "first", F.conv1d: "first", F.conv2d: "first", F.conv3d: "first",
    F.conv_transpose1d: "first", F.conv_transpose2d: "first", F.conv_transpose3d: "first",
    F.avg_pool1d: "first", F.avg_pool2d: "first", F.avg_pool3d: "first", torch.avg_pool1d: "first",
    F.adaptive_avg_pool1d: "first", F.adaptive_avg_pool2d: "first", F.adaptive_avg_pool3d: "first",
    torch.adaptive_avg_pool1d: "first", F.pad: "first", F.interpolate: "first", F.upsample: "first",
}
STRUCTURAL_METHODS: dict[str, str] = {
    name: "first" for name in (
        "view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "contiguous", "squeeze",
        "unsqueeze", "chunk", "split", "narrow", "expand", "expand_as", "repeat", "view_as", "reshape_as",
        "clone", "detach", "to", "float", "double", "half", "type", "type_as")
}
LINEAR_METHODS: dict[str, str] = {
    "add": "any", "sub": "any", "neg": "any", "sum": "first", "mean": "first", "mul": "one",
    "matmul": "one", "div": "numerator", "__add__": "any", "__radd__": "any",
}
# Ops whose result describes a tensor rather than being one: never a signal.
METADATA_FUNCTIONS = {builtins.getattr, builtins.len, torch.numel}
METADATA_METHODS = {"size", "dim", "numel", "ndimension", "nelement", "stride"}

# --- ops kept after the time average (the output head) ------------------------------------------------------

HEAD_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Sigmoid)
HEAD_FUNCTIONS = {F.softmax, F.log_softmax, torch.softmax, torch.log_softmax, torch.sigmoid, F.sigmoid}
HEAD_METHODS = {"softmax", "log_softmax", "sigmoid"}

def describe(node: fx.Node, modules: dict[str, nn.Module] | None = None) -> str:
    """Name a node and its op for a message, e.g. ``node 'act' (call_function torch.sigmoid)``."""
    if node.op == "call_module":
        module = (modules or {}).get(node.target)
        kind = type(module).__name__ if module is not None else "?"
        op = f"call_module {node.target}: {kind}"
    elif node.op == "call_function":
        try:
            op = f"call_function {_get_qualified_name(node.target).replace('_operator.', 'operator.')}"
        except Exception:  # noqa: BLE001 - some builtins have no qualified name; the repr is good enough
            op = f"call_function {node.target!r}"
    elif node.op == "call_method":
        op = f"call_method .{node.target}()"
    else:
        op = f"{node.op} {node.target}"
    return f"node '{node.name}' ({op})"


def _pad_args(input, pad, mode="constant", value=None):
    """Signature of ``F.pad``."""


def _bind(signature_of: Callable, node: fx.Node) -> dict[str, Any]:
    return inspect.signature(signature_of).bind(*node.args, **node.kwargs).arguments


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _clamp_bounds(node: fx.Node) -> tuple[Any, Any] | None:
    """``(lower, upper)`` of a clamp-like node, or None when the node is no clamp."""
    if node.op == "call_function" and node.target in CLAMP_FUNCTIONS:
        names = CLAMP_FUNCTIONS[node.target]
    elif node.op == "call_method" and node.target in CLAMP_METHODS:
        names = CLAMP_METHODS[node.target]
    else:
        return None
    values = dict(zip(names, node.args[1:]))
    values.update({k: v for k, v in node.kwargs.items() if k in names})
    return values.get("min"), values.get("max")


def is_relu(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` computes ``max(x, 0)``: a ReLU in any spelling, or a clamp with ``min=0`` only."""
    if node.op == "call_module":
        return type(modules.get(node.target)) is nn.ReLU
    if node.op == "call_function" and node.target in RELU_FUNCTIONS:
        return True
    if node.op == "call_method" and node.target in RELU_METHODS:
        return True
    bounds = _clamp_bounds(node)
    return bounds is not None and _is_zero(bounds[0]) and bounds[1] is None


def is_qcfs(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` calls a trained :class:`~snnc.compiler.qcfs.QCFS` activation (a neuron whose threshold is
    its λ, see :class:`~.observe.TrainedThreshold`)."""
    return node.op == "call_module" and isinstance(modules.get(node.target), QCFS)


def max_pool_module(node: fx.Node, modules: dict[str, nn.Module]) -> nn.Module | None:
    """The max-pooling ``nn.Module`` that ``node`` applies, or None when it is no max-pooling.

    Raises:
        UnsupportedError: the pooling returns indices or takes its sizes from the data.
    """
    if node.op == "call_module":
        module = modules.get(node.target)
        if not isinstance(module, MAX_POOL_MODULES):
            return None
        pool = module
    elif node.op == "call_function" and node.target in MAX_POOL_WITH_INDICES:
        pool = nn.MaxPool2d(1, return_indices=True)  # stands for any: only its refusal below matters
    elif node.op == "call_function" and node.target in MAX_POOL_FUNCTIONS:
        signature_of, cls = MAX_POOL_FUNCTIONS[node.target]
        args = _bind(signature_of, node)
        args.pop("input")
        if any(isinstance(v, fx.Node) for v in args.values()):
            raise UnsupportedError(
                f"{describe(node)}: max-pooling whose sizes are computed from the data cannot be converted; "
                "pass constant kernel/stride/padding (or output_size)."
            )
        if cls in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d) and args.get("stride") in ((), [], None):
            args["stride"] = None
        pool = cls(**args)
    else:
        return None
    if getattr(pool, "return_indices", False):
        raise UnsupportedError(
            f"{describe(node, modules)}: max-pooling that returns indices cannot be converted "
            "(LIPooling has no single argmax); set return_indices=False."
        )
    return pool


def is_dropout(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` is a dropout (module or functional), which conversion removes."""
    if node.op == "call_module":
        return isinstance(modules.get(node.target), DROPOUT_MODULES)
    return node.op == "call_function" and node.target in DROPOUT_FUNCTIONS


def is_head(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether ``node`` is an op that may be applied after the time average (softmax, log-softmax, sigmoid)."""
    if node.op == "call_module":
        return isinstance(modules.get(node.target), HEAD_MODULES)
    if node.op == "call_function":
        return node.target in HEAD_FUNCTIONS
    return node.op == "call_method" and node.target in HEAD_METHODS


def is_metadata(node: fx.Node) -> bool:
    """Whether ``node`` yields a description of a tensor (shape, size, rank), never a signal."""
    if node.op == "call_function":
        return node.target in METADATA_FUNCTIONS
    return node.op == "call_method" and node.target in METADATA_METHODS


def signal_nodes(graph: fx.Graph) -> set[fx.Node]:
    """The nodes whose value depends on the network input (placeholders), metadata ops excluded."""
    signals: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder":
            signals.add(node)
        elif node.op not in ("output", "get_attr") and not is_metadata(node):
            if any(arg in signals for arg in node.all_input_nodes):
                signals.add(node)
    return signals


def _signal_positions(node: fx.Node, signals: set[fx.Node]) -> list[int]:
    """Indices of the arguments (positional, then keyword) that carry a signal, looking into lists."""
    positions = []
    for i, arg in enumerate(list(node.args) + list(node.kwargs.values())):
        found: list[fx.Node] = []
        fx.node.map_arg(arg, found.append)
        if any(n in signals for n in found):
            positions.append(i)
    return positions


def _rule_holds(rule: str, node: fx.Node, signals: set[fx.Node]) -> bool:
    positions = _signal_positions(node, signals)
    if rule == "any":
        return True
    if rule == "first":
        return positions == [0]
    if rule == "one":
        return len(positions) <= 1
    if rule == "numerator":
        return positions == [0]
    raise ValueError(f"unknown rule {rule!r}")


def role(node: fx.Node, modules: dict[str, nn.Module], signals: set[fx.Node]) -> str:
    """The role of one node: ``constant``, ``activation``, ``max_pool``, ``dropout``, ``head``, ``structural``,
    ``linear``, ``io``, ``neuron`` (already converted) or ``unsupported``.

    Raises:
        UnsupportedError: a max-pooling that cannot be converted (see :func:`max_pool_module`).
    """
    if node.op in ("placeholder", "output"):
        return "io"
    if node not in signals:
        return "constant"
    if is_relu(node, modules) or is_qcfs(node, modules):
        return "activation"
    if max_pool_module(node, modules) is not None:
        return "max_pool"
    if is_dropout(node, modules):
        return "dropout"
    if node.op == "call_module":
        module = modules.get(node.target)
        if isinstance(module, (BurstNeuron, LIPool)):
            return "neuron"
        if isinstance(module, STRUCTURAL_MODULES):
            return "structural"
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is None:
            return "unsupported"
        if isinstance(module, nn.ConstantPad1d | nn.ConstantPad2d | nn.ConstantPad3d) and module.value == 0:
            return "structural"
        if isinstance(module, LINEAR_MODULES):
            return "linear"
        return "unsupported"
    if node.op == "call_function":
        if node.target is F.pad:
            pad = _bind(_pad_args, node)
            copies = pad.get("mode", "constant") != "constant" or pad.get("value") in (None, 0, 0.0)
            return "structural" if copies else "linear"  # zeros / copies keep spikes; a constant does not
        for table, name in ((STRUCTURAL_FUNCTIONS, "structural"), (LINEAR_FUNCTIONS, "linear")):
            if node.target in table:
                return name if _rule_holds(table[node.target], node, signals) else "unsupported"
        if is_head(node, modules):
            return "head"
        return "unsupported"
    if node.op == "call_method":
        for table, name in ((STRUCTURAL_METHODS, "structural"), (LINEAR_METHODS, "linear")):
            if node.target in table:
                return name if _rule_holds(table[node.target], node, signals) else "unsupported"
        if is_head(node, modules):
            return "head"
    return "unsupported"


SHAPE_KEY = "burst_shape"
"""``node.meta`` key of a node's output shape, written by :func:`~.trace.propagate_shapes`."""


def spike_inputs(gm: fx.GraphModule) -> dict[str, bool]:
    """For each layer of a converted graph, whether its signal input is spikes.

    A value is *spikes* when each element is ``k * theta`` with an integer ``0 <= k <= gamma`` (a neuron's
    output, or that passed through structural ops, zero padding or LIPooling). Average pooling, a sum of
    branches, a conv and the network input are analog. Layers are ``call_module`` nodes (keyed by module
    name) and the non-structural ``call_function``/``call_method`` nodes (keyed by node name); a module
    called at several sites counts as spiking only if every site gets spikes.

    Args:
        gm: a converted graph module (neurons and LIPools in place).

    Returns:
        Mapping layer name → True when its input is spikes.
    """
    modules = dict(gm.named_modules())
    signals = signal_nodes(gm.graph)
    spiking: set[fx.Node] = set()
    result: dict[str, bool] = {}
    for node in gm.graph.nodes:
        if node not in signals or node.op == "placeholder":
            continue
        inputs = [n for n in node.all_input_nodes if n in signals]
        all_spikes = bool(inputs) and all(n in spiking for n in inputs)
        module = modules.get(node.target) if node.op == "call_module" else None
        node_role = role(node, modules, signals)
        if isinstance(module, BurstNeuron) or (isinstance(module, LIPool) and all_spikes) or (
                node_role == "structural" and all_spikes):
            spiking.add(node)
        if node.op == "call_module":
            result[node.target] = result.get(node.target, True) and all_spikes
        elif node_role != "structural":
            result[node.name] = all_spikes
    return result
