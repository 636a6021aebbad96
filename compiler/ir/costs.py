"""Static costs from the IR alone: parameters, multiply-accumulates (MACs) and activation sizes per node.

Conventions (stated once, used everywhere):

* **Parameters** count every trainable weight and bias; batch-norm counts ``gamma`` and ``beta`` (2 per channel,
  as ``torch``'s ``parameters()``), not its running statistics (buffers).
* **MACs** count multiply-accumulates of one sample (batch 1) and one time step: a convolution costs
  ``out_elements × (in_channels / groups) × kh × kw`` (every kernel tap, taps on zero padding included, as
  thop/ptflops/torch's FLOP counter count them); a linear layer ``out_elements × in_features``. Bias adds,
  batch-norm, pooling, activations, additions and neurons cost 0 MACs (they are cheap element-wise work that
  thop-style counters also leave out of "MACs"). Many papers call MACs "FLOPs"; true FLOPs are about 2× MACs.
* **Activations** count the output elements of a node (one sample, one step).

Everything is Python integer arithmetic: nothing is allocated. ``docs/costs.md`` states these conventions
and the dynamic ones (spikes, synaptic operations, energy) of :mod:`snnc.runtime.cost`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .base import NodeBase, Shape


@dataclass(frozen=True)
class NodeCost:
    """Static cost of one node (one sample, one time step)."""

    params: int
    macs: int
    activations: int


def _conv2d(node, in_shapes, out):
    kh, kw = node.kernel_size
    params = node.out_channels * (node.in_channels // node.groups) * kh * kw + (node.out_channels if node.bias else 0)
    return params, math.prod(out) * (node.in_channels // node.groups) * kh * kw


def _linear(node, in_shapes, out):
    params = node.in_features * node.out_features + (node.out_features if node.bias else 0)
    return params, math.prod(out) * node.in_features


def _batchnorm(node, in_shapes, out):
    return (2 * node.num_features if node.affine else 0), 0


def _free(node, in_shapes, out):
    return 0, 0


PARAMS_AND_MACS: dict[str, Callable[[NodeBase, list[Shape], Shape], tuple[int, int]]] = {
    "conv2d": _conv2d,
    "linear": _linear,
    "batchnorm": _batchnorm,
    **{k: _free for k in ("input", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "global_avgpool", "activation",
                          "spike", "dropout", "identity", "flatten", "reshape", "slice", "add", "multiply", "concat",
                          "upsample")},
}
"""Node kind → ``(params, MACs)`` function of (node, input shapes, output shape)."""


def node_cost(node: NodeBase, input_shapes: list[Shape]) -> NodeCost:
    """Static cost of ``node`` (its ``shape`` must be inferred already).

    Raises:
        KeyError: no cost function for the kind (the message lists the supported kinds).
    """
    fn = PARAMS_AND_MACS.get(node.kind)
    if fn is None:
        raise KeyError(f"no cost function for node kind '{node.kind}'; supported: {', '.join(sorted(PARAMS_AND_MACS))}")
    params, macs = fn(node, list(input_shapes), tuple(node.shape))
    return NodeCost(params=params, macs=macs, activations=math.prod(node.shape) if node.shape else 0)


def graph_costs(graph) -> dict[str, NodeCost]:
    """Cost of every node of ``graph`` (an :class:`~snnc.compiler.ir.Graph`), in node order."""
    shapes = {n.name: n.shape for n in graph.nodes}
    return {n.name: node_cost(n, [shapes[i] for i in n.inputs]) for n in graph.nodes}
