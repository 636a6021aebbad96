"""Whether the burst target can convert a graph: every op on a signal has a role (:func:`~.ops.role`), the model
takes one tensor and returns one, and every signal keeps the batch first. Each refusal says what to do, by the
family of the op refused.

Why apart from :mod:`.ops`: the tables say what the target understands; this module words what it does not,
and the refusal hints are data too (a pattern over the op's name → what to do).
"""

from __future__ import annotations

import re

from torch import fx, nn

from snnc.compiler.errors import UnsupportedError

from .ops import SHAPE_KEY, describe, role, signal_nodes

# --- hints for ops we refuse, by family (matched against the op's name) -------------------------------------

_ACTIVATION_HINT = ("burst conversion maps only ReLU (max(x, 0)) to a spiking neuron; replace it with ReLU "
                    "(nn.ReLU, F.relu or clamp(min=0)) and retrain the ANN")
_REFUSAL_HINTS: list[tuple[str, str]] = [
    (r"softmax|softmin", "softmax is supported only as the very last op before the output, where it is applied "
                         "to the time-averaged output; move it there or out of the model"),
    (r"sigmoid|tanh|gelu|silu|swish|mish|elu|selu|celu|leaky|prelu|rrelu|hardtanh|relu6|softplus|"
     r"hardswish|hardsigmoid|logsigmoid|softsign|threshold|clamp|clip", _ACTIVATION_HINT),
    (r"\bmax\b|\bmin\b|amax|amin|argmax|argmin|topk|sort|median|cummax",
     "a maximum over a dimension has no spiking equivalent; use max-pooling (becomes LIPooling) or "
     "average pooling"),
    (r"norm", "normalising by statistics of the current input has no spiking equivalent; use BatchNorm with "
              "running statistics (folded into the preceding conv/linear layer) or remove it"),
    (r"mul|div|matmul|bmm|einsum|pow|sqrt|exp|log|square|abs",
     "this op is not linear in the activations; keep products and powers out of the converted part"),
]
_GENERIC_HINT = ("the burst target has no rule for it; supported on activations: ReLU (module, F.relu, "
                 "torch.relu, .relu(), clamp(min=0)), conv, linear, batch-norm, max/avg/adaptive pooling, "
                 "+/-, cat, flatten/view/reshape, dropout; rewrite that part with these ops")


def refusal_hint(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """What to do about an unsupported node, by the family of its op."""
    if node.op == "call_module":
        name = type(modules.get(node.target)).__name__
        if isinstance(modules.get(node.target), nn.modules.batchnorm._BatchNorm):
            return ("batch-norm without running statistics normalises by the current batch; build it with "
                    "track_running_stats=True and train it")
    elif node.op == "call_function":
        name = getattr(node.target, "__name__", str(node.target))
    else:
        name = str(node.target)
    if name in ("mul", "multiply", "truediv", "true_divide", "div", "matmul", "mm", "bmm", "__mul__"):
        return ("a product or quotient of two activations is not linear and has no spiking equivalent; "
                "make the second factor (or the divisor) a constant")
    for pattern, hint in _REFUSAL_HINTS:
        if re.search(pattern, name.lower()):
            return hint
    return _GENERIC_HINT


def check_supported(gm: fx.GraphModule) -> None:
    """Refuse a graph the burst target cannot convert, reporting every problem at once.

    Checks: one input and a single tensor output (:func:`check_interface`); every op on a signal has a
    role (:func:`role`); and, when :func:`~.trace.propagate_shapes` has annotated the graph, that every
    signal keeps the batch in dim 0 (time steps are folded into the batch at run time).

    Args:
        gm: the traced (and normalised) graph module.

    Raises:
        UnsupportedError: listing each offending node, its op and what to do.
    """
    modules = dict(gm.named_modules())
    signals = signal_nodes(gm.graph)
    problems = interface_problems(gm)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    batch = _batch_size(placeholders[0]) if len(placeholders) == 1 else None
    for node in gm.graph.nodes:
        if node.op == "output":
            continue
        try:
            node_role = role(node, modules, signals)
        except UnsupportedError as error:
            problems.append(str(error))
            continue
        if node_role in ("unsupported", "head"):
            where = " mid-network" if node_role == "head" else ""
            problems.append(f"{describe(node, modules)} is not supported{where} by the burst target: "
                            f"{refusal_hint(node, modules)}")
        elif batch is not None and node in signals and not _keeps_batch(node, batch):
            problems.append(
                f"{describe(node, modules)} changes the batch dimension (dim 0: {batch} → "
                f"{_leading_dim(node)}); time steps are folded into the batch, so every layer must keep the "
                "batch first and never mix samples (e.g. use x.flatten(1), not x.view(-1))"
            )
    if problems:
        raise UnsupportedError("cannot convert to the burst target:\n  - " + "\n  - ".join(problems))


def interface_problems(gm: fx.GraphModule) -> list[str]:
    """Problems with the model's interface: it must take one tensor and return one tensor."""
    problems = []
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        problems.append(
            f"the model takes {len(placeholders)} inputs ({', '.join(n.name for n in placeholders)}); the burst "
            "target drives exactly one input with the same current at every step: wrap the model so that it "
            "takes one tensor"
        )
    output = next(n for n in gm.graph.nodes if n.op == "output")
    if not isinstance(output.args[0], fx.Node):
        problems.append(
            f"the model returns {type(output.args[0]).__name__}; BurstSNN averages a single tensor over "
            "time: return one tensor"
        )
    return problems


def check_interface(gm: fx.GraphModule) -> None:
    """Refuse a model that does not take one tensor and return one tensor (before running it).

    Raises:
        UnsupportedError: listing the problems.
    """
    problems = interface_problems(gm)
    if problems:
        raise UnsupportedError("cannot convert to the burst target:\n  - " + "\n  - ".join(problems))


def _batch_size(node: fx.Node) -> int | None:
    shape = node.meta.get(SHAPE_KEY)
    return int(shape[0]) if shape else None


def _leading_dim(node: fx.Node) -> str:
    shape = node.meta.get(SHAPE_KEY)
    return "none (a scalar)" if shape is not None and len(shape) == 0 else str(shape[0] if shape else "?")


def _keeps_batch(node: fx.Node, batch: int) -> bool:
    shape = node.meta.get(SHAPE_KEY)
    if shape is None:
        return True  # not a plain tensor (a tuple from chunk/split, say), or not annotated
    return len(shape) > 0 and int(shape[0]) == batch
