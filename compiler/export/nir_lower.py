"""snnc → NIR, node by node: one table from IR node kind to NIR node (:data:`TO_NIR`).

Weights, decays and thresholds are read from the spec-built snn module, so trained values travel. Time
constants follow snnTorch's NIR convention (``dt = 1e-4``, :data:`DT`): ``leaky`` (``U[t] = beta * U[t-1] +
I[t]``) becomes ``LIF`` with ``tau = dt / (1 - beta)``, ``r = tau / dt``, ``v_leak = 0``; ``if`` becomes ``IF``
with ``r = 1``; both reset to ``v_reset = 0``. Only nodes that :func:`~.nir_blockers.nir_blockers` passes reach
the table; the graph walk is :func:`~.nir.snn_to_nir`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..errors import BackendUnavailable

DT = 1e-4
"""The time step that converts decays to NIR time constants (snnTorch's choice in ``export_nir.py``)."""


def load_nir():
    """The ``nir`` package, or :class:`BackendUnavailable` with the install command."""
    try:
        import nir
    except ImportError as error:  # pragma: no cover - a dependency of snnc
        raise BackendUnavailable("NIR export needs the nir package: pip install 'nir>=1.0'") from error
    return nir


def node_key(name: str) -> str:
    """A NIR node key for an snnc node name (dots become underscores: nirtorch makes modules of them)."""
    return name.replace(".", "_")


def _arr(value: Any) -> np.ndarray:
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float32)


def fold_batchnorm(layer: Any, bn: Any = None, scale: float = 1.0) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The weight and bias of a conv2d or linear ``layer`` with the eval-mode batch-norm ``bn`` after it folded in
    (``y = (Wx + b - mean) / sqrt(var + eps) * gamma + beta``), the weight times ``scale`` (a SumPool2d's
    ``1/k`` before it). Why float64, then float32: the fold is exact arithmetic rounded once.

    Returns:
        ``(weight, bias)`` as float32 arrays; the bias is None without batch-norm and without a bias.
    """
    weight = layer.weight.detach().double()
    bias = layer.bias.detach().double() if layer.bias is not None else None
    if bn is not None:
        gain = (bn.running_var.detach().double() + bn.eps).rsqrt()
        if bn.weight is not None:
            gain = gain * bn.weight.detach().double()
        shift = -bn.running_mean.detach().double() * gain + (bn.bias.detach().double() if bn.bias is not None else 0)
        weight = weight * gain.reshape(-1, *[1] * (weight.dim() - 1))
        bias = shift + (bias * gain if bias is not None else 0)
    weight = _arr(weight.float()) * np.float32(scale)  # a power of two: exact
    return weight, (_arr(bias.float()) if bias is not None else None)


def _weights(node, snn, ctx):
    bn = next((snn.get_submodule(b) for b, into in ctx.plan.folded.items() if into == node.name), None)
    return fold_batchnorm(snn.get_submodule(node.name), bn, ctx.plan.scales.get(node.name, 1.0))


def _linear(node, snn, ctx):
    nir = load_nir()
    weight, bias = _weights(node, snn, ctx)
    return nir.Linear(weight=weight) if bias is None else nir.Affine(weight=weight, bias=bias)


def _conv2d(node, snn, ctx):
    nir = load_nir()
    weight, bias = _weights(node, snn, ctx)
    bias = bias if bias is not None else np.zeros(weight.shape[0], dtype=np.float32)
    return nir.Conv2d(input_shape=tuple(ctx.shapes[node.inputs[0]][1:]), weight=weight, stride=tuple(node.stride),
                      padding=tuple(node.padding), dilation=tuple(node.dilation), groups=node.groups, bias=bias)


def _pool(node, ctx, kernel, stride, padding):
    pool = load_nir().SumPool2d if node.name in ctx.plan.sum_pools else load_nir().AvgPool2d
    return pool(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))


def _avgpool2d(node, snn, ctx):
    return _pool(node, ctx, node.kernel_size, node.stride, node.padding)


def _global_avgpool(node, snn, ctx):
    """A pool over the whole map, then a Flatten: ``[C, H, W] → [C, 1, 1] → [C]``."""
    c, h, w = ctx.shapes[node.inputs[0]]
    flat = load_nir().Flatten(input_type={"input": np.array([c, 1, 1])}, start_dim=0, end_dim=-1)
    return [("", _pool(node, ctx, (h, w), (h, w), (0, 0))), ("_flatten", flat)]


def _flatten(node, snn, ctx):
    return load_nir().Flatten(input_type={"input": np.array(ctx.shapes[node.inputs[0]])}, start_dim=0, end_dim=-1)


def _spike(node, snn, ctx):
    nir = load_nir()
    beta, _, threshold = snn.get_submodule(node.name).coefficients()
    shape = tuple(node.shape)
    thr = np.full(shape, float(threshold), dtype=np.float32)
    zeros = np.zeros(shape, dtype=np.float32)
    if node.neuron.model == "if" or float(beta) == 1.0:
        return nir.IF(r=np.ones(shape, dtype=np.float32), v_threshold=thr, v_reset=zeros)
    tau = np.full(shape, DT / (1.0 - float(beta)), dtype=np.float32)
    return nir.LIF(tau=tau, r=tau / DT, v_leak=zeros, v_threshold=thr, v_reset=zeros)


TO_NIR: dict[str, Optional[Callable]] = {
    "linear": _linear,
    "conv2d": _conv2d,
    "avgpool2d": _avgpool2d,
    "global_avgpool": _global_avgpool,
    "flatten": _flatten,
    "spike": _spike,
    "dropout": None,
    "identity": None,
}
"""IR node kind → ``fn(node, snn, ctx) -> NIR node`` or ``[(key suffix, NIR node), ...]`` (a chain), where
``ctx`` has the graph's ``shapes`` and the :class:`~.nir_blockers.Plan` (``plan``); None: dropped at inference.
``batchnorm`` folds into the layer before it and ``add`` becomes edges (the plan), input/output are built in.
Only nodes that :func:`~.nir_blockers.nir_plan` passes reach it."""
