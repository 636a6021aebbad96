"""NIR (the Neuromorphic Intermediate Representation, ``nir`` 1.0) export of the snn target, and import.

Export walks the IR graph of a spec-built :class:`SpikingModule` with one table from node kind to NIR node
(:data:`TO_NIR`); weights, decays and thresholds are read from the module, so trained values travel. Import
(:func:`nir_to_spec`) walks a NIR graph with the inverse table (:data:`FROM_NIR`) and writes a snnc spec plus
a weights artifact that ``snnc.load`` reads.

Time constants follow snnTorch's NIR convention (``dt = 1e-4``, :data:`DT`), so that files interoperate with
snnTorch's ``export_to_nir`` / ``import_from_nir``:

* ``leaky`` (``U[t] = beta * U[t-1] + I[t]``) ↔ ``LIF`` with ``tau = dt / (1 - beta)``, ``r = tau / dt``,
  ``v_leak = 0``; ``if`` ↔ ``IF`` with ``r = 1``. On import a gain ``w = r * dt / tau`` other than 1 (``r``
  for IF) divides the threshold (the same spikes, the membrane in other units).
* resets: NIR neurons reset the membrane to ``v_reset`` after a spike, which is snnc's ``reset: zero`` with
  ``v_reset = 0``. snnc's ``subtract`` and ``none`` have no NIR counterpart and are refused.
* ``synaptic`` / ``CubaLIF``: refused both ways. snnc's synaptic neuron (snnTorch ``Synaptic`` with
  ``reset_delay=True``) clears the membrane *after* adding the synaptic current of the step that follows a
  spike; NIR's CubaLIF resets to ``v_reset`` and then integrates it. The spikes differ (605 of 662 in a test
  of 30 steps), so a silent mapping would be wrong.
* ``linear`` ↔ ``Affine`` / ``Linear``; ``conv2d`` ↔ ``Conv2d``; ``avgpool2d`` ↔ ``AvgPool2d``; ``flatten`` ↔
  ``Flatten``; ``dropout`` and ``identity`` are dropped (inference). ``maxpool2d`` has no NIR node: the error
  suggests average pooling.

What NIR cannot express is found in one pass (:func:`nir_blockers`, a table from node kind to check,
:data:`BLOCKERS`) before anything is built, and refused in one error that names every blocking node, grouped by
cause, each cause with the spec change that lifts it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ..errors import BackendUnavailable, Blocker, UnsupportedError, blocked

DT = 1e-4
"""The time step that converts decays to NIR time constants (snnTorch's choice in ``export_nir.py``)."""


def _nir():
    try:
        import nir
    except ImportError as error:  # pragma: no cover - a dependency of snnc
        raise BackendUnavailable("NIR export needs the nir package: pip install 'nir>=1.0'") from error
    return nir


def _key(name: str) -> str:
    """A NIR node key for an snnc node name (dots become underscores: nirtorch makes modules of them)."""
    return name.replace(".", "_")


# --- snnc -> NIR ------------------------------------------------------------------------------------------


def _arr(value: Any) -> np.ndarray:
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float32)


def _linear(node, snn, shapes):
    nir = _nir()
    layer = snn.get_submodule(node.name)
    if layer.bias is None:
        return nir.Linear(weight=_arr(layer.weight))
    return nir.Affine(weight=_arr(layer.weight), bias=_arr(layer.bias))


def _conv2d(node, snn, shapes):
    nir = _nir()
    layer = snn.get_submodule(node.name)
    bias = layer.bias if layer.bias is not None else np.zeros(layer.out_channels, dtype=np.float32)
    return nir.Conv2d(input_shape=tuple(shapes[node.inputs[0]][1:]), weight=_arr(layer.weight),
                      stride=tuple(node.stride), padding=tuple(node.padding), dilation=tuple(node.dilation),
                      groups=node.groups, bias=_arr(bias))


def _avgpool2d(node, snn, shapes):
    return _nir().AvgPool2d(kernel_size=np.array(node.kernel_size), stride=np.array(node.stride),
                            padding=np.array(node.padding))


def _flatten(node, snn, shapes):
    return _nir().Flatten(input_type={"input": np.array(shapes[node.inputs[0]])}, start_dim=0, end_dim=-1)


def _spike(node, snn, shapes):
    nir = _nir()
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


# --- what keeps a graph from NIR ----------------------------------------------------------------------------

Shapes = dict[str, tuple[int, ...]]


def _blocker(node, reason: str, fix: str, op: str = "") -> list[Blocker]:
    return [Blocker(node.name, op or node.kind, reason, fix)]


