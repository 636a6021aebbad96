"""The shape of an imported NIR graph: where it starts, the order its nodes become spec layers, and the spec text.

NIR graphs are general graphs: a node with several incoming edges receives their **sum** (this is how nirtorch's
``torch_to_nir`` writes ``x + y``, and how snnTorch's ``import_from_nir`` and Sinabs read it back), and a skip
connection is just an edge from an earlier node (NIR 1.0 has no identity node). :func:`feed_forward` checks
that a graph is one snnc can lay out as spec layers (one input, one output, no cycles, no nested graphs, every
node on a path to the output) and orders its nodes; :func:`fold_sum_pools` reads a ``SumPool2d`` as the
average pool it is (a ``Scale(1 / kernel area)`` after it, or weights after it that take the area);
:func:`spec_text` writes the spec the way the bundled specs are written, one layer per line.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import UnsupportedError
from .nir_lower import load_nir

_FORK_HINT = ("snnTorch's export_to_nir (nirtorch.extract_nir_graph) does not see additions made in forward() "
              "(x + y): it cuts the graph there and gives the node after the addition an input of its own. "
              "Export such a network with nirtorch.torch_to_nir and snnTorch's converter instead (docs/export.md, "
              "'Importing NIR')")


def _edges(nodes: dict, edges: list) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``(predecessors, successors)`` of every node key (unique, in edge order)."""
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise UnsupportedError(f"the NIR graph has an edge {a!r} → {b!r} to a node '{end}' it does not "
                                       "define; the file is inconsistent")
        if a not in pred[b]:
            pred[b].append(a)
            succ[a].append(b)
    return pred, succ


def _one(nodes: dict, kind: str) -> str:
    nir = load_nir()
    keys = [k for k, v in nodes.items() if isinstance(v, getattr(nir, kind))]
    if len(keys) == 1:
        return keys[0]
    listed = ", ".join(f"'{k}'" for k in keys)
    why = f"the NIR graph has {len(keys)} {kind.lower()} nodes ({listed or 'none'}); snnc imports graphs with one"
    if kind == "Input" and len(keys) > 1:
        why += f". {_FORK_HINT}"
    if kind == "Output" and len(keys) > 1:
        why += " (a spec has one output; import the part that ends at one of them)"
    raise UnsupportedError(why)


def _post_order(root: str, pred: dict[str, list[str]], rank: Callable[[str], Any]) -> list[str]:
    """Every ancestor of ``root`` before its descendants, ``root`` last (a depth-first walk up the edges that
    visits the predecessors of a node in ``rank`` order).

    Raises:
        UnsupportedError: a cycle (a recurrent connection), named by its nodes.
    """
    state: dict[str, int] = {root: 1}  # 1: on the walk's path, 2: done
    order: list[str] = []
    stack = [(root, iter(sorted(pred[root], key=rank)))]
    while stack:
        key, todo = stack[-1]
        nxt = next(todo, None)
        if nxt is None:
            stack.pop()
            state[key] = 2
            order.append(key)
        elif state.get(nxt) == 1:
            path = [k for k, _ in stack]  # each is fed by the one after it; `nxt` feeds the last
            cycle = [nxt] + path[path.index(nxt) + 1:][::-1] + [nxt]
            raise UnsupportedError(f"the NIR graph has a cycle {' → '.join(cycle)} (a recurrent connection, such as "
                                   "snnTorch's RLeaky writes); snnc imports feed-forward graphs")
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(sorted(pred[nxt], key=rank))))
    return order


def feed_forward(nodes: dict, edges: list) -> tuple[str, list[str], dict[str, list[str]]]:
    """Check that a NIR graph is one snnc can lay out as spec layers, and order it.

    Args:
        nodes: NIR node key → node (``graph.nodes``).
        edges: ``(source key, destination key)`` pairs (``graph.edges``).

    Returns:
        ``(input key, order, predecessors)``: ``order`` lists every node but the input, each after all the
        nodes that feed it and the output last; a node's chain of predecessors comes right before it and, at
        a sum, the longer branch first (so a residual block reads main path, shortcut, add, as in
        ``specs/resnet18.yaml``). ``predecessors[key]`` lists the longer branch first too.

    Raises:
        UnsupportedError: not one input or one output node, a nested graph, a cycle, or a node that is not on
            a path from the input to the output; each names the nodes.
    """
    nir = load_nir()
    nested = [k for k, v in nodes.items() if isinstance(v, nir.NIRGraph)]
    if nested:
        raise UnsupportedError(f"NIR node '{nested[0]}' is a nested graph (a subgraph, e.g. a recurrent layer); "
                               "snnc imports flat feed-forward graphs")
    pred, _ = _edges(nodes, edges)
    input_key, output_key = _one(nodes, "Input"), _one(nodes, "Output")
    first = _post_order(output_key, pred, str)
    depth: dict[str, int] = {}
    for key in first:  # the longest path from a source: a node's ancestors are all before it in `first`
        depth[key] = 1 + max((depth[p] for p in pred[key]), default=-1)
    order = _post_order(output_key, pred, lambda k: (-depth[k], k))
    unreached = [k for k in nodes if k not in depth]
    if unreached:
        raise UnsupportedError(f"NIR node '{unreached[0]}' does not lead to the output node '{output_key}' "
                               f"({len(unreached)} such node(s): {', '.join(unreached)}); snnc imports graphs "
                               "whose every node feeds the output")
    sources = [k for k in order if not pred[k] and k != input_key]
    if sources:
        raise UnsupportedError(f"NIR node '{sources[0]}' has no incoming edge and is not the input node "
                               f"'{input_key}'; snnc imports graphs with one input that feeds every node")
    ordered_pred = {k: sorted(pred[k], key=lambda p: (-depth[p], p)) for k in nodes}
    return input_key, order[1:], ordered_pred


