"""Step 1 of the burst rewrite: trace the caller's model into a private ``fx.GraphModule`` and normalise it.

Normalising means: in-place ops become out-of-place ones with the mutation made explicit in the dataflow
(``x.relu_()`` then ``f(x)`` becomes ``y = x.relu(); f(y)``), dropout is removed, a trailing softmax /
log-softmax / sigmoid is split off as the *head* (applied to the time-averaged output), and a small example
batch annotates every node with its shape.

Each function mutates the private copy it is given and returns it; :func:`trace` is the only one that sees
the caller's model, and it never modifies it.
"""

from __future__ import annotations

import copy
import operator
from typing import Any

import torch
from torch import fx, nn

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.qcfs import QCFS

from . import ops
from .ops import SHAPE_KEY
from .neurons import BurstNeuron, LIPool


class BurstTracer(fx.Tracer):
    """The default fx tracer, which also keeps our neuron, LIPool and QCFS modules as leaves."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, (BurstNeuron, LIPool, QCFS)):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def trace(model: nn.Module) -> fx.GraphModule:
    """Trace a private copy of ``model`` in eval mode.

    A ``torch.fx.GraphModule`` (e.g. from snnc's ann target) is copied as it is, keeping each node's
    ``meta`` (``meta["snnc_node"]`` links a node to its IR node).

    Args:
        model: any torch.fx-traceable module. It is not modified.

    Returns:
        A new graph module in eval mode.

    Raises:
        UnsupportedError: the model cannot be traced symbolically (data-dependent control flow, say).
    """
    private = copy.deepcopy(model)
    private.eval()
    if isinstance(private, fx.GraphModule):
        return private
    tracer = BurstTracer()
    try:
        graph = tracer.trace(private)
    except Exception as error:  # noqa: BLE001 - fx raises many kinds; all mean "not traceable"
        raise UnsupportedError(
            f"cannot trace {type(model).__name__} with torch.fx ({type(error).__name__}: {error}); the burst "
            "target needs a symbolically traceable model: remove control flow that depends on tensor values "
            "or move it out of forward()"
        ) from error
    name = type(private).__name__
    return fx.GraphModule(tracer.root, graph, name)


# In-place op → its out-of-place twin. Methods follow the ``name_`` convention.
_INPLACE_FUNCTIONS: dict[Any, Any] = {
    torch.relu_: torch.relu, torch.clamp_: torch.clamp, torch.clamp_min_: torch.clamp_min,
    operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
}


def _mutated_input(node: fx.Node, modules: dict[str, nn.Module]) -> fx.Node | None:
    """The node an in-place op overwrites (its first argument), after making the op out-of-place."""
    first = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
    if node.op == "call_method" and isinstance(node.target, str) and node.target.endswith("_") and \
            not node.target.startswith("_") and callable(getattr(torch.Tensor, node.target[:-1], None)):
        node.target = node.target[:-1]
        return first
    if node.op == "call_function" and node.target in _INPLACE_FUNCTIONS:
        node.target = _INPLACE_FUNCTIONS[node.target]
        return first
    if node.op == "call_function" and node.kwargs.get("inplace"):
        node.kwargs = {**node.kwargs, "inplace": False}
        return first
    if node.op == "call_module" and getattr(modules.get(node.target), "inplace", False):
        modules[node.target].inplace = False
        return first
    return None


def functionalize_inplace(gm: fx.GraphModule) -> fx.GraphModule:
    """Make in-place ops out-of-place, redirecting later readers of the overwritten value to the result.

    Why: fx records ``x.relu_()`` as a node whose result is often unused while later ops read ``x``; replacing
    the ReLU by a neuron would then silently drop it. Aliasing through views is not tracked.

    Args:
        gm: the private graph module (modified).

    Returns:
        ``gm``.
    """
    modules = dict(gm.named_modules())
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    for node in list(gm.graph.nodes):
        mutated = _mutated_input(node, modules)
        if mutated is not None:
            position = order[node]
            mutated.replace_all_uses_with(node, delete_user_cb=lambda user: order[user] > position)
    gm.recompile()
    return gm


def remove_dropout(gm: fx.GraphModule) -> fx.GraphModule:
    """Remove every dropout (identity at inference).

    Args:
        gm: the private graph module (modified).

    Returns:
        ``gm``.
    """
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if ops.is_dropout(node, modules):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    gm.recompile()
    return gm


class OutputHead(nn.Module):
    """The op split off the end of the network, applied to the time-averaged output (e.g. softmax).

    Args:
        op: ``call_module``, ``call_function`` or ``call_method``.
        target: the module, function or method name.
        args: the remaining positional arguments (after the tensor).
        kwargs: keyword arguments.
    """

    def __init__(self, op: str, target: Any, args: tuple = (), kwargs: dict | None = None) -> None:
        super().__init__()
        self.op = op
        self.module = target if op == "call_module" else None
        self.target = None if op == "call_module" else target
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op == "call_module":
            return self.module(x)
        if self.op == "call_method":
            return getattr(x, self.target)(*self.args, **self.kwargs)
        return self.target(x, *self.args, **self.kwargs)

    def extra_repr(self) -> str:
        return "" if self.op == "call_module" else f"{getattr(self.target, '__name__', self.target)}"


def split_head(gm: fx.GraphModule) -> OutputHead | None:
    """Split a trailing softmax / log-softmax / sigmoid off the graph.

    Why: a spiking network produces a per-step output whose time average approximates the ANN's logits;
    softmax of the average is what the ANN computes, the average of per-step softmaxes is not.

    Args:
        gm: the private graph module (modified when it ends in such an op).

    Returns:
        The head to apply after averaging, or None.
    """
    modules = dict(gm.named_modules())
    output = next(n for n in gm.graph.nodes if n.op == "output")
    last = output.args[0]
    if not isinstance(last, fx.Node) or len(last.users) != 1 or not ops.is_head(last, modules):
        return None
    if any(isinstance(a, fx.Node) for a in list(last.args[1:]) + list(last.kwargs.values())):
        return None
    if last.op == "call_module":
        head = OutputHead("call_module", copy.deepcopy(modules[last.target]))
    else:
        head = OutputHead(last.op, last.target, last.args[1:], last.kwargs)
    output.replace_input_with(last, last.args[0])
    gm.graph.erase_node(last)
    gm.recompile()
    return head


class _ShapeRecorder(fx.Interpreter):
    """Runs the graph and writes each tensor result's shape into ``node.meta[SHAPE_KEY]``."""

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta[SHAPE_KEY] = result.shape
        else:
            n.meta.pop(SHAPE_KEY, None)
        return result


def propagate_shapes(gm: fx.GraphModule, example: torch.Tensor) -> fx.GraphModule:
    """Annotate every tensor-valued node with ``meta["burst_shape"]`` by running ``example`` through the graph.

    Args:
        gm: the private graph module (annotated in place).
        example: an input batch.

    Returns:
        ``gm``.

    Raises:
        UnsupportedError: the model does not run on ``example`` (e.g. a batch size fixed in a ``view``).
    """
    try:
        with torch.no_grad():
            _ShapeRecorder(gm).run(example)
    except Exception as error:  # noqa: BLE001 - any failure here means the model cannot take this batch
        raise UnsupportedError(
            f"the model fails on a calibration batch of shape {tuple(example.shape)} ({type(error).__name__}: "
            f"{error}); time steps are folded into the batch, so the model must accept any batch size "
            "(e.g. x.flatten(1) instead of x.view(64, -1))"
        ) from error
    return gm