def _refused(reason: str, fix: str) -> Callable[[Any, Shapes], list[Blocker]]:
    """A check that refuses every node of its kind with the same reason and fix."""

    def check(node, shapes):
        return _blocker(node, reason, fix)

    return check


def _check_avgpool2d(node, shapes):
    if not node.ceil_mode:
        return []
    return _blocker(node, "NIR's AvgPool2d has no ceil mode", "ceil_mode: false", "avgpool2d (ceil_mode: true)")


def _check_spike(node, shapes):
    p, found = node.neuron, []
    if p.reset != "zero":
        found += _blocker(node, "NIR neurons reset the membrane to v_reset after a spike, which is snnc's reset: "
                          "zero", "neuron: {reset: zero} (the spec's neuron section, or this layer's), and retrain",
                          f"spike (reset: {p.reset})")
    if p.model == "synaptic":
        found += _blocker(node, "NIR's CubaLIF integrates the next step's synaptic current after the reset, snnc's "
                          "synaptic neuron clears it: the spikes would differ", "neuron: {model: leaky} (or if)",
                          "spike (model: synaptic)")
    return found


def _check_global_avgpool(node, shapes):
    _, h, w = shapes[node.inputs[0]]
    return _blocker(node, "NIR has no global pooling",
                    f"kind: avgpool2d with kernel_size: [{h}, {w}], then a kind: flatten layer")


def _check_adaptive_avgpool2d(node, shapes):
    _, h, w = shapes[node.inputs[0]]
    (oh, ow), reason = node.output_size, "NIR has no adaptive pooling"
    if h % oh or w % ow:
        return _blocker(node, reason, f"an input whose size divides by {oh}×{ow}, or remove the layer")
    return _blocker(node, reason, f"kind: avgpool2d with kernel_size: [{h // oh}, {w // ow}]")


def _check_activation(node, shapes):
    return _blocker(node, f"NIR has no {node.function} (it carries neurons and linear maps)",
                    "kind: spike where a neuron should fire, or remove the layer", f"activation ({node.function})")


def _check_reshape(node, shapes):
    fix = "kind: flatten" if len(node.target) == 1 else "remove the layer (NIR reshapes by Flatten only)"
    return _blocker(node, "NIR has no reshape", fix)


_CHAINS = "snnc's NIR export takes chains of single-input layers"

BLOCKERS: dict[str, Callable[[Any, Shapes], list[Blocker]]] = {
    "avgpool2d": _check_avgpool2d,
    "spike": _check_spike,
    "maxpool2d": _refused("NIR has sum and average pooling only",
                          "kind: avgpool2d (same kernel_size and stride), and retrain"),
    "batchnorm": _refused("snnc folds batch-norm only inside the burst target's conversion, not for NIR",
                          "remove the batchnorm layer (give the conv or linear before it bias: true) and train "
                          "without it"),
    "global_avgpool": _check_global_avgpool,
    "adaptive_avgpool2d": _check_adaptive_avgpool2d,
    "activation": _check_activation,
    "reshape": _check_reshape,
    "add": _refused(f"a residual add merges branches; {_CHAINS}", "remove the shortcut (a plain chain)"),
    "multiply": _refused(f"NIR has no element-wise product (a gate); {_CHAINS}",
                         "remove the gate (the multiply and the branch that computes it)"),
    "concat": _refused(f"NIR has no concatenation; {_CHAINS}", "keep one branch instead of concatenating"),
    "upsample": _refused("NIR has no up-sampling", "remove the layer"),
    "slice": _refused("NIR has no slicing", "remove the layer"),
}
"""IR node kind → ``check(node, shapes) -> blockers`` (empty: exports). A kind in neither table is refused."""


def _check_unknown(node, shapes):
    supported = ", ".join(k for k in TO_NIR if TO_NIR[k] is not None)
    return _blocker(node, f"no NIR export; NIR export supports {supported} (dropout and identity are dropped)",
                    "remove the layer")


def nir_blockers(graph: Any) -> list[Blocker]:
    """Every node of an IR graph that keeps it from NIR, each with the spec change that would lift it.

    Args:
        graph: the IR graph of an snn target module.

    Returns:
        The blockers in graph order (a node may have several, e.g. a synaptic neuron with subtract reset);
        empty when the graph exports.
    """
    shapes = {n.name: tuple(n.shape) for n in graph.nodes}
    found: list[Blocker] = []
    for node in graph.nodes:
        if node.kind == "input":
            continue
        check = BLOCKERS.get(node.kind)
        if check is None and node.kind not in TO_NIR:
            check = _check_unknown
        mine = check(node, shapes) if check is not None else []
        if not mine and len(node.inputs) != 1:
            mine = _blocker(node, f"it has {len(node.inputs)} inputs; {_CHAINS}", "remove the branch")
        found += mine
    return found


