"""Export-ready twins of the spiking modules: the same arithmetic with plain torch ops and explicit state.

The snn target's :class:`~snnc.compiler.targets.snn.loop.NeuronLoop` runs a custom ``torch.autograd.Function``
with in-place ops and a surrogate gradient; the burst target's neurons keep their state in Python attributes.
Neither traces into ONNX. The twins here compute the same float32 operations in the same order, so the spikes
are the same bit for bit (``tests/compiler/export``), and take and return their state as tensors:

* :class:`PlainNeuron` — snnTorch ``Leaky``/``Synaptic`` (reset delayed, as in the fused recurrence):
  ``S[t] = alpha * S[t-1] + I[t]``; ``U[t] = beta * U[t-1] + I[t] - thr * Z[t-1]`` (subtract) or with
  ``U`` zeroed where ``Z[t-1]`` (zero); ``Z[t] = (U[t] > thr)`` as 0.0/1.0. No surrogate appears.
* :class:`PlainBurstNeuron` — ``V += I; k = clamp(floor(V / theta), 0, gamma); V -= k * theta; out = k * theta``
  (optionally probed: ``V / theta`` out as well).
* :class:`PlainLIPool` — ``S += x; out = pool(S) - pool(S_prev)``.

:func:`snn_program` and :func:`burst_program` build the fx programs that use them; the exporter in
:mod:`.onnx` wraps those in the unrolled and step forms.
"""

from __future__ import annotations

import operator
from typing import Optional

import torch
from torch import Tensor, fx, nn

from ..errors import UnsupportedError


class PlainNeuron(nn.Module):
    """A :class:`NeuronLoop` with plain ops (same call signature and results, no gradient tricks).

    Args:
        loop: the snn target's neuron layer; its decays and threshold are copied as constants.
    """

    def __init__(self, loop: nn.Module) -> None:
        super().__init__()
        beta, alpha, threshold = loop.coefficients()
        self.register_buffer("beta", beta.detach().clone())
        self.register_buffer("threshold", threshold.detach().clone())
        self.register_buffer("alpha", alpha.detach().clone() if alpha is not None else None)
        self.reset = loop.params.reset
        self.synaptic = alpha is not None

    def forward(self, current: Tensor, steps: int, mem0: Optional[Tensor] = None, syn0: Optional[Tensor] = None,
                constant: bool = False, record_mem: bool = False):
        """As :meth:`NeuronLoop.forward`: ``(spk, mem, mem_last, syn_last)``, folded ``[steps * B, ...]``."""
        seq = None if constant else current.reshape(steps, -1, *current.shape[1:])
        thr = self.threshold
        prev, syn = mem0, syn0
        reset = None
        if mem0 is not None and self.reset != "none":
            reset = (mem0 > thr).to(current.dtype)
        spks, mems = [], []
        for t in range(steps):
            drive = current if seq is None else seq[t]
            if self.synaptic:
                syn = drive if syn is None else syn * self.alpha + drive
                drive = syn
            if prev is None:
                m = drive
            else:
                m = prev * self.beta
                if reset is not None and self.reset == "zero" and not self.synaptic:
                    m = torch.where(reset > 0, torch.zeros_like(m), m)
                m = m + drive
                if reset is not None and self.reset == "zero" and self.synaptic:
                    m = torch.where(reset > 0, torch.zeros_like(m), m)
                if reset is not None and self.reset == "subtract":
                    m = m - reset * thr
            spk = (m > thr).to(current.dtype)
            spks.append(spk)
            mems.append(m)
            prev = m
            reset = spk if self.reset != "none" else None
        spk_all = torch.stack(spks)
        mem_all = torch.stack(mems)
        return (spk_all.reshape(-1, *spk_all.shape[2:]), mem_all.reshape(-1, *mem_all.shape[2:]), prev,
                syn if self.synaptic else None)


