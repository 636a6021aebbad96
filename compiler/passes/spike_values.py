"""``infer-spike-values``: which values of a graph are spikes, which are real numbers, which change with time.

An analysis pass (IR in, report out; the graph is never changed). Every node plays one *role*, looked up in
a table by kind:

* ``spikes`` — emits spikes and varies with time: a spike node (a neuron), or the input under ``rate`` /
  ``latency`` encoding;
* ``preserve`` — moves, selects or copies values without arithmetic (max-pool, flatten, reshape, slice,
  dropout, identity, concat, nearest up-sampling, and in spiking targets ReLU-like activations and products of
  spikes): its output is spikes exactly when *every* input is;
* ``analog`` — computes real numbers (conv, linear, batch-norm, average pooling, add, bilinear up-sampling,
  sigmoid-like activations, and the input under ``direct`` encoding).

A node is *time-invariant* when it has the same value at every time step: the ``direct``-encoded input and
every non-``spikes`` node whose inputs are all time-invariant (with direct encoding, the layers before the
first neuron). A conv/linear layer whose input is spikes can be run with accumulates only (synaptic
operations); one with real input needs multiply-accumulates, once per inference if its input is
time-invariant, else at every step.

Why per target: a target decides what its ops do. In the burst target every ReLU becomes a neuron (so an
``activation: relu`` node is a spike source there), max-pooling becomes LIPooling (still spikes of the form
``k·θ``) and a product of two bursts is not a burst; :data:`BURST_ROLES` states that, and :data:`ROLES_BY_TARGET`
maps each target to its table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Mapping

from ..errors import UnsupportedError
from ..ir import NODE_KINDS

NAME = "infer-spike-values"
"""The pass's registered name."""

Role = Literal["spikes", "preserve", "analog"]
RoleFn = Callable[[object, object], Role]
"""``(node, graph) -> role``."""

SPIKING_ACTIVATIONS = frozenset({"relu", "relu6", "leaky_relu"})
"""Activations that map {0, 1} onto {0, 1} (so spikes stay spikes through them in the snn target)."""


def _const(role: Role) -> RoleFn:
    return lambda node, graph: role


def _input(node, graph) -> Role:
    return "analog" if graph.encoding.kind == "direct" else "spikes"


def _upsample(node, graph) -> Role:
    return "preserve" if node.mode == "nearest" else "analog"


def _activation(node, graph) -> Role:
    return "preserve" if node.function in SPIKING_ACTIVATIONS else "analog"


def _burst_spike(node, graph) -> Role:
    # Why: the ann target lowers an output spike node to the logits (nn.Identity), so the converted network
    # reads it out as an analog current, not as a neuron.
    return "analog" if node.name in graph.outputs else "spikes"


def _burst_activation(node, graph) -> Role:
    return "spikes" if node.function == "relu" else "analog"


SNN_ROLES: Mapping[str, RoleFn] = {
    "input": _input,
    "spike": _const("spikes"),
    "maxpool2d": _const("preserve"),
    "flatten": _const("preserve"),
    "reshape": _const("preserve"),
    "slice": _const("preserve"),
    "dropout": _const("preserve"),
    "identity": _const("preserve"),
    "concat": _const("preserve"),
    "upsample": _upsample,
    # Why: a product of {0, 1} values is in {0, 1} (an AND); a product with an analog gate is analog, which the
    # "every input" rule of preserve gives by itself.
    "multiply": _const("preserve"),
    "activation": _activation,
    "conv2d": _const("analog"),
    "linear": _const("analog"),
    "batchnorm": _const("analog"),
    "avgpool2d": _const("analog"),
    "adaptive_avgpool2d": _const("analog"),
    "global_avgpool": _const("analog"),
    "add": _const("analog"),
}
"""Node kind → role in the snn target (and the default). Every IR kind has an entry (a test checks this)."""

BURST_ROLES: Mapping[str, RoleFn] = {
    **SNN_ROLES,
    "input": _const("analog"),  # the burst target always feeds the analog input at every step
    "spike": _burst_spike,
    "activation": _burst_activation,  # every ReLU becomes a burst neuron
    "multiply": _const("analog"),  # k1·θ1 × k2·θ2 is not a burst of one layer's θ
}
"""Node kind → role in the burst target (Li & Zeng 2022 conversion)."""

ANN_ROLES: Mapping[str, RoleFn] = {**{k: _const("analog") for k in SNN_ROLES}, "input": _const("analog")}
"""In the ann target nothing spikes (spike nodes are ReLUs)."""

ROLES_BY_TARGET: Mapping[str, Mapping[str, RoleFn]] = {"ann": ANN_ROLES, "snn": SNN_ROLES, "burst": BURST_ROLES}
"""Target → its role table."""


@dataclass(frozen=True)
class SpikeValue:
    """What flows out of (and into) one node.

    Attributes:
        role: the node's role (``spikes``, ``preserve`` or ``analog``).
        spikes: its output is spike-valued (binary in the snn target, ``k·θ`` bursts in the burst target).
        input_spikes: every input is spike-valued (False for a node without inputs).
        time_invariant: its output is the same at every time step.
        input_time_invariant: every input is time-invariant (True for a node without inputs).
    """

    role: Role
    spikes: bool
    input_spikes: bool
    time_invariant: bool
    input_time_invariant: bool


def infer_spike_values(graph, roles: Mapping[str, RoleFn] | None = None, *,
                       target: str = "snn") -> dict[str, SpikeValue]:
    """Propagate "is spike-valued" and "is time-invariant" through ``graph``, in node order.

    Args:
        graph: a verified :class:`~snnc.compiler.ir.Graph` (topological order).
        roles: entries that override or extend the target's table for this call.
        target: whose table to start from (``snn``, ``burst`` or ``ann``).

    Returns:
        Node name → :class:`SpikeValue`, in node order.

    Raises:
        UnsupportedError: an unknown target, or a node kind with no role (the message lists the supported kinds).
    """
    if target not in ROLES_BY_TARGET:
        raise UnsupportedError(f"no spike-value table for target '{target}'; tables: {', '.join(ROLES_BY_TARGET)}")
    table = {**ROLES_BY_TARGET[target], **(roles or {})}
    out: dict[str, SpikeValue] = {}
    for node in graph.nodes:
        fn = table.get(node.kind)
        if fn is None:
            raise UnsupportedError(f"node '{node.name}': no spike-value role for kind '{node.kind}' "
                                   f"(supported: {', '.join(sorted(table))})")
        role = fn(node, graph)
        ins = [out[i] for i in node.inputs]
        in_spikes = bool(ins) and all(v.spikes for v in ins)
        in_invariant = all(v.time_invariant for v in ins)
        if role == "spikes":
            spikes, invariant = True, False
        elif role == "preserve":
            spikes, invariant = in_spikes, in_invariant
        else:
            spikes, invariant = False, in_invariant
        out[node.name] = SpikeValue(role, spikes, in_spikes, invariant, in_invariant)
    return out


def missing_kinds() -> dict[str, set[str]]:
    """Target → the IR kinds its table lacks (all empty when every table covers :data:`NODE_KINDS`)."""
    return {t: set(NODE_KINDS) - set(table) for t, table in ROLES_BY_TARGET.items()}
