"""How :class:`~.module.BurstSNN` runs a converted graph fast: the static prefix once, the rest on folded time.

With direct input the same ``x`` enters at every step, so every node that depends on no neuron's output (the
layers before the first neuron) computes the same value at every step. :func:`plan_static` cuts the converted
graph in two, as the snn target does (:func:`snnc.compiler.targets.snn.rewrite.split_time_invariant`):

* the **prefix** — those static nodes — runs once per call on ``B`` samples;
* the **suffix** — the neurons and everything after them — runs once per chunk of ``c`` steps on time folded
  into the batch (``[c * B, ...]``); the prefix's values it reads are repeated over the chunk's steps.

A LIPool whose input is static is split too: its max-pool moves to the prefix and the suffix keeps only its
accumulation (a :class:`~.neurons.LIPool` around ``nn.Identity``). Why this gives the step-by-step outputs
bit for bit: for a constant input ``a``, each element's running sum ``S[t]`` is the same rounded sum of its
own ``a`` at every position, and rounding is monotone, so ``S[t]`` of the largest ``a`` of a window is the
largest ``S[t]`` of that window: ``pool(S[t])`` equals the accumulation of ``pool(a)``, computed by the same
operations on the same numbers.

The plan shares the network's modules (neurons, convs, pools), so spike counts, thresholds, hooks and devices
are the network's own; only the accumulators of split LIPools are the plan's. A graph the plan cannot cut
safely (a static value without a batch dimension feeding the suffix, or no shape annotations) gets no plan and
runs as before, every node on the folded input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from .neurons import LIPool, MaxPool, StatefulModule
from .ops import SHAPE_KEY

SHAPE_BATCH = 7
"""Rows of the batch :func:`~.trace.propagate_shapes` annotates with (see ``convert._SHAPE_BATCH``)."""


def repeat_steps(value: torch.Tensor, steps: int) -> torch.Tensor:
    """A static ``[B, ...]`` value for ``steps`` steps, folded time-major: ``[steps * B, ...]`` (a copy)."""
    return value.unsqueeze(0).expand(steps, *value.shape).reshape(steps * value.shape[0], *value.shape[1:])


@dataclass
class StaticPlan:
    """The two programs cut from a converted graph, and what they need at run time.

    Attributes:
        prefix: ``x [B, ...]`` → the tuple of static values the suffix reads, each ``[B, ...]``, followed by
            the inputs of the split LIPools (before pooling; see :meth:`sync_split_pools`).
        suffix: those values repeated over ``c`` steps (``[c * B, ...]``) → the output ``[c * B, ...]``.
        stateful: the stateful modules the suffix calls (the network's neurons and LIPools, and the plan's
            accumulators), whose ``steps`` the runner sets.
        accumulators: the plan's own LIPools (accumulation of a pooled static value), reset with the network.
        sample_numel: elements of the largest activation of one sample in the suffix (0: unknown).
    """

    prefix: fx.GraphModule
    suffix: fx.GraphModule
    stateful: list[StatefulModule]
    accumulators: list[LIPool]
    split_pools: list[LIPool]
    sample_numel: int

    def run(self, static: tuple[torch.Tensor, ...], steps: int) -> Any:
        """The suffix for ``steps`` steps, from the prefix's values ``static``."""
        for module in self.stateful:
            module.steps = steps
        used = static[:len(static) - len(self.split_pools)]
        return self.suffix(*(repeat_steps(v, steps) for v in used))

    def sync_split_pools(self, static: tuple[torch.Tensor, ...], chunks: list[int]) -> None:
        """Give each split LIPool of the network the state the step-by-step run would have left in it, so that
        :meth:`BurstSNN.step` can continue a run made through the plan (the same operations, chunk by chunk)."""
        inputs = static[len(static) - len(self.split_pools):]
        for pool, a in zip(self.split_pools, inputs):
            pool.reset()
            for steps in chunks:
                pool.steps = steps
                pool(repeat_steps(a, steps))


