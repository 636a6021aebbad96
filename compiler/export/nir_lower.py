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


def _linear(node, snn, shapes):
    nir = load_nir()
    layer = snn.get_submodule(node.name)
    if layer.bias is None:
        return nir.Linear(weight=_arr(layer.weight))
    return nir.Affine(weight=_arr(layer.weight), bias=_arr(layer.bias))


def _conv2d(node, snn, shapes):
    nir = load_nir()
    layer = snn.get_submodule(node.name)
    bias = layer.bias if layer.bias is not None else np.zeros(layer.out_channels, dtype=np.float32)
    return nir.Conv2d(input_shape=tuple(shapes[node.inputs[0]][1:]), weight=_arr(layer.weight),
                      stride=tuple(node.stride), padding=tuple(node.padding), dilation=tuple(node.dilation),
                      groups=node.groups, bias=_arr(bias))


def _avgpool2d(node, snn, shapes):
    return load_nir().AvgPool2d(kernel_size=np.array(node.kernel_size), stride=np.array(node.stride),
                            padding=np.array(node.padding))


def _flatten(node, snn, shapes):
    return load_nir().Flatten(input_type={"input": np.array(shapes[node.inputs[0]])}, start_dim=0, end_dim=-1)


def _spike(node, snn, shapes):
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
    "flatten": _flatten,
    "spike": _spike,
    "dropout": None,
    "identity": None,
}
"""IR node kind → ``fn(node, snn, shapes) -> NIR node`` (None: dropped at inference; input/output are built in).
Only nodes that :func:`nir_blockers` passes reach it."""