def _root(gm: fx.GraphModule, graph: fx.Graph, replace: dict[str, nn.Module]) -> dict[str, object]:
    """The modules and attributes ``graph`` refers to, by qualified name, with ``replace`` swapped in."""
    root: dict[str, object] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            root[node.target] = replace[node.target] if node.target in replace else gm.get_submodule(node.target)
        elif node.op == "get_attr":
            owner, _, leaf = node.target.rpartition(".")
            root[node.target] = getattr(gm.get_submodule(owner) if owner else gm, leaf)
    return root


def snn_program(snn: nn.Module) -> tuple[fx.GraphModule, fx.GraphModule]:
    """``(prefix, body)`` of a :class:`SpikingModule` with every neuron layer replaced by its :class:`PlainNeuron`.

    Args:
        snn: the spiking module (not modified; the programs share its other submodules).

    Returns:
        The prefix program (unchanged) and a copy of the body program calling plain neurons.
    """
    from ..targets.snn.loop import NeuronLoop

    prefix, body = snn._programs
    body = getattr(body, "_orig_mod", body)
    graph = fx.Graph()
    graph.output(graph.graph_copy(body.graph, {}))
    replace = {n.target: PlainNeuron(body.get_submodule(n.target)) for n in graph.nodes
               if n.op == "call_module" and isinstance(body.get_submodule(n.target), NeuronLoop)}
    return prefix, fx.GraphModule(_root(body, graph, replace), graph, class_name="SnnExportBody")


class PlainBurstNeuron(nn.Module):
    """A :class:`BurstNeuron` with explicit state: ``(x, v) -> (out, v_new, k)`` over ``steps`` folded steps.

    With ``probe``, also ``V / theta`` before each step's floor, ``[steps, B, ...]`` (what decides the spike
    counts: the export check compares it between runtimes where spikes differ).
    """

    def __init__(self, neuron: nn.Module, steps: int = 1, probe: bool = False) -> None:
        super().__init__()
        self.register_buffer("threshold", neuron.threshold.detach().clone())
        for name in ("bias", "v_offset"):  # (calibration's corrections, when the neuron has them)
            value = getattr(neuron, name, None)
            self.register_buffer(name, None if value is None else value.detach().clone())
        self.gamma = neuron.gamma
        self.v_init = neuron.v_init
        self.steps = steps
        self.probe = probe

    def forward(self, x: Tensor, v: Optional[Tensor] = None):
        xs = x.reshape(self.steps, -1, *x.shape[1:])
        if self.bias is not None:
            xs = xs + self.bias.to(x.dtype)
        theta = self.threshold.to(x.dtype)
        if v is None:
            v = torch.zeros_like(xs[0]) + self.v_init * theta
            if self.v_offset is not None:
                v = v + self.v_offset.to(x.dtype)
        outs, counts, ratios = [], [], []
        for t in range(self.steps):
            v = v + xs[t]
            ratio = v / theta
            k = torch.clamp(torch.floor(ratio), 0, self.gamma)
            v = v - k * theta
            outs.append(k * theta)
            counts.append(k)
            ratios.append(ratio)
        out = torch.stack(outs)
        result = (out.reshape(-1, *out.shape[2:]), v, torch.stack(counts))
        return (*result, torch.stack(ratios)) if self.probe else result


class PlainLIPool(nn.Module):
    """A :class:`LIPool` with explicit state: ``(x, accumulated, emitted) -> (out, accumulated, emitted)``."""

    def __init__(self, lipool: nn.Module, steps: int = 1) -> None:
        super().__init__()
        self.pool = lipool.pool
        self.steps = steps

    def forward(self, x: Tensor, accumulated: Optional[Tensor] = None, emitted: Optional[Tensor] = None):
        xs = x.reshape(self.steps, -1, *x.shape[1:])
        if accumulated is None:
            accumulated = torch.zeros_like(xs[0])
            emitted = self.pool(accumulated)
        total = accumulated + torch.cumsum(xs, dim=0)
        pooled = self.pool(total.reshape(-1, *total.shape[2:]))
        pooled = pooled.reshape(self.steps, -1, *pooled.shape[1:])
        before = torch.cat([emitted.unsqueeze(0), pooled[:-1]]) if self.steps > 1 else emitted.unsqueeze(0)
        out = pooled - before
        return out.reshape(-1, *out.shape[2:]), total[-1], pooled[-1]