def snn_to_nir(snn: Any, graph: Any = None):
    """The NIR graph of a spec-built snn target module.

    Args:
        snn: a :class:`SpikingModule` from ``snnc.compile(spec, target="snn")`` or ``snnc.load``.
        graph: its IR graph (default: rebuilt from the spec the module carries).

    Returns:
        A ``nir.NIRGraph`` (node keys are the snnc names with ``.`` → ``_``; ``input`` and ``output`` nodes).

    Raises:
        UnsupportedError: one error naming every node NIR cannot express (node kinds, reset modes, neuron
            models), grouped by cause, each with the spec change that would make it export (its ``blockers``
            list them all); or a module that carries no spec.
    """
    from ..targets.snn.module import SpikingModule

    nir = _nir()
    if not isinstance(snn, SpikingModule):
        raise UnsupportedError(f"NIR export takes the snn target (a SpikingModule), got {type(snn).__name__}; "
                               "compile the spec with target='snn' (burst and ann export to ONNX)")
    if graph is None:
        from ..pipeline import graph_of

        graph = graph_of(snn)
        if graph is None:
            raise UnsupportedError("this spiking module carries no spec; build it with snnc.compile or snnc.load")
    found = nir_blockers(graph)
    if found:
        raise blocked(f"cannot export {graph.name} to NIR", found,
                      otherwise="Or export ONNX instead (--format onnx), which keeps all of these.")
    shapes = {n.name: tuple(n.shape) for n in graph.nodes}
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    alias: dict[str, str] = {}
    for node in graph.nodes:
        if node.kind == "input":
            nodes["input"] = nir.Input(input_type=np.array(node.shape))
            alias[node.name] = "input"
            continue
        build = TO_NIR[node.kind]
        if build is None:
            alias[node.name] = alias[node.inputs[0]]
            continue
        key = _key(node.name)
        nodes[key] = build(node, snn, shapes)
        edges.append((alias[node.inputs[0]], key))
        alias[node.name] = key
    for out in graph.outputs:
        nodes["output"] = nir.Output(output_type=np.array(shapes[out]))
        edges.append((alias[out], "output"))
    result = nir.NIRGraph(nodes=nodes, edges=edges)
    result.infer_types()
    return result


