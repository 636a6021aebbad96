"""Step 2 of the burst rewrite: fold batch-norm into the conv or linear layer before it.

In eval mode batch-norm is the per-channel affine map ``y = scale * x + shift`` with
``scale = gamma / sqrt(running_var + eps)`` and ``shift = beta - running_mean * scale``. Folded into the
preceding layer ``x = W * u + b``:

* ``W' = scale[o] * W``  (every weight feeding output channel ``o``)
* ``b' = scale * b + shift``

Grouped and depthwise convolutions need no special case (output channels are dim 0 of the weight, whatever
the groups); transposed convolutions keep ``[in, out / groups, ...]`` weights and are scaled per group. The
fused layer is a copy of the original, so ``groups``, ``dilation``, ``padding_mode`` etc. survive (BrainCog's
``mergeConvBN`` builds a fresh ``nn.Conv2d`` and drops ``groups``).

A batch-norm that follows anything else (an add, the input, a layer whose output is also used elsewhere)
stays in the graph as the affine map it is in eval mode.
"""

from __future__ import annotations

import copy

import torch
from torch import fx, nn

from .ops import SHAPE_KEY
from .sites import SiteNamer

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
# Layer type → the batch-norm type that may follow it.
FOLDABLE: dict[type, type] = {
    nn.Conv1d: nn.BatchNorm1d, nn.Conv2d: nn.BatchNorm2d, nn.Conv3d: nn.BatchNorm3d,
    nn.ConvTranspose1d: nn.BatchNorm1d, nn.ConvTranspose2d: nn.BatchNorm2d,
    nn.ConvTranspose3d: nn.BatchNorm3d, nn.Linear: nn.BatchNorm1d,
}


def _out_features(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def fold_bn_into(layer: nn.Module, bn: nn.modules.batchnorm._BatchNorm) -> nn.Module:
    """Return a copy of ``layer`` that computes ``bn(layer(x))`` (``bn`` in eval mode).

    Args:
        layer: a conv (any groups, transposed too) or linear layer.
        bn: the batch-norm after it, with running statistics.

    Returns:
        The fused layer (always with a bias).

    Raises:
        ValueError: the layer type cannot take a batch-norm, or the channel counts differ.
    """
    if type(layer) not in FOLDABLE:
        raise ValueError(f"cannot fold batch-norm into {type(layer).__name__}")
    out = _out_features(layer)
    if bn.num_features != out:
        raise ValueError(f"batch-norm has {bn.num_features} features, {type(layer).__name__} {out} outputs")
    with torch.no_grad():
        weight = layer.weight
        gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
        scale = gamma / torch.sqrt(bn.running_var + bn.eps)
        shift = beta - bn.running_mean * scale
        spatial = [1] * (weight.dim() - 2)
        if isinstance(layer, _TRANSPOSED):
            groups = layer.groups
            grouped = weight.reshape(groups, weight.shape[0] // groups, weight.shape[1], *weight.shape[2:])
            new_weight = (grouped * scale.reshape(groups, 1, weight.shape[1], *spatial)).reshape(weight.shape)
        else:
            new_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
        bias = layer.bias if layer.bias is not None else torch.zeros(out, dtype=weight.dtype,
                                                                         device=weight.device)
        new_bias = bias * scale + shift
    fused = copy.deepcopy(layer)
    fused.weight = nn.Parameter(new_weight.to(weight.dtype), requires_grad=weight.requires_grad)
    fused.bias = nn.Parameter(new_bias.to(weight.dtype), requires_grad=weight.requires_grad)
    return fused


def _rank(node: fx.Node) -> int | None:
    shape = node.meta.get(SHAPE_KEY)
    return None if shape is None else len(shape)


def fold_batch_norm(gm: fx.GraphModule) -> fx.GraphModule:
    """Fold each batch-norm whose input is a conv/linear layer used only by it.

    A layer module called at one site is replaced in place (its name stays); one called at several sites
    keeps serving the others, and the fused copy gets a fresh name. Linear + BatchNorm1d is folded only for
    ``[B, features]`` outputs (on ``[B, L, features]`` BatchNorm1d normalises dim 1, not the features).

    Args:
        gm: the private graph module (modified).

    Returns:
        ``gm``.
    """
    modules = dict(gm.named_modules())
    namer = SiteNamer(gm)
    for node in list(gm.graph.nodes):
        bn = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_mean is None:
            continue
        producer = node.args[0]
        if not isinstance(producer, fx.Node) or producer.op != "call_module" or len(producer.users) != 1:
            continue
        layer = modules.get(producer.target)
        if type(layer) not in FOLDABLE or type(bn) is not FOLDABLE[type(layer)]:
            continue
        if bn.num_features != _out_features(layer):
            continue
        if isinstance(layer, nn.Linear) and _rank(producer) not in (None, 2):
            continue
        name = namer.name(producer)
        gm.add_submodule(name, fold_bn_into(layer, bn))
        modules[name] = gm.get_submodule(name)
        producer.target = name
        node.replace_all_uses_with(producer)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm
