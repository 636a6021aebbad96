"""The ann target: IR → a plain PyTorch ``torch.fx.GraphModule``.

Every IR node becomes either a submodule named after the node (``conv1``, ``layer1.0.conv1`` as nested modules,
like torchvision's names) or a function call, through a table from node kind to lowering function. Each fx node
carries its IR node in ``node.meta["snnc_node"]`` and the module carries the whole IR graph in
``gm.meta["snnc_graph"]``, so the spiking targets can find the spike nodes (``nn.ReLU`` modules here) and
replace them without guessing.

Why a spike node that is a graph output lowers to ``nn.Identity`` here (and to a neuron in spiking targets):
the ANN counterpart of a rate-decoded spiking output layer is its pre-activation, the logits. A ReLU on the
logits would cripple training with cross-entropy (negative evidence could never be expressed) and the ANN→SNN
conversion, which treats the output layer as an analog read-out.
"""

from __future__ import annotations

import operator
from typing import Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import UnsupportedError
from ..ir import Graph
from .base import Target

Lowering = Callable[[object, list[fx.Node], "_Builder"], fx.Node]

_ACTIVATIONS: dict[str, Callable[[object], nn.Module]] = {
    "relu": lambda n: nn.ReLU(),
    "relu6": lambda n: nn.ReLU6(),
    "sigmoid": lambda n: nn.Sigmoid(),
    "hardsigmoid": lambda n: nn.Hardsigmoid(),
    "hardswish": lambda n: nn.Hardswish(),
    "gelu": lambda n: nn.GELU(),
    "tanh": lambda n: nn.Tanh(),
    "silu": lambda n: nn.SiLU(),
    "leaky_relu": lambda n: nn.LeakyReLU(n.negative_slope),
    "softmax": lambda n: nn.Softmax(dim=1),
}


class _Builder:
    """Holds the fx graph and the root module while lowering."""

    def __init__(self) -> None:
        self.graph = fx.Graph()
        self.root = nn.Module()

    def module(self, name: str, module: nn.Module, args: list[fx.Node]) -> fx.Node:
        """Register ``module`` at the (possibly dotted) ``name`` and call it on ``args``."""
        parent = self.root
        *path, leaf = name.split(".")
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(leaf, module)
        return self.graph.call_module(name, tuple(args))

    def function(self, name: str, fn, args: tuple, kwargs: dict | None = None) -> fx.Node:
        """Call ``fn`` with an fx node named after the IR node."""
        return self.graph.create_node("call_function", fn, args, kwargs or {}, name=name.replace(".", "_"))


def _chain(fn):
    def lower(node, args, b: _Builder):
        out = args[0]
        for i, a in enumerate(args[1:]):
            out = b.function(node.name if i == len(args) - 2 else f"{node.name}_{i}", fn, (out, a))
            out.meta["snnc_node"] = node
        return out
    return lower


def _global_avgpool(node, args, b: _Builder):
    pooled = b.function(f"{node.name}_pool", F.adaptive_avg_pool2d, (args[0], 1))
    pooled.meta["snnc_node"] = node
    return b.function(node.name, torch.flatten, (pooled, 1))


def _upsample(node, args, b: _Builder):
    kwargs = {"size": tuple(node.size), "mode": node.mode}
    if node.mode == "bilinear":
        kwargs["align_corners"] = node.align_corners
    return b.module(node.name, nn.Upsample(**kwargs), args)