def export_nir(model: Any, path: str | Path, *, timesteps: Optional[int] = None, check: bool = False,
               check_inputs: Any = None) -> Optional[dict]:
    """Write the snn target as a NIR file (HDF5, via ``nir.write``; atomically).

    Args:
        model: a spec-built :class:`SpikingModule`.
        path: the ``.nir`` file.
        timesteps: steps of the check (default: the model's).
        check: run the file in snnTorch (``import_from_nir``) and compare spikes with the model.
        check_inputs: inputs of the check ``[B, ...]`` (default: a seeded uniform batch).

    Returns:
        With ``check``: ``{"spikes_identical": bool, "mismatches": int, "spikes": int}``; else None.

    Raises:
        UnsupportedError: see :func:`snn_to_nir`.
    """
    nir = _nir()
    graph = snn_to_nir(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..artifact import temp_file_beside

    fd, tmp = temp_file_beside(path)  # the user's umask, not mkstemp's 0600
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if not check:
        return None
    import torch

    from .onnx import input_shape

    x = check_inputs if check_inputs is not None else torch.rand(
        (4, *input_shape(model)), generator=torch.Generator().manual_seed(0))
    steps = timesteps or model.timesteps
    ours = run_snnc(model, x, steps)
    theirs = run_snntorch(nir.read(str(path)), x, steps)
    mismatches = int((ours != theirs).sum())
    report = {"spikes_identical": mismatches == 0, "mismatches": mismatches, "spikes": int(ours.sum())}
    if mismatches:
        from .onnx import ExportCheckError

        raise ExportCheckError(f"{path}: {mismatches} output spikes differ between snnTorch's import_from_nir and "
                               "snnc")
    return report


def run_snnc(model: Any, x: Any, steps: int):
    """Output spikes ``[T, B, ...]`` of a spiking module over ``steps`` steps (explicit-state steps)."""
    import torch

    with torch.no_grad():
        state = model.init_state(x.shape[0])
        out = []
        for _ in range(steps):
            spk, state = model.step(x, state)
            out.append(spk)
    return torch.stack(out)


def run_snntorch(graph: Any, x: Any, steps: int):
    """Output spikes ``[T, B, ...]`` of a NIR graph run by snnTorch's ``import_from_nir``.

    Why one sample at a time: NIR shapes carry no batch dimension and snnTorch's import builds its flatten
    as ``nn.Flatten(start_dim=0)``, so the imported module runs on unbatched samples.
    """
    import contextlib
    import io

    import torch
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints warnings while importing
        net = import_from_nir(graph)
    per_sample = []
    with torch.no_grad():
        for sample in x:
            for module in net.modules():  # snnTorch neurons keep their last membrane between calls
                if hasattr(module, "reset_mem"):
                    module.reset_mem()
            state, out = None, []
            for _ in range(steps):
                spk, state = net(sample, state) if state is not None else net(sample)
                out.append(spk)
            per_sample.append(torch.stack(out))
    return torch.stack(per_sample, dim=1)


# --- NIR -> snnc ------------------------------------------------------------------------------------------


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
    nir = _nir()
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
    import torch

    nir = _nir()
    graph.infer_types()
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
    layers: list[dict] = []
    weights: dict[str, Any] = {}
    neuron_default: Optional[dict] = None
    used: set[str] = set()
    for key in order:
        node = graph.nodes[key]
        lname = re.sub(r"[^A-Za-z0-9_]", "_", key)
        if not re.match(r"[A-Za-z_]", lname):
            lname = f"n_{lname}"
        while lname in used:
            lname += "_"
        used.add(lname)
        if isinstance(node, nir.Output):
            break
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight, dtype=np.float32)
            layer = {"name": lname, "kind": "linear", "in_features": int(w.shape[1]), "out_features": int(w.shape[0])}
            weights[f"{lname}.weight"] = torch.from_numpy(w.copy())
            if isinstance(node, nir.Affine):
                weights[f"{lname}.bias"] = torch.from_numpy(np.asarray(node.bias, dtype=np.float32).copy())
            else:
                layer["bias"] = False
        elif isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight, dtype=np.float32)
            if isinstance(node.padding, str):
                raise UnsupportedError(f"NIR node '{key}' (Conv2d): padding '{node.padding}'; give it in pixels")
            pair = lambda v: [int(v), int(v)] if np.ndim(v) == 0 else [int(i) for i in v]  # noqa: E731
            layer = {"name": lname, "kind": "conv2d", "out_channels": int(w.shape[0]),
                     "kernel_size": [int(w.shape[2]), int(w.shape[3])], "stride": pair(node.stride),
                     "padding": pair(node.padding), "dilation": pair(node.dilation), "groups": int(node.groups)}
            weights[f"{lname}.weight"] = torch.from_numpy(w.copy())
            weights[f"{lname}.bias"] = torch.from_numpy(np.asarray(node.bias, dtype=np.float32).copy())
        elif isinstance(node, nir.AvgPool2d):
            layer = {"name": lname, "kind": "avgpool2d", "kernel_size": [int(v) for v in np.ravel(node.kernel_size)],
                     "stride": [int(v) for v in np.ravel(node.stride)],
                     "padding": [int(v) for v in np.ravel(node.padding)]}
        elif isinstance(node, nir.Flatten):
            if node.start_dim not in (0,) or node.end_dim != -1:
                raise UnsupportedError(f"NIR node '{key}' (Flatten): dims {node.start_dim}..{node.end_dim}; snnc "
                                       "flattens every dimension of a sample")
            layer = {"name": lname, "kind": "flatten"}
        elif isinstance(node, (nir.LIF, nir.IF)):
            params = _neuron(key, node, dt)
            neuron_default = neuron_default or params
            layer = {"name": lname, "kind": "spike", "neuron": params}
        elif isinstance(node, nir.CubaLIF):
            raise UnsupportedError(f"NIR node '{key}' (CubaLIF): NIR's CubaLIF integrates the synaptic current after "
                                   "the reset, snnc's synaptic neuron clears it; the spikes would differ, so it is "
                                   "not imported (docs/export.md)")
        else:
            raise UnsupportedError(f"NIR node '{key}' ({type(node).__name__}) has no snnc counterpart; snnc imports "
                                   "Affine, Linear, Conv2d, AvgPool2d, Flatten, LIF and IF")
        layers.append(layer)
    out_shape = _shape(graph.nodes[order[-1]].output_type) if order else []
    spec = {
        "name": name,
        "input": {"shape": _shape(graph.nodes[inputs[0]].output_type), "range": [0.0, 1.0]},
        "task": {"kind": "classification", "classes": int(np.prod(out_shape)) if out_shape else 10},
        "timesteps": int(timesteps),
        "neuron": {**(neuron_default or {"model": "leaky"}), "surrogate": "atan", "slope": 2.0},
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

    from ..pipeline import compile as snnc_compile
    from ..pipeline import save
    from ..artifact import atomic_write_bytes
    from ..errors import DataError

    nir = _nir()
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
