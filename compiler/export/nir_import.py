"""NIR → snnc: a NIR graph becomes a snnc spec and a weights artifact that ``snnc.load`` reads.

:func:`nir_to_spec` walks a chain of NIR nodes with one table from NIR node type to converter
(:data:`FROM_NIR`), the inverse of :data:`~.nir_lower.TO_NIR`; :func:`import_nir` reads the file, checks that the
spec compiles and the weights fit it, and writes both. Time constants are read with snnTorch's convention
(``dt``, default :data:`~.nir_lower.DT`): a gain ``w = r * dt / tau`` other than 1 (``r`` for IF) divides the
threshold (the same spikes, the membrane in other units). NIR's ``CubaLIF`` is refused: it integrates the
synaptic current after the reset, snnc's synaptic neuron clears it, so the spikes would differ.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import UnsupportedError
from .nir_lower import DT, load_nir

Converted = tuple[dict, dict[str, Any]]
"""A converted NIR node: ``(spec layer, weights keyed as the snn target names them)``."""


def _uniform(node_key: str, what: str, value: np.ndarray) -> float:
    flat = np.unique(np.asarray(value, dtype=np.float64))
    if flat.size != 1:
        raise UnsupportedError(f"NIR node '{node_key}': {what} differs between neurons ({flat.size} values); snnc "
                               "neuron layers have one value per layer")
    return float(flat[0])


def _f32(value: float) -> float:
    """The shortest decimal that gives the same float32 (``0.95``, not ``0.9499999907``)."""
    return float(np.format_float_positional(np.float32(value), unique=True))


def _neuron(key: str, node, dt: float) -> dict:
    nir = load_nir()
    if not np.allclose(getattr(node, "v_reset", 0.0), 0.0):
        raise UnsupportedError(f"NIR node '{key}': v_reset other than 0 has no snnc counterpart (reset: zero)")
    if isinstance(node, nir.IF):
        r = _uniform(key, "r", node.r)
        return {"model": "if", "threshold": _f32(_uniform(key, "v_threshold", node.v_threshold) / r), "reset": "zero"}
    if not np.allclose(node.v_leak, 0.0):
        raise UnsupportedError(f"NIR node '{key}': v_leak other than 0 has no snnc counterpart")
    tau = _uniform(key, "tau", node.tau)
    gain = _uniform(key, "r * dt / tau", node.r * dt / node.tau)
    return {"model": "leaky", "beta": _f32(1.0 - dt / tau),
            "threshold": _f32(_uniform(key, "v_threshold", node.v_threshold) / gain), "reset": "zero"}


def _shape(value) -> list[int]:
    if isinstance(value, dict):
        value = next(iter(value.values()))
    return [int(v) for v in np.asarray(value).tolist()]


def _tensor(value: Any):
    """A float32 torch tensor of its own (NIR arrays may be views of the file's buffers)."""
    import torch

    return torch.from_numpy(np.asarray(value, dtype=np.float32).copy())


# --- one converter per NIR node type ------------------------------------------------------------------------


def _from_linear(key: str, node, name: str, dt: float) -> Converted:
    """``Affine`` (with bias) and ``Linear`` (``bias: false``) → ``kind: linear``."""
    w = np.asarray(node.weight, dtype=np.float32)
    layer = {"name": name, "kind": "linear", "in_features": int(w.shape[1]), "out_features": int(w.shape[0])}
    weights = {f"{name}.weight": _tensor(w)}
    if isinstance(node, load_nir().Affine):
        weights[f"{name}.bias"] = _tensor(node.bias)
    else:
        layer["bias"] = False
    return layer, weights


def _pair(value) -> list[int]:
    return [int(value), int(value)] if np.ndim(value) == 0 else [int(i) for i in value]


def _from_conv2d(key: str, node, name: str, dt: float) -> Converted:
    w = np.asarray(node.weight, dtype=np.float32)
    if isinstance(node.padding, str):
        raise UnsupportedError(f"NIR node '{key}' (Conv2d): padding '{node.padding}'; give it in pixels")
    layer = {"name": name, "kind": "conv2d", "out_channels": int(w.shape[0]),
             "kernel_size": [int(w.shape[2]), int(w.shape[3])], "stride": _pair(node.stride),
             "padding": _pair(node.padding), "dilation": _pair(node.dilation), "groups": int(node.groups)}
    return layer, {f"{name}.weight": _tensor(w), f"{name}.bias": _tensor(node.bias)}


def _from_avgpool2d(key: str, node, name: str, dt: float) -> Converted:
    return {"name": name, "kind": "avgpool2d", "kernel_size": [int(v) for v in np.ravel(node.kernel_size)],
            "stride": [int(v) for v in np.ravel(node.stride)],
            "padding": [int(v) for v in np.ravel(node.padding)]}, {}


def _from_flatten(key: str, node, name: str, dt: float) -> Converted:
    if node.start_dim not in (0,) or node.end_dim != -1:
        raise UnsupportedError(f"NIR node '{key}' (Flatten): dims {node.start_dim}..{node.end_dim}; snnc "
                               "flattens every dimension of a sample")
    return {"name": name, "kind": "flatten"}, {}


def _from_neuron(key: str, node, name: str, dt: float) -> Converted:
    """``LIF`` and ``IF`` → ``kind: spike`` with the neuron's parameters (see :func:`_neuron`)."""
    return {"name": name, "kind": "spike", "neuron": _neuron(key, node, dt)}, {}


def _refuse_cubalif(key: str, node, name: str, dt: float) -> Converted:
    raise UnsupportedError(f"NIR node '{key}' (CubaLIF): NIR's CubaLIF integrates the synaptic current after "
                           "the reset, snnc's synaptic neuron clears it; the spikes would differ, so it is "
                           "not imported (docs/export.md)")


FROM_NIR: dict[str, Callable[[str, Any, str, float], Converted]] = {
    "Affine": _from_linear,
    "Linear": _from_linear,
    "Conv2d": _from_conv2d,
    "AvgPool2d": _from_avgpool2d,
    "Flatten": _from_flatten,
    "LIF": _from_neuron,
    "IF": _from_neuron,
    "CubaLIF": _refuse_cubalif,
}
"""NIR node type (a ``nir`` class name) → ``fn(key, node, layer name, dt) -> (spec layer, weights)``."""


def _converter(key: str, node) -> Callable[[str, Any, str, float], Converted]:
    nir = load_nir()
    for type_name, convert in FROM_NIR.items():
        if isinstance(node, getattr(nir, type_name)):
            return convert
    raise UnsupportedError(f"NIR node '{key}' ({type(node).__name__}) has no snnc counterpart; snnc imports "
                           "Affine, Linear, Conv2d, AvgPool2d, Flatten, LIF and IF")


# --- the graph ----------------------------------------------------------------------------------------------


def _chain(graph: Any) -> tuple[str, list[str]]:
    """The input node's key and the keys after it, in order (the output last).

    Raises:
        UnsupportedError: not one input node, or a node that branches or merges.
    """
    nir = load_nir()
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise UnsupportedError(f"the NIR graph has {len(inputs)} input nodes; snnc imports graphs with one")
    order, key = [], inputs[0]
    while True:
        nxt = succ.get(key, [])
        if len(nxt) > 1 or len(pred.get(key, [])) > 1:
            raise UnsupportedError(f"NIR node '{key}' branches or merges; snnc imports chains of nodes (a recurrent "
                                   "or residual NIR graph is not imported yet)")
        if not nxt:
            break
        key = nxt[0]
        order.append(key)
    return inputs[0], order


def _layer_name(key: str, used: set[str]) -> str:
    """A spec layer name for a NIR key: an identifier, unique among ``used`` (which it joins)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    if not re.match(r"[A-Za-z_]", name):
        name = f"n_{name}"
    while name in used:
        name += "_"
    used.add(name)
    return name


def nir_to_spec(graph: Any, name: str = "imported", *, timesteps: int = 25, dt: float = DT) -> tuple[dict, dict]:
    """Turn a NIR graph into snnc spec data and the weights of its layers.

    Args:
        graph: a ``nir.NIRGraph`` (e.g. ``nir.read(path)``) with one input and one output, a chain of nodes.
        name: the spec's name.
        timesteps: ``T`` of the spec (NIR graphs carry no number of steps).
        dt: the time step of the NIR time constants (default :data:`DT`, snnTorch's).

    Returns:
        ``(spec data, state dict)``: the spec as a dict (dump it as YAML) and the weights keyed as the snn
        target names them (``fc1.weight``).

    Raises:
        UnsupportedError: a node snnc cannot express (named), fan-in or fan-out, or neurons with per-neuron
            parameters.
    """
    nir = load_nir()
    graph.infer_types()
    input_key, order = _chain(graph)
    layers: list[dict] = []
    weights: dict[str, Any] = {}
    used: set[str] = set()
    for key in order:
        node = graph.nodes[key]
        lname = _layer_name(key, used)
        if isinstance(node, nir.Output):
            break
        layer, found = _converter(key, node)(key, node, lname, dt)
        layers.append(layer)
        weights.update(found)
    # Why the first neuron's parameters: the spec's neuron section is every layer's default.
    neuron_default = next((layer["neuron"] for layer in layers if layer["kind"] == "spike"), {"model": "leaky"})
    out_shape = _shape(graph.nodes[order[-1]].output_type) if order else []
    spec = {
        "name": name,
        "input": {"shape": _shape(graph.nodes[input_key].output_type), "range": [0.0, 1.0]},
        "task": {"kind": "classification", "classes": int(np.prod(out_shape)) if out_shape else 10},
        "timesteps": int(timesteps),
        "neuron": {**neuron_default, "surrogate": "atan", "slope": 2.0},
        "encoding": "direct",
        "decoding": "rate",
        "layers": layers,
    }
    return spec, weights


def import_nir(path: str | Path, output: str | Path, *, weights: Optional[str | Path] = None,
               name: Optional[str] = None, timesteps: int = 25, dt: float = DT) -> tuple[Path, Path]:
    """Read a NIR file and write a snnc spec (YAML) and its weights (an artifact ``snnc.load`` reads).

    Args:
        path: the ``.nir`` file.
        output: the spec file to write.
        weights: the weights artifact (default: the spec path with ``.pt``).
        name: the spec's name (default: the file's stem).
        timesteps: ``T`` of the spec.
        dt: the time step of the NIR time constants.

    Returns:
        ``(spec path, weights path)``.

    Raises:
        UnsupportedError: see :func:`nir_to_spec`. SpecError: the result does not validate (a bug).
        DataError: the file cannot be read as NIR.
    """
    import yaml

    from ..artifact import atomic_write_bytes
    from ..errors import DataError
    from ..pipeline import compile as snnc_compile
    from ..pipeline import save

    nir = load_nir()
    try:
        graph = nir.read(str(path))
    except Exception as error:  # noqa: BLE001 - h5py and nir raise many kinds
        raise DataError(f"{path}: not a readable NIR file ({type(error).__name__}: {error})") from error
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(path).stem)
    spec, state = nir_to_spec(graph, name or stem, timesteps=timesteps, dt=dt)
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)
    module = snnc_compile(text, "snn")
    missing = module.load_state_dict(state, strict=False)
    if missing.unexpected_keys or any(k.endswith(("weight", "bias")) for k in missing.missing_keys):
        from ..errors import InternalError

        raise InternalError(f"imported weights do not fit the spec: {missing}")
    output = Path(output)
    weights = Path(weights) if weights is not None else output.with_suffix(".pt")
    atomic_write_bytes(output, (f"# imported from {Path(path).name} by snnc import\n" + text).encode("utf-8"))
    save(module, weights)
    return output, weights