LOWERINGS: dict[str, Lowering] = {
    "conv2d": lambda n, a, b: b.module(n.name, nn.Conv2d(n.in_channels, n.out_channels, n.kernel_size, n.stride,
                                                         n.padding, n.dilation, n.groups, n.bias), a),
    "linear": lambda n, a, b: b.module(n.name, nn.Linear(n.in_features, n.out_features, n.bias), a),
    "batchnorm": lambda n, a, b: b.module(n.name, (nn.BatchNorm1d if n.dims == 1 else nn.BatchNorm2d)(
        n.num_features, eps=n.eps, momentum=n.momentum, affine=n.affine), a),
    "maxpool2d": lambda n, a, b: b.module(n.name, nn.MaxPool2d(n.kernel_size, n.stride, n.padding,
                                                               ceil_mode=n.ceil_mode), a),
    "avgpool2d": lambda n, a, b: b.module(n.name, nn.AvgPool2d(n.kernel_size, n.stride, n.padding,
                                                               ceil_mode=n.ceil_mode), a),
    "adaptive_avgpool2d": lambda n, a, b: b.module(n.name, nn.AdaptiveAvgPool2d(n.output_size), a),
    "global_avgpool": _global_avgpool,
    "activation": lambda n, a, b: b.module(n.name, _ACTIVATIONS[n.function](n), a),
    "spike": lambda n, a, b: b.module(n.name, nn.ReLU(), a),  # graph outputs: nn.Identity (see graph_to_ann)
    "dropout": lambda n, a, b: b.module(n.name, nn.Dropout(n.p), a),
    "identity": lambda n, a, b: b.module(n.name, nn.Identity(), a),
    "flatten": lambda n, a, b: b.function(n.name, torch.flatten, (a[0], 1)),
    "reshape": lambda n, a, b: b.function(n.name, torch.reshape, (a[0], (-1, *n.target))),
    "slice": lambda n, a, b: b.function(n.name, torch.narrow, (a[0], n.dim, n.start, n.stop - n.start)),
    "add": _chain(operator.add),
    "multiply": _chain(operator.mul),
    "concat": lambda n, a, b: b.function(n.name, torch.cat, (tuple(a),), {"dim": n.dim}),
    "upsample": _upsample,
}
"""IR node kind → lowering. In the ann target a spike node is a ReLU module named after the node."""


def graph_to_ann(graph: Graph, lowerings: dict[str, Lowering] | None = None) -> fx.GraphModule:
    """Lower an IR graph to a ``torch.fx.GraphModule`` with freshly initialised weights (torch's defaults).

    Args:
        graph: a verified graph (from :func:`snnc.compiler.frontend.spec_to_graph`).
        lowerings: entries that override or extend :data:`LOWERINGS` for this call only.

    Returns:
        The module: input ``[B, *input_shape]`` → output ``[B, *output_shape]`` (a tuple if several outputs).

    Raises:
        UnsupportedError: a node kind with no lowering.
    """
    table = {**LOWERINGS, **(lowerings or {})}
    b = _Builder()
    env: dict[str, fx.Node] = {}
    for node in graph.nodes:
        if node.kind == "input":
            fx_node = b.graph.placeholder(node.name.replace(".", "_"))
        else:
            lower = table.get(node.kind)
            if lower is None:
                raise UnsupportedError(f"node '{node.name}': kind '{node.kind}' has no ann lowering "
                                       f"(supported: {', '.join(sorted(table))})")
            if node.kind == "spike" and node.name in graph.outputs and "spike" not in (lowerings or {}):
                fx_node = b.module(node.name, nn.Identity(), [env[i] for i in node.inputs])  # logits: see above
            else:
                fx_node = lower(node, [env[i] for i in node.inputs], b)
        fx_node.meta["snnc_node"] = node
        env[node.name] = fx_node
    outs = [env[o] for o in graph.outputs]
    b.graph.output(outs[0] if len(outs) == 1 else tuple(outs))
    b.graph.lint()
    gm = fx.GraphModule(b.root, b.graph, class_name=_class_name(graph.name))
    gm.meta["snnc_graph"] = graph
    return gm


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) or "Model"


def spike_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """The fx nodes of ``gm`` that are spike nodes (where a neuron fires), in graph order."""
    return [n for n in gm.graph.nodes if getattr(n.meta.get("snnc_node"), "kind", None) == "spike"
            and n.op == "call_module"]


class AnnTarget(Target):
    """The ``ann`` target: the spec's network as a plain module (spike nodes are ReLUs); takes no options."""

    name = "ann"
    description = "plain PyTorch module (torch.fx GraphModule); spike nodes are ReLUs"
    trainable = True
    ann_weights = True
    spike_roles = "ann"
    title = "ANN"

    def build(self, ann: fx.GraphModule, options, *, calibration=None, consume=False) -> fx.GraphModule:
        return ann

    def extras(self, module) -> dict:
        """Why: an ann trained with QCFS activations (``--method qcfs``) has a λ per site in its state dict;
        the artifact records ``{"qcfs": {"levels": L}}`` so that :meth:`skeleton` rebuilds that network."""
        from ..qcfs import qcfs_record

        record = qcfs_record(module)
        return {"qcfs": record} if record else {}

    def skeleton(self, ann: fx.GraphModule, options, extras=None) -> fx.GraphModule:
        """The spec's ann, with QCFS activations where the artifact records them (see :meth:`extras`)."""
        record = (extras or {}).get("qcfs")
        if record:
            from ..qcfs import apply_qcfs

            return apply_qcfs(ann, int(record["levels"]), inplace=True)
        return ann


TARGET = AnnTarget()
