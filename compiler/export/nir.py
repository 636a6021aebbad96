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

Where the code is: :mod:`.nir_lower` (the node table), :mod:`.nir_blockers` (what NIR cannot express),
:mod:`.nir_import` (NIR → spec) and here the graph walk, the file, its check in snnTorch and the format object
:data:`FORMAT`. Every name is importable from here as before.

What NIR cannot express is found in one pass (:func:`nir_blockers`, a table from node kind to check,
:data:`BLOCKERS`) before anything is built, and refused in one error that names every blocking node, grouped by
cause, each cause with the spec change that lifts it.
"""

from __future__ import annotations


from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import UnsupportedError, blocked
from .base import ExportCheckError, ExportFormat, ExportOptions, check_batch, input_shape
from .nir_blockers import BLOCKERS, nir_blockers
from .nir_import import FROM_NIR, import_nir, nir_to_spec
from .nir_lower import DT, TO_NIR, load_nir, node_key


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

    nir = load_nir()
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
        key = node_key(node.name)
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
    nir = load_nir()
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
    return check_nir(path, model, check_inputs, timesteps=timesteps)


def check_nir(path: str | Path, model: Any, x: Any = None, *, timesteps: Optional[int] = None) -> dict:
    """Run a NIR file in snnTorch (``import_from_nir``) and compare its output spikes with ``model``'s.

    Args:
        path: the ``.nir`` file.
        model: the spec-built :class:`SpikingModule` it came from.
        x: inputs ``[B, ...]`` (default: :func:`~.base.check_batch` of the model's input shape).
        timesteps: steps to run (default: the model's).

    Returns:
        ``{"spikes_identical": True, "mismatches": 0, "spikes": int}``.

    Raises:
        ExportCheckError: some output spike differs (how many).
    """
    x = x if x is not None else check_batch(input_shape(model))
    steps = timesteps or model.timesteps
    ours = run_snnc(model, x, steps)
    theirs = run_snntorch(load_nir().read(str(path)), x, steps)
    mismatches = int((ours != theirs).sum())
    if mismatches:
        raise ExportCheckError(f"{path}: {mismatches} output spikes differ between snnTorch's import_from_nir and "
                               "snnc")
    return {"spikes_identical": True, "mismatches": 0, "spikes": int(ours.sum())}


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
    neurons = [m for m in net.modules() if hasattr(m, "reset_mem")]  # they keep their membrane between calls
    return run_unbatched(net, x, steps, lambda: [m.reset_mem() for m in neurons])


def run_unbatched(net: Any, x: Any, steps: int, reset: Any = None):
    """Output spikes ``[T, B, ...]`` of an imported NIR module run on one sample of ``x`` at a time (NIR shapes
    carry no batch axis), ``reset()`` before each sample; the module's state travels through its calls."""
    import torch

    per_sample = []
    with torch.no_grad():
        for sample in x:
            if reset is not None:
                reset()
            state, out = None, []
            for _ in range(steps):
                spk, state = net(sample, state) if state is not None else net(sample)
                out.append(spk)
            per_sample.append(torch.stack(out))
    return torch.stack(per_sample, dim=1)


class NirFormat(ExportFormat):
    """NIR 1.0 (HDF5), for the snn target; checked in snnTorch (:func:`check_nir`). Takes the common options."""

    name = "nir"
    description = "NIR 1.0 (snn), checked in snnTorch"
    suffix = ".nir"
    check_title = "snnTorch's import_from_nir against the model"
    Options = ExportOptions

    def export(self, model: Any, path: str | Path, options: ExportOptions) -> Optional[dict]:
        """:func:`export_nir` with the validated options."""
        return export_nir(model, path, **self.options(options).model_dump())

    def check(self, path: str | Path, model: Any, x: Any = None, **kwargs: Any) -> dict:
        """:func:`check_nir`: run a written file in snnTorch against ``model``."""
        return check_nir(path, model, x, **kwargs)


FORMAT = NirFormat()
"""The ``nir`` entry of :data:`snnc.compiler.export.registry.FORMATS`."""

__all__ = ["BLOCKERS", "DT", "FORMAT", "FROM_NIR", "TO_NIR", "NirFormat", "check_nir", "export_nir", "import_nir",
           "nir_blockers", "nir_to_spec", "run_snnc", "run_snntorch", "run_unbatched", "snn_to_nir"]
