"""``ann_to_snn``: rewrite the ann target's ``torch.fx.GraphModule`` into a spiking network.

The rewrite is a fixed life cycle, one function per step, on a deep copy (the caller's module is never
touched):

1. :func:`find_spike_nodes` — the nodes lowered from an IR ``Spike`` (``node.meta["snnc_node"].kind ==
   "spike"``); a spike node that is not a module call is an error, never silently left as a ReLU.
2. :func:`replace_spike_nodes` — each spike module becomes a :class:`~.loop.NeuronLoop` built from the node's
   resolved ``NeuronParams``.
3. :func:`split_time_invariant` — cut the graph into a prefix that runs once per call on ``B`` samples
   (nothing in it depends on time: with direct encoding, the layers before the first neuron) and a body that
   runs on time folded into the batch. Neurons fed by the prefix receive its ``[B, ...]`` output and reuse it
   at every step (no copy); other body nodes fed by the prefix get it repeated over time (:func:`expand_time`).
   The output neuron also returns its membrane; every neuron's state is an explicit input and output of the
   body, so chunks of a call are chained without any state kept in modules.
4. finalise — ``graph.lint()`` and a ``GraphModule`` per program, sharing the copied submodules.

Why folding works: every node except a neuron is stateless and batch-first, so ``[T * B, ...]`` is just a
bigger batch. (One difference remains: a batch-norm after the first neuron, in training mode, takes its batch
statistics over the ``k * B`` samples of a chunk rather than over the ``B`` samples of one step.)
"""

from __future__ import annotations

import copy
import math
import operator
from typing import Any, Optional

from torch import Tensor, fx, nn

from ...errors import UnsupportedError
from .coding import resolve_decoding, resolve_encoding
from .loop import NeuronLoop, check_mode
from .module import SpikingModule


def expand_time(value: Tensor, steps: int) -> Tensor:
    """Repeat a time-invariant ``[B, ...]`` value for ``steps`` steps, folded: ``[steps * B, ...]`` (a copy).

    Args:
        value: the value, the same at every step.
        steps: number of steps.

    Returns:
        ``value`` repeated ``steps`` times along the batch dimension, step-major.
    """
    return value.unsqueeze(0).expand(steps, *value.shape).flatten(0, 1)


def _ir(node: fx.Node) -> Any:
    return node.meta.get("snnc_node")


def _is_spike(node: fx.Node) -> bool:
    return getattr(_ir(node), "kind", None) == "spike"


def find_spike_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """The spike nodes of an ann ``GraphModule``, in graph order.

    Args:
        gm: the ann target's module (nodes carry ``meta["snnc_node"]``).

    Returns:
        The ``call_module`` nodes whose IR node is a ``Spike``.

    Raises:
        UnsupportedError: a spike node is not a single-input module call.
    """
    found = []
    for node in gm.graph.nodes:
        if not _is_spike(node):
            continue
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            raise UnsupportedError(
                f"spike node '{_ir(node).name}' is lowered as {node.op} {node.target!r} with "
                f"{len(node.args)} argument(s); the snn target replaces only single-input module calls"
            )
        found.append(node)
    return found


def _set_submodule(root: nn.Module, target: str, module: nn.Module) -> None:
    parent_name, _, leaf = target.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, module)


def replace_spike_nodes(
    gm: fx.GraphModule, nodes: list[fx.Node], *, mode: str = "fused", record: bool = False
) -> dict[str, NeuronLoop]:
    """Replace each spike node's module by a :class:`NeuronLoop` (in place: call it on a copy).

    Args:
        gm: the module to rewrite.
        nodes: its spike nodes (from :func:`find_spike_nodes`).
        mode: how the neuron loops run (``fused``, ``reference``, ``unrolled``).
        record: whether the loops count spikes from the start.

    Returns:
        The new neuron loops by module name.

    Raises:
        UnsupportedError: the node's neuron parameters have no snnTorch counterpart.
    """
    loops = {}
    for node in nodes:
        ir = _ir(node)
        loop = NeuronLoop(ir.neuron, shape=tuple(ir.shape), mode=mode, record=record)
        _set_submodule(gm, node.target, loop)
        loops[node.target] = loop
    return loops


def _single_result(graph: fx.Graph) -> tuple[fx.Node, fx.Node]:
    output = next(n for n in reversed(graph.nodes) if n.op == "output")
    result = output.args[0]
    if not isinstance(result, fx.Node):
        raise UnsupportedError(
            f"the snn target needs a graph with a single output tensor, this one returns {type(result).__name__}"
        )
    return output, result


