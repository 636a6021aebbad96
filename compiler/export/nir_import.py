"""NIR → snnc: a NIR graph becomes a snnc spec and a weights artifact that ``snnc.load`` reads.

:func:`nir_to_spec` converts node by node with one table from NIR node type to converter (:data:`FROM_NIR`),
the inverse of :data:`~.nir_lower.TO_NIR`, over the order :func:`~.nir_graph_import.feed_forward` gives; a node
with several incoming edges (NIR's sum: a residual connection) gets a spec ``add`` layer in front of it and a
skip connection an ``inputs`` entry. Types snnc cannot express are refused with the reason
(:data:`NO_COUNTERPART`). :func:`import_nir` reads the file, checks that the spec compiles and the weights fit
it, and writes both. Time constants are read with snnTorch's convention (``dt``, default
:data:`~.nir_lower.DT`): a gain ``w = r * dt / tau`` other than 1 (``r`` for IF) divides the threshold (the same
spikes, the membrane in other units). NIR's ``CubaLIF`` is refused: it integrates the synaptic current after
the reset, snnc's synaptic neuron clears it, so the spikes would differ."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import UnsupportedError
from .nir_graph_import import feed_forward, fold_sum_pools, spec_text
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
    return [int(value), int(value)] if np.ndim(value) == 0 else [int(i) for i in np.ravel(value)]


def _compact(layer: dict, defaults: dict[str, Any]) -> dict:
    """Write pairs of equal numbers as one (``kernel_size: 3``) and leave out values equal to the spec's
    default (``stride: 1``): the imported spec reads like a written one and means the same."""
    out = {}
    for key, value in layer.items():
        if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if key in defaults and value == defaults[key]:
            continue
        out[key] = value
    return out


def _from_conv2d(key: str, node, name: str, dt: float) -> Converted:
    w = np.asarray(node.weight, dtype=np.float32)
    if isinstance(node.padding, str):
        raise UnsupportedError(f"NIR node '{key}' (Conv2d): padding '{node.padding}'; give it in pixels")
    layer = {"name": name, "kind": "conv2d", "out_channels": int(w.shape[0]),
             "kernel_size": [int(w.shape[2]), int(w.shape[3])], "stride": _pair(node.stride),
             "padding": _pair(node.padding), "dilation": _pair(node.dilation), "groups": int(node.groups)}
    layer = _compact(layer, {"stride": 1, "padding": 0, "dilation": 1, "groups": 1})
    return layer, {f"{name}.weight": _tensor(w), f"{name}.bias": _tensor(node.bias)}


def _from_avgpool2d(key: str, node, name: str, dt: float) -> Converted:
    kernel = _pair(node.kernel_size)
    layer = {"name": name, "kind": "avgpool2d", "kernel_size": kernel, "stride": _pair(node.stride),
             "padding": _pair(node.padding)}
    return _compact(layer, {"stride": kernel[0] if kernel[0] == kernel[1] else kernel, "padding": 0}), {}


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

NO_COUNTERPART: dict[str, str] = {
    "Scale": "snnc has no layer that multiplies by a constant (a Scale of 1 / kernel area right after a "
             "SumPool2d is read as avgpool2d; fold other scales into the weights of the layer before)",
    "SumPool2d": "snnc pools by averaging; a SumPool2d is read as avgpool2d when a Scale of 1 / kernel area "
                 "follows it, or when only conv2d / linear nodes read it and its area is a power of two (their "
                 "weights take the area, exactly)",
    "Delay": "snnc layers have no synaptic delays (every edge takes effect in the same time step)",
    "Threshold": "a stateless threshold; snnc's spiking layers are neurons with a membrane (LIF or IF)",
    "LI": "a non-spiking leaky integrator; snnc layers that keep state spike (LIF or IF)",
    "CubaLI": "a non-spiking current-based integrator; snnc layers that keep state spike (LIF or IF)",
    "I": "a non-spiking integrator; snnc layers that keep state spike (LIF or IF)",
    "Conv1d": "snnc has 2-D convolutions only",
}
"""NIR node types snnc refuses, with the reason the error gives."""


def _converter(key: str, node) -> Callable[[str, Any, str, float], Converted]:
    nir = load_nir()
    for type_name, convert in FROM_NIR.items():
        if isinstance(node, getattr(nir, type_name)):
            return convert
    kind = type(node).__name__
    why = NO_COUNTERPART.get(kind, "it is not a node type snnc reads")
    raise UnsupportedError(f"NIR node '{key}' ({kind}) has no snnc counterpart: {why}. snnc imports Affine, "
                           "Linear, Conv2d, AvgPool2d (or SumPool2d + Scale), Flatten, LIF and IF, joined by edges "
                           "(several edges into a node: their sum)")


# --- the graph ----------------------------------------------------------------------------------------------


def _layer_name(key: str, used: set[str]) -> str:
    """A spec layer name for a NIR key: an identifier, unique among ``used`` (which it joins)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    if not re.match(r"[A-Za-z_]", name):
        name = f"n_{name}"
    while name in used:
        name += "_"
    used.add(name)
    return name


