"""``verify(graph)``: every structural problem of a graph, collected, never asserted.

Checks: exactly one input node and it comes first; unique names; every edge points at an existing node
(dangling edges); topological order (an edge pointing forward is a cycle or a misordering); declared outputs
exist; every stored output shape agrees with shape inference from its inputs. Messages name both ends of an
edge. Never mutates the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from .shapes import ShapeProblem, infer_shape


@dataclass(frozen=True)
class Problem:
    """One problem found by :func:`verify`.

    Attributes:
        node: the node it concerns ("" for the graph as a whole).
        message: what is wrong.
        hint: what to do.
        field: the node field to blame, when there is one.
    """

    node: str
    message: str
    hint: str = ""
    field: str = ""

    def __str__(self) -> str:
        where = f"node '{self.node}': " if self.node else ""
        return where + self.message + (f" ({self.hint})" if self.hint else "")


def find_cycle(edges: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle in ``edges`` (node → its inputs) as a list of names, or None. Iterative DFS (no recursion limit)."""
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges.get(start, ())))]
        path = [start]
        state[start] = 1
        while stack:
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[name] = 2
                continue
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(edges.get(nxt, ()))))
                path.append(nxt)
    return None


def verify(graph) -> list[Problem]:
    """Every problem of ``graph`` (an :class:`~snnc.compiler.ir.Graph`); an empty list means it is sound.

    Args:
        graph: the graph to check.

    Returns:
        The problems, in node order.
    """
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    inputs = [n for n in graph.nodes if n.kind == "input"]
    if len(inputs) != 1:
        problems.append(Problem("", f"a graph needs exactly one input node, found {len(inputs)}"))
    elif graph.nodes[0].kind != "input":
        problems.append(Problem(inputs[0].name, "the input node must come first"))
    for i, node in enumerate(graph.nodes):
        if node.name in seen:
            problems.append(Problem(node.name, f"duplicate node name '{node.name}'", "names must be unique"))
        seen.setdefault(node.name, i)
    edges = {n.name: tuple(n.inputs) for n in graph.nodes}
    cycle = find_cycle(edges)
    if cycle:
        problems.append(Problem(cycle[0], "cycle: " + " → ".join(reversed(cycle)),
                                "a node cannot depend on itself; break the loop"))
    for i, node in enumerate(graph.nodes):
        for src in node.inputs:
            if src not in seen:
                problems.append(Problem(node.name, f"input '{src}' → '{node.name}' points at no node",
                                        "fix the name in 'inputs'", "inputs"))
            elif seen[src] >= i and not cycle:
                problems.append(Problem(node.name, f"edge '{src}' → '{node.name}' points forward (not topological)"))
    for out in graph.outputs:
        if out not in seen:
            problems.append(Problem("", f"output '{out}' is not a node"))
    if problems:
        return problems  # shapes are meaningless on a broken structure
    by_name = graph.by_name
    for node in graph.nodes:
        try:
            shape = infer_shape(node, [by_name[s].shape for s in node.inputs])
        except ShapeProblem as exc:
            problems.append(Problem(node.name, exc.message, exc.hint, exc.field))
            continue
        if shape != tuple(node.shape):
            problems.append(Problem(node.name, f"stored shape {list(node.shape)} disagrees with the inferred "
                                               f"{list(shape)} from inputs " + ", ".join(
                                                   f"'{s}' {list(by_name[s].shape)}" for s in node.inputs)))
    return problems