def _twins(net: fx.GraphModule, names: dict[int, str], steps: int, probe: bool
           ) -> tuple[dict[str, nn.Module], dict[str, list[str]]]:
    """The plain twin of every stateful module of ``net`` by call target, and its state keys (graph order)."""
    from ..targets.burst.neurons import BurstNeuron, LIPool

    replace: dict[str, nn.Module] = {}
    parts: dict[str, list[str]] = {}
    for node in net.graph.nodes:
        if node.op != "call_module":
            continue
        module = net.get_submodule(node.target)
        name = names[id(module)]
        if isinstance(module, BurstNeuron):
            replace[node.target] = PlainBurstNeuron(module, steps, probe)
            parts[node.target] = [f"{name}.mem"]
        elif isinstance(module, LIPool):
            replace[node.target] = PlainLIPool(module, steps)
            parts[node.target] = [f"{name}.accumulated", f"{name}.emitted"]
    if not any(isinstance(m, PlainBurstNeuron) for m in replace.values()):
        raise UnsupportedError("the burst network has no neuron layer to export")
    return replace, parts


def burst_program(burst: nn.Module, steps: int, probe: bool = False) -> tuple[fx.GraphModule, list[str], str]:
    """The burst network as one program with explicit state, for ``steps`` folded time steps.

    The program takes ``(x_folded, *state)`` (state in :meth:`BurstSNN.state_layout` order; None for a fresh
    start) and returns ``(y_folded, k_last, *new_state)``: the network output, the spike counts ``[steps, B,
    ...]`` of the last neuron layer, and the state after the last step; with ``probe``, then every neuron
    layer's ``V / theta`` ``[steps, B, ...]`` (graph order, as the ``.mem`` keys).

    Args:
        burst: the converted network (not modified).
        steps: time steps folded into one call.
        probe: also return the membranes' ``V / theta`` (see :class:`PlainBurstNeuron`).

    Returns:
        ``(program, state keys, name of the last neuron layer)``.

    Raises:
        UnsupportedError: the network has no neuron layer or more than one input.
    """
    net = burst.network
    names = {id(m): n for n, m in net.named_modules()}
    placeholders = [n for n in net.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedError(f"the burst network takes {len(placeholders)} inputs; export needs exactly one")
    replace, parts = _twins(net, names, steps, probe)
    keys = [key for target in parts for key in parts[target]]
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {placeholders[0]: graph.placeholder("x")}
    state_in = {key: graph.placeholder(key.replace(".", "_")) for key in keys}
    state_out: dict[str, fx.Node] = {}
    ratios: list[fx.Node] = []
    last_counts, last_name, result = None, "", None
    for node in net.graph.nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            result = env[node.args[0]]
            continue
        if node.op != "call_module" or node.target not in replace:
            env[node] = graph.node_copy(node, lambda a: env[a])
            continue
        own = parts[node.target]
        call = graph.call_module(node.target, (env[node.args[0]], *(state_in[k] for k in own)))
        env[node] = graph.call_function(operator.getitem, (call, 0))
        for i, key in enumerate(own, start=1):
            state_out[key] = graph.call_function(operator.getitem, (call, i))
        if isinstance(replace[node.target], PlainBurstNeuron):
            last_counts = graph.call_function(operator.getitem, (call, 2))
            last_name = names[id(net.get_submodule(node.target))]
            if probe:
                ratios.append(graph.call_function(operator.getitem, (call, 3)))
    graph.output((result, last_counts, *(state_out[k] for k in keys), *ratios))
    graph.lint()
    return fx.GraphModule(_root(net, graph, replace), graph, class_name="BurstExportProgram"), keys, last_name