def _with_inputs(layer: dict, inputs: list[str]) -> dict:
    """``layer`` with ``inputs`` right after its kind (where a reader looks for the wiring)."""
    head = {k: layer[k] for k in ("name", "kind")}
    return {**head, "inputs": inputs, **{k: v for k, v in layer.items() if k not in head}}


def _layers(nodes: dict, order: list[str], pred: dict[str, list[str]], input_key: str, dt: float) -> Converted:
    """Spec layers for the ordered nodes: a node fed by several edges gets an ``add`` layer (``<name>_add``)
    in front of it; ``inputs`` is written only where a layer's input is not the layer before it."""
    nir = load_nir()
    used = {INPUT_NAME}
    names = {input_key: INPUT_NAME}
    layers: list[dict] = []
    weights: dict[str, Any] = {}
    previous = INPUT_NAME
    for key in order:
        node = nodes[key]
        sources = [names[p] for p in pred[key]]
        if isinstance(node, nir.Output) and len(sources) == 1:
            break  # the output is the last layer: post-order puts its only predecessor right before it
        lname = _layer_name(key, used)
        if len(sources) > 1:
            add = _layer_name(f"{lname}_add", used)
            layers.append(_with_inputs({"name": add, "kind": "add"}, sources))
            sources, previous = [add], add
        if isinstance(node, nir.Output):
            break
        layer, found = _converter(key, node)(key, node, lname, dt)
        layers.append(layer if sources == [previous] else _with_inputs(layer, sources))
        weights.update(found)
        names[key] = previous = lname
    return layers, weights


def _neuron_sections(layers: list[dict]) -> dict:
    """The spec-wide neuron (the one most spike layers have); each spike layer keeps only what differs."""
    found = [tuple(layer["neuron"].items()) for layer in layers if layer["kind"] == "spike"]
    if not found:
        return {"model": "leaky"}
    common = max(set(found), key=lambda n: (found.count(n), -found.index(n)))
    default = dict(common)
    for layer in layers:
        if layer["kind"] == "spike":
            own = {k: v for k, v in layer.pop("neuron").items() if default.get(k) != v}
            if own:
                layer["neuron"] = own
    return default


INPUT_NAME = "input"
"""How imported layers refer to the network input (the spec's ``input.name`` default)."""


