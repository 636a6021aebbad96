"""The front end's entry: :func:`spec_to_graph` runs expand → order → lower → check sizes → verify."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InternalError, SpecError, did_you_mean
from ..ir import Decoding, Encoding, Graph, Task
from ..ir.verify import find_cycle, verify
from ..spec.load import LoadedSpec
from .expand import Expander, Item, Origin
from .limits import check_memory, check_task, max_memory_from_env
from .lower import lower_items


@dataclass
class FrontendResult:
    """The graph and where each node came from in the spec."""

    graph: Graph
    origins: dict[str, Origin]


def spec_to_graph(loaded: LoadedSpec, *, max_memory: int | None = None) -> FrontendResult:
    """Lower a validated spec to a verified, shape-annotated :class:`Graph`.

    Args:
        loaded: the result of :func:`snnc.compiler.spec.load.load_spec`.
        max_memory: limit in bytes for parameters and for one sample's activations (default
            ``SNNC_MAX_MEMORY`` or 8 GiB).

    Returns:
        The graph and the spec origin of each node.

    Raises:
        SpecError: every wiring, shape or size problem found, located in the spec.
    """
    spec, source = loaded.spec, loaded.source
    items, outputs = _expand(loaded)
    nodes, origins = lower_items(items, spec, source)
    graph = Graph(name=spec.name, nodes=tuple(nodes), outputs=tuple(outputs), timesteps=spec.timesteps,
                  encoding=Encoding(**spec.encoding.model_dump()), decoding=Decoding(kind=spec.decoding.kind),
                  task=Task(kind=spec.task.kind, classes=spec.task.classes))
    check_memory(graph, origins, source, max_memory if max_memory is not None else max_memory_from_env())
    check_task(graph, origins, source)
    internal = verify(graph)
    if internal:
        raise InternalError("the front end built an invalid graph: " + "; ".join(map(str, internal)))
    return FrontendResult(graph=graph, origins=origins)


def _expand(loaded: LoadedSpec) -> tuple[list[Item], list[str]]:
    """Expand the spec's layers and order them; returns the items in topological order and the output names.

    Raises:
        SpecError: every wiring problem (dangling names, unknown outputs, a cycle).
    """
    spec = loaded.spec
    ex = Expander(loaded)
    input_name = spec.input.name
    layers = [(layer, ("layers", i)) for i, layer in enumerate(spec.layers)]
    out = ex.scope(layers, "", input_name, input_name, loaded.params, (), "", None)
    if ex.problems:
        raise SpecError(ex.problems)
    outputs = list(spec.outputs) if spec.outputs else [out]
    names = {it.name for it in ex.items} | {input_name}
    for j, o in enumerate(spec.outputs or []):
        if o not in names:
            ex.problem(("outputs", j), f"output '{o}' is not a node.{did_you_mean(o, names)}")
    items, cycle = _order(ex.items, input_name)
    if cycle:
        first = next(it for it in ex.items if it.name == cycle[0])
        ex.problem(first.origin.path + ("inputs",), "the layers form a cycle: " + " → ".join(reversed(cycle)),
                   "a layer cannot depend (directly or indirectly) on itself; fix 'inputs'")
    if ex.problems:
        raise SpecError(ex.problems)
    return items, outputs


def _order(items: list[Item], input_name: str) -> tuple[list[Item], list[str] | None]:
    """Stable topological order; returns (ordered, cycle or None)."""
    by_name = {it.name: it for it in items}
    edges = {it.name: tuple(i for i in it.inputs if i in by_name) for it in items}
    cycle = find_cycle(edges)
    if cycle:
        return items, cycle
    done: set[str] = {input_name}
    ordered: list[Item] = []
    pending = list(items)
    while pending:
        rest = []
        for it in pending:
            if all(i in done for i in it.inputs):
                ordered.append(it)
                done.add(it.name)
            else:
                rest.append(it)
        if len(rest) == len(pending):  # unreachable given no cycle and resolved inputs
            raise InternalError("topological sort made no progress")
        pending = rest
    return ordered, None
