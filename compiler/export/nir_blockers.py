"""What keeps an IR graph from NIR, found in one pass before anything is built.

:func:`nir_blockers` walks the graph with one table from node kind to check (:data:`BLOCKERS`); every node
that NIR cannot express comes back as a :class:`~snnc.compiler.errors.Blocker` with the spec change that lifts
it, so one error can name them all, grouped by cause (:func:`~.nir.snn_to_nir`). Kinds in neither
:data:`BLOCKERS` nor :data:`~.nir_lower.TO_NIR` are refused.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import Blocker
from .nir_lower import TO_NIR

Shapes = dict[str, tuple[int, ...]]


def _blocker(node, reason: str, fix: str, op: str = "") -> list[Blocker]:
    return [Blocker(node.name, op or node.kind, reason, fix)]


def _refused(reason: str, fix: str) -> Callable[[Any, Shapes], list[Blocker]]:
    """A check that refuses every node of its kind with the same reason and fix."""

    def check(node, shapes):
        return _blocker(node, reason, fix)

    return check


def _check_avgpool2d(node, shapes):
    if not node.ceil_mode:
        return []
    return _blocker(node, "NIR's AvgPool2d has no ceil mode", "ceil_mode: false", "avgpool2d (ceil_mode: true)")


def _check_spike(node, shapes):
    p, found = node.neuron, []
    if p.reset != "zero":
        found += _blocker(node, "NIR neurons reset the membrane to v_reset after a spike, which is snnc's reset: "
                          "zero", "neuron: {reset: zero} (the spec's neuron section, or this layer's), and retrain",
                          f"spike (reset: {p.reset})")
    if p.model == "synaptic":
        found += _blocker(node, "NIR's CubaLIF integrates the next step's synaptic current after the reset, snnc's "
                          "synaptic neuron clears it: the spikes would differ", "neuron: {model: leaky} (or if)",
                          "spike (model: synaptic)")
    return found


def _check_global_avgpool(node, shapes):
    _, h, w = shapes[node.inputs[0]]
    return _blocker(node, "NIR has no global pooling",
                    f"kind: avgpool2d with kernel_size: [{h}, {w}], then a kind: flatten layer")


def _check_adaptive_avgpool2d(node, shapes):
    _, h, w = shapes[node.inputs[0]]
    (oh, ow), reason = node.output_size, "NIR has no adaptive pooling"
    if h % oh or w % ow:
        return _blocker(node, reason, f"an input whose size divides by {oh}×{ow}, or remove the layer")
    return _blocker(node, reason, f"kind: avgpool2d with kernel_size: [{h // oh}, {w // ow}]")


def _check_activation(node, shapes):
    return _blocker(node, f"NIR has no {node.function} (it carries neurons and linear maps)",
                    "kind: spike where a neuron should fire, or remove the layer", f"activation ({node.function})")


def _check_reshape(node, shapes):
    fix = "kind: flatten" if len(node.target) == 1 else "remove the layer (NIR reshapes by Flatten only)"
    return _blocker(node, "NIR has no reshape", fix)


_CHAINS = "snnc's NIR export takes chains of single-input layers"

BLOCKERS: dict[str, Callable[[Any, Shapes], list[Blocker]]] = {
    "avgpool2d": _check_avgpool2d,
    "spike": _check_spike,
    "maxpool2d": _refused("NIR has sum and average pooling only",
                          "kind: avgpool2d (same kernel_size and stride), and retrain"),
    "batchnorm": _refused("snnc folds batch-norm only inside the burst target's conversion, not for NIR",
                          "remove the batchnorm layer (give the conv or linear before it bias: true) and train "
                          "without it"),
    "global_avgpool": _check_global_avgpool,
    "adaptive_avgpool2d": _check_adaptive_avgpool2d,
    "activation": _check_activation,
    "reshape": _check_reshape,
    "add": _refused(f"a residual add merges branches; {_CHAINS}", "remove the shortcut (a plain chain)"),
    "multiply": _refused(f"NIR has no element-wise product (a gate); {_CHAINS}",
                         "remove the gate (the multiply and the branch that computes it)"),
    "concat": _refused(f"NIR has no concatenation; {_CHAINS}", "keep one branch instead of concatenating"),
    "upsample": _refused("NIR has no up-sampling", "remove the layer"),
    "slice": _refused("NIR has no slicing", "remove the layer"),
}
"""IR node kind → ``check(node, shapes) -> blockers`` (empty: exports). A kind in neither table is refused."""


def _check_unknown(node, shapes):
    supported = ", ".join(k for k in TO_NIR if TO_NIR[k] is not None)
    return _blocker(node, f"no NIR export; NIR export supports {supported} (dropout and identity are dropped)",
                    "remove the layer")


def nir_blockers(graph: Any) -> list[Blocker]:
    """Every node of an IR graph that keeps it from NIR, each with the spec change that would lift it.

    Args:
        graph: the IR graph of an snn target module.

    Returns:
        The blockers in graph order (a node may have several, e.g. a synaptic neuron with subtract reset);
        empty when the graph exports.
    """
    shapes = {n.name: tuple(n.shape) for n in graph.nodes}
    found: list[Blocker] = []
    for node in graph.nodes:
        if node.kind == "input":
            continue
        check = BLOCKERS.get(node.kind)
        if check is None and node.kind not in TO_NIR:
            check = _check_unknown
        mine = check(node, shapes) if check is not None else []
        if not mine and len(node.inputs) != 1:
            mine = _blocker(node, f"it has {len(node.inputs)} inputs; {_CHAINS}", "remove the branch")
        found += mine
    return found
