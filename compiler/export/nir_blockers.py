"""What keeps an IR graph from NIR, and how the rest maps, found in one pass before anything is built.

:func:`nir_plan` walks the graph once. Each node kind has a check (:data:`BLOCKERS`); a node that NIR cannot
express comes back as a :class:`~snnc.compiler.errors.Blocker` with the spec change that lifts it, so one error
names them all, grouped by cause (:func:`~.nir.snn_to_nir`). For the others the plan says how they map:

* ``add`` has no NIR node: NIR sums the edges into a node (nirtorch's ``nir_to_torch`` adds them, the old
  ``GraphExecutor`` stacks and sums them), so an add becomes one edge per operand into each consumer
  (:attr:`Plan.sources`). The operands are summed in any order; the same source twice cannot be written
  (edges are a set), nor a sum as the graph's output (NIR's ``Output`` takes one edge).
* ``batchnorm`` after a conv2d or linear whose only consumer it is folds into that layer's weight and bias
  (:attr:`Plan.folded`; :func:`~.nir_lower.fold_batchnorm`).
* ``avgpool2d`` and ``global_avgpool`` become ``SumPool2d`` with the ``1/k`` in the weights of the conv2d or
  linear after them (:attr:`Plan.scales`) where ``k`` is a power of two (a scale by ``2**-n`` is exact in
  floating point, so the spikes stay snnc's) and nothing else reads the pool; otherwise ``AvgPool2d``. Why:
  snnTorch and Norse both import ``SumPool2d``; Norse has no ``AvgPool2d``, and neither imports ``Scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..errors import Blocker
from .nir_lower import TO_NIR, node_key

Shapes = dict[str, tuple[int, ...]]
_PASS = ("dropout", "identity")
"""Kinds dropped at inference: their consumers read their input."""
_LINEAR = ("conv2d", "linear")


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


_EDGES = "NIR sums the edges into a node, nothing else merges branches"

BLOCKERS: dict[str, Callable[[Any, Shapes], list[Blocker]]] = {
    "avgpool2d": _check_avgpool2d,
    "spike": _check_spike,
    "maxpool2d": _refused("NIR has sum and average pooling only",
                          "kind: avgpool2d (same kernel_size and stride), and retrain"),
    "adaptive_avgpool2d": _check_adaptive_avgpool2d,
    "activation": _check_activation,
    "reshape": _check_reshape,
    "multiply": _refused(f"NIR has no element-wise product (a gate); {_EDGES}",
                         "remove the gate (the multiply and the branch that computes it)"),
    "concat": _refused(f"NIR has no concatenation; {_EDGES}",
                       "kind: add of branches with the same channels, or keep one branch"),
    "upsample": _refused("NIR has no up-sampling", "remove the layer"),
    "slice": _refused("NIR has no slicing", "remove the layer"),
}
"""IR node kind → ``check(node, shapes) -> blockers`` (empty: exports). ``batchnorm`` and ``add`` are checked
against their neighbours in :func:`nir_plan`; a kind in neither table is refused."""

SWITCHES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "reset": ("zero", lambda op: op.startswith("spike (reset")),
    "pool": ("avg", lambda op: op == "maxpool2d"),
}
"""Spec parameter → (the value that exports, which blockers it lifts): a spec that declares the parameter (the
bundled VGG-16, ResNet-18, SEW-ResNet-34) gets ``--param NAME=VALUE`` as the fix."""


@dataclass(frozen=True)
class Row:
    """One node of :func:`nir_plan`: what it becomes in NIR (``nir``), or why not (``blockers``)."""

    node: str
    op: str
    nir: str
    blockers: tuple[Blocker, ...] = ()


@dataclass
class Plan:
    """How an IR graph maps to NIR.

    Attributes:
        rows: one per node, in graph order.
        sources: node → the NIR keys whose outputs sum to its value (an add: its operands' sources).
        folded: batchnorm → the conv2d or linear it folds into.
        scales: conv2d or linear → the factor its weight takes (the ``1/k`` of the SumPool2d before it).
        sum_pools: pooling nodes written as ``SumPool2d`` (the others as ``AvgPool2d``).
    """

    rows: list[Row] = field(default_factory=list)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    folded: dict[str, str] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)
    sum_pools: set[str] = field(default_factory=set)

    @property
    def blockers(self) -> list[Blocker]:
        return [b for row in self.rows for b in row.blockers]


def _check_unknown(node, shapes):
    supported = ", ".join([k for k in TO_NIR if TO_NIR[k] is not None] + ["add", "batchnorm"])
    return _blocker(node, f"no NIR export; NIR export supports {supported} (dropout and identity are dropped)",
                    "remove the layer")


def _check_batchnorm(node, graph) -> tuple[list[Blocker], str]:
    before = graph.node(node.inputs[0])
    if before.kind in _LINEAR and [n.name for n in graph.consumers(before.name)] == [node.name]:
        return [], before.name
    fix = ("give the batch-norm's input its own conv2d or linear" if before.kind in _LINEAR else
           "put it right after a conv2d or linear layer, or remove it and train without it")
    return _blocker(node, "NIR has no batch-norm; it folds into the conv2d or linear before it, when that layer "
                    "feeds nothing else", fix), ""


def _pool_area(node, shapes) -> Optional[int]:
    """The window size of an average pool that SumPool2d can take (no padding, no ceil mode), else None."""
    if node.kind == "global_avgpool":
        return shapes[node.inputs[0]][1] * shapes[node.inputs[0]][2]
    if any(node.padding) or node.ceil_mode:
        return None
    return node.kernel_size[0] * node.kernel_size[1]


def _readers(graph, name: str) -> list[Any]:
    """The nodes that read ``name``'s value, through dropped layers and flattens (a scale commutes with them)."""
    found = []
    for n in graph.consumers(name):
        found += _readers(graph, n.name) if n.kind in _PASS + ("flatten",) else [n]
    return found + ([None] if name in graph.outputs else [])


def _pool_mode(node, graph, shapes, plan: Plan) -> str:
    """``SumPool2d`` with the ``1/k`` in the weights after it, where that is exact; else ``AvgPool2d``."""
    area, readers = _pool_area(node, shapes), _readers(graph, node.name)
    if area is None:
        return "AvgPool2d (padding: SumPool2d has none in nirtorch)"
    if area & (area - 1):
        return f"AvgPool2d (1/{area} is not a power of two: not exact as a weight scale)"
    if not readers or any(r is None or r.kind not in _LINEAR for r in readers):
        return "AvgPool2d (no conv2d or linear after it takes the 1/k)"
    plan.sum_pools.add(node.name)
    for r in readers:
        plan.scales[r.name] = 1.0 / area
    return f"SumPool2d, weights of {', '.join(r.name for r in readers)} ÷ {area}"


def _add(node, plan: Plan, graph) -> tuple[list[Blocker], str]:
    sources = tuple(s for name in node.inputs for s in plan.sources[name])
    plan.sources[node.name] = sources
    if len(set(sources)) != len(sources):
        twice = sorted({s for s in sources if sources.count(s) > 1})
        return _blocker(node, f"NIR sums edges into a node and two edges cannot join the same nodes ({twice[0]})",
                        "add distinct branches (or scale the branch by 2 in its weights)"), ""
    if node.name in graph.outputs:
        return _blocker(node, "NIR's Output takes one edge, the graph ends in a sum",
                        "end the network in a layer after the add (a spike or linear)"), ""
    return [], f"edges: the sum of {len(sources)} branches into each consumer"


def _describe(node, plan: Plan) -> str:
    if node.kind == "spike":
        return "IF" if node.neuron.model == "if" else "LIF"
    if node.kind in _PASS:
        return "dropped (inference)"
    extra = [f"{bn} folded in" for bn, into in plan.folded.items() if into == node.name]
    affine = node.kind == "linear" and (node.bias or extra)
    name = {"conv2d": "Conv2d", "linear": "Affine" if affine else "Linear", "flatten": "Flatten"}[node.kind]
    extra += [f"weight × {plan.scales[node.name]:g}"] if node.name in plan.scales else []
    return name + (f" ({'; '.join(extra)})" if extra else "")


def _step(node, graph, shapes, plan: Plan) -> Row:
    """Plan one node (after every node it reads): its blockers, or its NIR form and sources."""
    key = (node_key(node.name),)
    plan.sources[node.name] = key
    if node.kind == "add":
        found, text = _add(node, plan, graph)
    elif node.kind == "batchnorm":
        found, into = _check_batchnorm(node, graph)
        plan.sources[node.name] = plan.sources[node.inputs[0]]
        if into:
            plan.folded[node.name] = into
        text = f"folded into {into}" if into else ""
    else:
        check = BLOCKERS.get(node.kind) or (None if node.kind in TO_NIR or node.kind == "global_avgpool"
                                            else _check_unknown)
        found = check(node, shapes) if check is not None else []
        if not found and len(node.inputs) != 1:
            found = _blocker(node, f"it has {len(node.inputs)} inputs; {_EDGES}", "remove the branch")
        if node.kind in _PASS:
            plan.sources[node.name] = plan.sources[node.inputs[0]]
        if node.kind == "global_avgpool":
            plan.sources[node.name] = (key[0] + "_flatten",)
        text = "" if found else (_pool_mode(node, graph, shapes, plan) if "avgpool" in node.kind else None)
        text = text if text is not None else _describe(node, plan)
        if node.kind == "global_avgpool" and not found:
            text += ", then Flatten"
    return Row(node.name, node.kind, "" if found else text, tuple(found))


def nir_plan(graph: Any, switches: Optional[dict[str, Any]] = None) -> Plan:
    """How every node of an IR graph maps to NIR, or the spec change that would let it.

    Args:
        graph: the IR graph of an snn target module.
        switches: the parameters the spec declares (name → value); those of :data:`SWITCHES` become the fixes
            of the blockers they lift (``--param reset=zero``).

    Returns:
        The :class:`Plan`; its ``blockers`` are empty when the graph exports.
    """
    shapes = {n.name: tuple(n.shape) for n in graph.nodes}
    plan = Plan()
    for node in graph.nodes:
        if node.kind == "input":
            plan.sources[node.name] = ("input",)
            plan.rows.append(Row(node.name, "input", f"Input {list(node.shape)}"))
            continue
        plan.rows.append(_step(node, graph, shapes, plan))
    for i, row in enumerate(plan.rows):  # a conv's description names the batch-norm folded into it and its scale
        if not row.blockers and row.op in _LINEAR:
            plan.rows[i] = Row(row.node, row.op, _describe(graph.node(row.node), plan))
    if switches:
        plan.rows = [_switched(row, switches) for row in plan.rows]
    return plan


def _switched(row: Row, switches: dict[str, Any]) -> Row:
    """The row with ``--param NAME=VALUE`` as the fix of each blocker a declared switch lifts."""
    mine = []
    for b in row.blockers:
        for name, (value, lifts) in SWITCHES.items():
            if name in switches and switches[name] != value and lifts(b.op):
                b = Blocker(b.node, b.op, b.reason, f"--param {name}={value} (this spec's switch), and retrain")
        mine.append(b)
    return Row(row.node, row.op, row.nir, tuple(mine))


def nir_blockers(graph: Any, switches: Optional[dict[str, Any]] = None) -> list[Blocker]:
    """Every node of an IR graph that keeps it from NIR, each with the spec change that would lift it.

    Returns:
        The blockers in graph order (a node may have several, e.g. a synaptic neuron with subtract reset);
        empty when the graph exports.
    """
    return nir_plan(graph, switches).blockers


def explain_lines(plan: Plan, title: str, width: int = 80) -> list[str]:
    """``snnc export --format nir --explain``: a line per node (what it becomes in NIR, or why it cannot, and
    the fix), wrapped to ``width`` columns, and a closing count."""
    import textwrap

    name_w = min(max(len(r.node) for r in plan.rows), 28)
    op_w = min(max(len(r.op) for r in plan.rows), 14)
    indent = " " * (name_w + op_w + 4)
    lines = [title, f"{'node':<{name_w}}  {'op':<{op_w}}  NIR"]
    for row in plan.rows:
        head = f"{row.node:<{name_w}}  {row.op:<{op_w}}  "
        if len(head) > len(indent):  # a long name: its own line
            lines.append(row.node)
            head = f"{'':<{name_w}}  {row.op[:op_w]:<{op_w}}  "
        texts = [row.nir] if not row.blockers else [
            part for b in row.blockers for part in (f"BLOCKED: {b.reason}", f"fix: {b.fix}")]
        for i, text in enumerate(texts):
            wrapped = textwrap.wrap(text, width - len(indent), subsequent_indent="  ") or [""]
            lines.append((head if i == 0 else indent) + wrapped[0])
            lines += [indent + more for more in wrapped[1:]]
    blocked_nodes = {b.node for b in plan.blockers}
    ok = len(plan.rows) - len(blocked_nodes)
    lines.append(f"{ok} of {len(plan.rows)} nodes export; " + (
        f"{len(blocked_nodes)} block it (fix those, or export ONNX)" if blocked_nodes else "the graph exports"))
    return lines