def nir_to_spec(graph: Any, name: str = "imported", *, timesteps: int = 25, dt: float = DT) -> tuple[dict, dict]:
    """Turn a NIR graph into snnc spec data and the weights of its layers.

    Args:
        graph: a ``nir.NIRGraph`` (e.g. ``nir.read(path)``) with one input and one output; a node with several
            incoming edges (a residual sum) becomes an ``add`` layer in front of it, a skip connection an
            ``inputs`` entry naming the earlier layer.
        name: the spec's name.
        timesteps: ``T`` of the spec (NIR graphs carry no number of steps).
        dt: the time step of the NIR time constants (default :data:`DT`, snnTorch's).

    Returns:
        ``(spec data, state dict)``: the spec as a dict (dump it as YAML) and the weights keyed as the snn
        target names them (``fc1.weight``).

    Raises:
        UnsupportedError: a node snnc cannot express (named, with why), a graph that is not feed-forward from
            one input to one output (see :func:`~.nir_graph_import.feed_forward`), or neurons with per-neuron
            parameters.
    """
    nodes, edges = fold_sum_pools(graph.nodes, graph.edges)
    input_key, order, pred = feed_forward(nodes, edges)  # first: a structural cause reads better than its types
    try:
        graph.infer_types()
    except (ValueError, KeyError, TypeError) as error:  # nir's type inference raises these for bad graphs
        raise UnsupportedError(f"the NIR graph's shapes do not fit together ({error}); snnc needs the shape "
                               "of every node") from error
    layers, weights = _layers(nodes, order, pred, input_key, dt)
    if not layers:
        raise UnsupportedError(f"the NIR graph connects its input '{input_key}' straight to its output; a spec "
                               "needs at least one layer")
    neuron = _neuron_sections(layers)
    out_shape = _shape(nodes[order[-1]].output_type)
    spec = {
        "name": name,
        "input": {"shape": _shape(graph.nodes[input_key].output_type), "range": [0.0, 1.0]},
        "task": {"kind": "classification", "classes": int(np.prod(out_shape)) if out_shape else 10},
        "timesteps": int(timesteps),
        "neuron": {**neuron, "surrogate": "atan", "slope": 2.0},
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
    from ..artifact import atomic_write_bytes
    from ..pipeline import compile as snnc_compile
    from ..pipeline import save

    graph = _read(path)
    spec, state = nir_to_spec(graph, name or _layer_name(Path(path).stem, set()), timesteps=timesteps, dt=dt)
    output = Path(output)
    weights = Path(weights) if weights is not None else output.with_suffix(".pt")
    text = spec_text(spec, _header(Path(path).name, graph, spec, weights.name, dt))
    module = snnc_compile(text, "snn")
    missing = module.load_state_dict(state, strict=False)
    if missing.unexpected_keys or any(k.endswith(("weight", "bias")) for k in missing.missing_keys):
        from ..errors import InternalError

        raise InternalError(f"imported weights do not fit the spec: {missing}")
    atomic_write_bytes(output, text.encode("utf-8"))
    save(module, weights)
    return output, weights


def _read(path: str | Path) -> Any:
    """``nir.read(path)``; a graph whose types do not check is read again without the check so that a
    structural cause (snnTorch's cut residual: two inputs) is named before the type mismatch it causes.

    Raises:
        UnsupportedError: the structural cause. DataError: not NIR, or its shapes do not fit together.
    """
    from ..errors import DataError

    nir = load_nir()
    try:
        return nir.read(str(path))
    except Exception as error:  # noqa: BLE001 - h5py and nir raise many kinds
        failure = DataError(f"{path}: not a readable NIR file ({type(error).__name__}: {error})")
        try:
            loose = nir.read(str(path), type_check=False)
        except Exception:  # noqa: BLE001 - not NIR at all: the first error says why
            raise failure from error
        feed_forward(*fold_sum_pools(loose.nodes, loose.edges))
        raise failure from error


def _header(source: str, graph: Any, spec: dict, weights: str, dt: float) -> list[str]:
    """The comment block of an imported spec: where it came from and how its numbers were read."""
    adds = sum(layer["kind"] == "add" for layer in spec["layers"])
    return [f"Imported from {source} by snnc import: {len(graph.nodes)} NIR nodes, {len(graph.edges)} edges "
            f"-> {len(spec['layers'])} layers" + (f" ({adds} add for nodes fed by several edges)" if adds else ""),
            f"Time constants read at dt = {dt:g}: beta = 1 - dt / tau; thresholds divided by r * dt / tau.",
            f"The weights are in {weights} (snnc.load or --checkpoint); NIR has no time steps, no encoding and",
            "no training recipe, so timesteps, encoding, decoding and surrogate are snnc's defaults: edit them."]