def _fetch(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _fresh(name: str, taken: dict[str, Any]) -> str:
    while name in taken:
        name += "_"
    return name


def _batched(node: fx.Node) -> bool:
    shape = node.meta.get(SHAPE_KEY)
    return shape is not None and len(shape) > 0 and int(shape[0]) == SHAPE_BATCH


def plan_static(gm: fx.GraphModule) -> StaticPlan | None:
    """Cut a converted graph into a static prefix and a suffix on folded time (see the module docstring).

    Args:
        gm: the converted graph module (neurons and LIPools in place), shapes annotated by
            :func:`~.trace.propagate_shapes`.

    Returns:
        The plan, or None when the graph has nothing static to hoist or cannot be cut safely.
    """
    graph = gm.graph
    modules = dict(gm.named_modules())
    dynamic, constant, split_pools = _partition(graph, modules)
    hoisted = [n for n in graph.nodes if n not in dynamic and n.op not in ("output", "placeholder")
               and n not in constant]
    if not hoisted:
        return None  # the first layer is a neuron: nothing to run once
    output = next(n for n in graph.nodes if n.op == "output")
    boundary = [n for n in graph.nodes if n not in dynamic and n not in constant and n.op != "output"
                and any((u in dynamic and u not in split_pools) or u is output for u in n.users)]
    if any(not _batched(n) for n in boundary + [n.all_input_nodes[0] for n in split_pools]):
        return None  # a static value without the batch in dim 0 (a size, a tuple) cannot be repeated over time
    prefix, pools = _prefix_graph(graph, modules, dynamic, boundary, split_pools)
    suffix, accumulators = _suffix_graph(graph, modules, dynamic, boundary, split_pools)
    prefix.lint()
    suffix.lint()
    prefix_gm = _graph_module(gm, prefix, pools, "BurstPrefix")
    suffix_gm = _graph_module(gm, suffix, accumulators, "BurstSuffix")
    calls = [m for n in suffix.nodes if n.op == "call_module"
             for m in [suffix_gm.get_submodule(n.target)] if isinstance(m, StatefulModule)]
    sizes = [math.prod(n.meta[SHAPE_KEY][1:]) for n in graph.nodes if n in dynamic and _batched(n)]
    return StaticPlan(prefix=prefix_gm, suffix=suffix_gm, stateful=list(dict.fromkeys(calls)),
                      accumulators=list(accumulators.values()),
                      split_pools=[modules[n.target] for n in split_pools], sample_numel=max(sizes, default=0))


def _partition(graph: fx.Graph, modules: dict[str, nn.Module]) -> tuple[set[fx.Node], set[fx.Node], list[fx.Node]]:
    """The nodes that depend on a neuron's output (dynamic), the parameters and buffers (constant: no batch,
    copied into both programs), and the LIPools fed only by static values (split between the two)."""
    stateful = {n for n in graph.nodes
                if n.op == "call_module" and isinstance(modules.get(n.target), StatefulModule)}
    dynamic: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op != "output" and (node in stateful or any(a in dynamic for a in node.all_input_nodes)):
            dynamic.add(node)
    constant = {n for n in graph.nodes if n.op == "get_attr"}
    split_pools = [n for n in graph.nodes if n in stateful and isinstance(modules[n.target], LIPool)
                   and n.all_input_nodes and not any(a in dynamic for a in n.all_input_nodes)]
    return dynamic, constant, split_pools


def _prefix_graph(graph: fx.Graph, modules: dict[str, nn.Module], dynamic: set[fx.Node], boundary: list[fx.Node],
                  split_pools: list[fx.Node]) -> tuple[fx.Graph, dict[str, MaxPool]]:
    """The static nodes, the max-pools of the split LIPools, and an output of the values the suffix reads, the
    pooled values, then what was pooled; returns the graph and its own max-pool modules by name."""
    prefix = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in graph.nodes:
        if node.op == "output" or node in dynamic:
            continue
        env[node] = prefix.node_copy(node, lambda a: env[a])
    pooled: dict[fx.Node, fx.Node] = {}
    pools: dict[str, MaxPool] = {}
    for node in split_pools:
        name = _fresh(f"{node.target.replace('.', '_')}_pool", modules)
        pools[name] = MaxPool(modules[node.target].pool)
        pooled[node] = prefix.call_module(name, (env[node.all_input_nodes[0]],))
    inputs = [env[n] for n in boundary] + [pooled[n] for n in split_pools]
    prefix.output(tuple(inputs + [env[n.all_input_nodes[0]] for n in split_pools]))  # + what was pooled
    return prefix, pools


def _suffix_graph(graph: fx.Graph, modules: dict[str, nn.Module], dynamic: set[fx.Node], boundary: list[fx.Node],
                  split_pools: list[fx.Node]) -> tuple[fx.Graph, dict[str, LIPool]]:
    """The dynamic nodes, reading the prefix's values as placeholders, with each split LIPool replaced by an
    accumulation of its pooled input; returns the graph and its own accumulators by name."""
    output = next(n for n in graph.nodes if n.op == "output")
    suffix = fx.Graph()
    given = {n: suffix.placeholder(f"static_{n.name}") for n in boundary}
    given_pooled = {n: suffix.placeholder(f"pooled_{n.name}") for n in split_pools}
    accumulators: dict[str, LIPool] = {}
    senv: dict[fx.Node, fx.Node] = {}

    def lookup(a: fx.Node) -> fx.Node:
        if a in senv:
            return senv[a]
        if a in given:
            return given[a]
        senv[a] = suffix.node_copy(a)  # a get_attr
        return senv[a]

    for node in graph.nodes:
        if node in split_pools:
            name = _fresh(f"{node.target.replace('.', '_')}_accumulate", modules)
            accumulators[name] = LIPool(nn.Identity())
            senv[node] = suffix.call_module(name, (given_pooled[node],))
            senv[node].meta = dict(node.meta)
        elif node in dynamic:
            senv[node] = suffix.node_copy(node, lookup)
    suffix.output(fx.node.map_arg(output.args[0], lookup))
    return suffix, accumulators


def _graph_module(gm: fx.GraphModule, graph: fx.Graph, own: dict[str, nn.Module], class_name: str) -> fx.GraphModule:
    """A module running ``graph``, holding ``own`` modules and sharing every other one with ``gm``."""
    targets = {n.target for n in graph.nodes if n.op in ("call_module", "get_attr")}
    return fx.GraphModule({t: own[t] if t in own else _fetch(gm, t) for t in targets}, graph, class_name=class_name)