def split_time_invariant(gm: fx.GraphModule, *, direct: bool) -> tuple[fx.Graph, fx.Graph]:
    """Cut the graph into the prefix (run once, on ``B`` samples) and the body (run on folded time).

    The prefix takes the original inputs and returns a tuple of the time-invariant values the body needs.
    The body takes (unless ``direct``) the encoded input folded ``[k * B, ...]``, then those values, then the
    number of steps ``k``, then the state of every neuron (``mem0``, ``syn0``; None at the first chunk); it
    returns ``(spk, mem)`` folded ``[k * B, ...]`` followed by every neuron's state for the next chunk.

    Args:
        gm: the module whose spike modules are already :class:`NeuronLoop` s.
        direct: the input is the same current at every step (direct encoding); otherwise it varies over time.

    Returns:
        ``(prefix graph, body graph)``.

    Raises:
        UnsupportedError: the graph does not return a single tensor.
    """
    graph = gm.graph
    output, result = _single_result(graph)
    loops = {
        n for n in graph.nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target), NeuronLoop)
    }
    timed: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "output":
            continue
        if (node.op == "placeholder" and not direct) or node in loops or any(
            a in timed for a in node.all_input_nodes
        ):
            timed.add(node)
    invariant = [n for n in graph.nodes if n.op != "output" and n not in timed]
    boundary = [n for n in invariant if any(u in timed or u is output for u in n.users)]
    return _prefix_graph(graph, invariant, boundary), _body_graph(graph, loops, timed, boundary, result)


def _prefix_graph(graph: fx.Graph, invariant: list[fx.Node], boundary: list[fx.Node]) -> fx.Graph:
    """The original inputs and the time-invariant nodes, returning the tuple of those the body reads."""
    prefix = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = prefix.node_copy(node)
    for node in invariant:
        if node not in env:
            env[node] = prefix.node_copy(node, lambda a: env[a])
    prefix.output(tuple(env[n] for n in boundary))
    return prefix


def _body_graph(graph: fx.Graph, loops: set[fx.Node], timed: set[fx.Node], boundary: list[fx.Node],
                result: fx.Node) -> fx.Graph:
    """The time-dependent nodes on folded time, with the placeholders and outputs that
    :func:`split_time_invariant` documents; each neuron's state is passed in and returned explicitly."""
    body = fx.Graph()
    env = {n: body.node_copy(n) for n in graph.nodes if n.op == "placeholder" and n in timed}
    given = {n: body.placeholder(n.name) for n in boundary}
    steps = body.placeholder("steps")
    ordered = [n for n in graph.nodes if n in loops]
    state_in = {n: (body.placeholder(f"{n.name}_mem0"), body.placeholder(f"{n.name}_syn0")) for n in ordered}
    state_out: dict[fx.Node, tuple[fx.Node, fx.Node]] = {}
    repeated: dict[fx.Node, fx.Node] = {}

    def value(node: fx.Node) -> fx.Node:
        if node in timed:
            return env[node]
        if node not in repeated:
            repeated[node] = body.call_function(expand_time, (given[node], steps))
        return repeated[node]

    mem = None
    for node in graph.nodes:
        if node not in timed or node.op == "placeholder":
            continue
        if node not in loops:
            env[node] = body.node_copy(node, value)
            continue
        (src,) = node.args
        constant = src not in timed
        args = (given[src] if constant else env[src], steps, *state_in[node])
        call = body.call_module(node.target, args, {"constant": constant, "record_mem": node is result})
        call.meta = dict(node.meta)
        env[node] = body.call_function(operator.getitem, (call, 0))
        if node is result:
            mem = body.call_function(operator.getitem, (call, 1))
        state_out[node] = (
            body.call_function(operator.getitem, (call, 2)),
            body.call_function(operator.getitem, (call, 3)),
        )
    out = value(result)
    states = [v for n in ordered for v in state_out[n]]
    body.output((out, mem if mem is not None else out, *states))
    return body


def _finalise(gm: fx.GraphModule, graph: fx.Graph, name: str) -> fx.GraphModule:
    graph.lint()
    return fx.GraphModule(gm, graph, class_name=name)


def _is_conv(gm: fx.GraphModule, node: fx.Node) -> bool:
    if getattr(_ir(node), "kind", None) == "conv2d":
        return True
    return node.op == "call_module" and isinstance(gm.get_submodule(node.target), nn.Conv2d)


def _largest_sample(body: fx.Graph) -> int:
    sizes = [math.prod(_ir(n).shape) for n in body.nodes if getattr(_ir(n), "shape", None)]
    return max(sizes, default=0)