def _weighted_readers(key: str, nodes: dict, pred: dict, succ: dict) -> list[str] | None:
    """The Conv2d / Linear / Affine nodes that every path out of ``key`` reaches (through Flatten nodes), each
    fed by that path alone; None when some path ends elsewhere."""
    nir = load_nir()
    readers = []
    for nxt in succ[key]:
        prev = key
        while isinstance(nodes[nxt], nir.Flatten) and len(succ[nxt]) == 1 and pred[nxt] == [prev]:
            prev, nxt = nxt, succ[nxt][0]
        if not isinstance(nodes[nxt], (nir.Conv2d, nir.Linear, nir.Affine)) or pred[nxt] != [prev]:
            return None
        readers.append(nxt)
    return readers or None


def _scaled(node: Any, factor: float) -> Any:
    import copy

    node = copy.copy(node)
    node.weight = np.asarray(node.weight, dtype=np.float32) * np.float32(factor)
    return node


def fold_sum_pools(nodes: dict, edges: list) -> tuple[dict, list]:
    """Read a ``SumPool2d`` as the average pool snnc has (``avgpool2d``), where that is what the graph computes:

    * followed by ``Scale(1 / kernel area)`` alone (average pooling for importers without ``AvgPool2d``): one
      ``AvgPool2d`` under the pool's key (for an area that is not a power of two, the same up to rounding);
    * read only by Conv2d / Linear / Affine nodes (through Flatten), as snnc's own exporter writes an average
      pool before one (their weights divided by the area), the area a power of two: ``AvgPool2d``, and those
      readers' weights times the area, so ``(W·k)(Σ/k) = WΣ`` exactly.

    Returns:
        ``(nodes, edges)``: new containers (the graph is not changed); other nodes pass unchanged, so a
        ``SumPool2d`` or ``Scale`` left alone is refused by the converter with its reason.
    """
    nir = load_nir()
    pred, succ = _edges(nodes, edges)
    nodes, folded = dict(nodes), {}
    for key, node in list(nodes.items()):
        if not isinstance(node, nir.SumPool2d):
            continue
        area = int(np.prod(np.ravel(node.kernel_size)))
        after = nodes[succ[key][0]] if len(succ[key]) == 1 else None
        readers = _weighted_readers(key, nodes, pred, succ)
        if isinstance(after, nir.Scale) and pred[succ[key][0]] == [key] \
                and np.allclose(np.asarray(after.scale, dtype=np.float64), 1.0 / area, rtol=1e-6, atol=0.0):
            del nodes[succ[key][0]]
            folded[succ[key][0]] = key
        elif readers and area & (area - 1) == 0:
            nodes.update({r: _scaled(nodes[r], area) for r in readers})
        else:
            continue
        nodes[key] = nir.AvgPool2d(kernel_size=np.ravel(node.kernel_size), stride=np.ravel(node.stride),
                                   padding=np.ravel(node.padding))
    new_edges = [(folded.get(a, a), b) for a, b in edges if folded.get(b) != a]
    return nodes, new_edges


def _flow(value: Any) -> str:
    """One value in YAML flow style on one line (dumped inside a list: a bare scalar would get a ``...``)."""
    import yaml

    return yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=1 << 16).strip()[1:-1]


def spec_text(spec: dict, header: list[str]) -> str:
    """The spec as YAML the way ``specs/*.yaml`` are written: ``#`` header lines, one line per section and per
    layer (flow style), nothing reordered.

    Raises:
        InternalError: the text does not read back as ``spec`` (a YAML writer bug, never silently).
    """
    import yaml

    lines = [f"# {line}" if line else "#" for line in header]
    for key, value in spec.items():
        if key == "layers":
            lines.append("layers:")
            lines.extend(f"  - {_flow(layer)}" for layer in value)
        else:
            lines.append(f"{key}: {_flow(value)}")
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != spec:
        from ..errors import InternalError

        raise InternalError("the imported spec's YAML does not read back as the spec")
    return text