def ann_to_snn(
    gm: fx.GraphModule,
    *,
    timesteps: Optional[int] = None,
    encoding: Any = None,
    decoding: Any = None,
    record: bool = False,
    chunk: Optional[int] = None,
    compile: bool = False,
    mode: str = "fused",
    channels_last: Optional[bool] = None,
    tbptt: Optional[int] = None,
    checkpoint_time: bool = False,
    inplace: bool = False,
) -> SpikingModule:
    """Turn the ann target's module into a spiking network on snnTorch neurons.

    Every spike node (a ReLU in the ann) becomes a neuron of its resolved ``NeuronParams`` (``snn.Leaky``,
    ``snn.Synaptic``, or ``snn.Leaky`` with beta = 1 for ``if``), run over time; all other layers run once
    over the time steps folded into the batch. The caller's module is not modified (unless ``inplace``).

    Args:
        gm: the module from ``snnc.compile(spec, target="ann")`` (``gm.meta["snnc_graph"]`` and
            ``node.meta["snnc_node"]`` set).
        timesteps: steps per call; default ``graph.timesteps``.
        encoding: input encoding (kind string, mapping or IR model); default ``graph.encoding``.
        decoding: output decoding for :meth:`SpikingModule.decode`; default ``graph.decoding``.
        record: count spikes per layer on every call (see :meth:`SpikingModule.spike_counts`).
        chunk: time steps per chunk of the folded batch; None picks about :data:`~.module.CHUNK_BYTES` of the
            largest activation per chunk.
        compile: run the body through ``torch.compile`` with unrolled neurons. The first call compiles (tens of
            seconds; two graphs, for the first chunk and the following ones, per grad mode).
        mode: ``fused`` (default), or ``reference`` to run the snnTorch neuron modules step by step.
        channels_last: run convolutions channels-last; None means yes when the net has a convolution.
        tbptt: truncated BPTT: detach the neuron states every ``tbptt`` steps (None: full BPTT).
        checkpoint_time: activation checkpointing over time: recompute each chunk's activations in the
            backward pass (same gradients, memory of one chunk plus the states between chunks).
        inplace: rewrite ``gm`` itself (its modules become the spiking network's) instead of a copy; for callers
            that hand over a module nobody else holds.

    Returns:
        The :class:`SpikingModule`; ``module(x)`` returns ``(spk, mem)`` shaped ``[T, B, ...]``.

    Raises:
        UnsupportedError: ``gm`` carries no snnc graph and no ``timesteps`` was given, an option is invalid,
            a spike node cannot be replaced, a neuron setting has no snnTorch counterpart, or the graph has
            more than one output.
    """
    info = getattr(gm, "meta", {}).get("snnc_graph")
    timesteps = _check_options(info, timesteps, chunk, tbptt, checkpoint_time, mode, compile)
    enc = resolve_encoding(encoding if encoding is not None else getattr(info, "encoding", "direct"))
    dec = resolve_decoding(decoding if decoding is not None else getattr(info, "decoding", "rate"))

    work = gm if inplace else copy.deepcopy(gm)
    replace_spike_nodes(work, find_spike_nodes(work), mode="unrolled" if compile else mode, record=record)
    prefix_graph, body_graph = split_time_invariant(work, direct=enc.kind == "direct")
    convolutional = any(_is_conv(work, n) for n in work.graph.nodes)
    return SpikingModule(
        work,
        _finalise(work, prefix_graph, "SnnPrefix"),
        _finalise(work, body_graph, "SnnBody"),
        timesteps=timesteps,
        encoding=enc,
        decoding=dec,
        chunk=chunk,
        channels_last=convolutional if channels_last is None else channels_last,
        sample_numel=_largest_sample(body_graph),
        compile=compile,
        tbptt=tbptt,
        checkpoint_time=checkpoint_time,
    )


def _check_options(info: Any, timesteps: Optional[int], chunk: Optional[int], tbptt: Optional[int],
                   checkpoint_time: Any, mode: str, compile: bool) -> int:
    """Validate :func:`ann_to_snn`'s options before anything is copied; returns the number of time steps
    (``timesteps``, or the graph's when None).

    Raises:
        UnsupportedError: naming the option and the value refused.
    """
    if timesteps is None:
        if info is None:
            raise UnsupportedError(
                "this module carries no snnc graph (gm.meta['snnc_graph']): build it with "
                "snnc.compile(spec, target='ann') or pass timesteps=..."
            )
        timesteps = info.timesteps
    if not isinstance(timesteps, int) or timesteps < 1:
        raise UnsupportedError(f"timesteps must be a positive integer, got {timesteps!r}")
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise UnsupportedError(f"chunk must be a positive integer number of steps or None, got {chunk!r}")
    if tbptt is not None and (isinstance(tbptt, bool) or not isinstance(tbptt, int) or tbptt < 1):
        raise UnsupportedError(f"tbptt must be a positive integer number of steps or None, got {tbptt!r}")
    if not isinstance(checkpoint_time, bool):
        raise UnsupportedError(f"checkpoint_time must be true or false, got {checkpoint_time!r}")
    check_mode(mode)
    if compile and mode == "reference":
        raise UnsupportedError("compile=True runs fused neurons; it cannot be combined with mode='reference'")
    return timesteps


__all__ = ["ann_to_snn", "expand_time", "find_spike_nodes", "replace_spike_nodes", "split_time_invariant"]
