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

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import UnsupportedError, blocked
from .base import ExportCheckError, ExportFormat, ExportOptions, check_batch, input_shape
from .nir_blockers import BLOCKERS, Plan, explain_lines, nir_blockers, nir_plan
from .nir_import import FROM_NIR, import_nir, nir_to_spec
from .nir_lower import DT, TO_NIR, fold_batchnorm, load_nir, node_key


class _Context:
    """What a builder of :data:`TO_NIR` reads besides its node: the graph's shapes and the plan."""

    def __init__(self, shapes: dict, plan: Any):
        self.shapes, self.plan = shapes, plan


def spec_switches(snn: Any) -> dict[str, Any]:
    """The parameters the module's spec declares, with their values (for ``--param`` fixes); {} without."""
    from ..pipeline import provenance

    prov = provenance(snn)
    if prov is None:
        return {}
    import yaml

    declared = (yaml.safe_load(prov.spec_text) or {}).get("params") or {}
    return {**declared, **dict(prov.params)} if isinstance(declared, dict) else {}


def _graph_of(snn: Any, graph: Any):
    from ..targets.snn.module import SpikingModule

    if not isinstance(snn, SpikingModule):
        raise UnsupportedError(f"NIR export takes the snn target (a SpikingModule), got {type(snn).__name__}; "
                               "compile the spec with target='snn' (burst and ann export to ONNX)")
    if graph is None:
        from ..pipeline import graph_of

        graph = graph_of(snn)
        if graph is None:
            raise UnsupportedError("this spiking module carries no spec; build it with snnc.compile or snnc.load")
    return graph


def snn_to_nir(snn: Any, graph: Any = None):
    """The NIR graph of a spec-built snn target module: nodes as :func:`~.nir_blockers.nir_plan` decides (an add
    as edges, batch-norm folded, average pools as SumPool2d where exact), weights from the module.

    Args:
        snn: a :class:`SpikingModule` from ``snnc.compile(spec, target="snn")`` or ``snnc.load``.
        graph: its IR graph (default: rebuilt from the spec the module carries).

    Returns:
        A ``nir.NIRGraph`` (node keys are the snnc names with ``.`` → ``_``; ``input`` and ``output`` nodes; a
        global pool adds ``<name>_flatten``).

    Raises:
        UnsupportedError: one error naming every node NIR cannot express (node kinds, reset modes, neuron
            models), grouped by cause, each with the spec change that would make it export (its ``blockers``
            list them all); or a module that carries no spec.
    """
    nir = load_nir()
    graph = _graph_of(snn, graph)
    plan = nir_plan(graph, spec_switches(snn))
    if plan.blockers:
        raise blocked(f"cannot export {graph.name} to NIR", plan.blockers,
                      otherwise="Or export ONNX instead (--format onnx), which keeps all of these.")
    ctx = _Context({n.name: tuple(n.shape) for n in graph.nodes}, plan)
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(graph.input.shape))}
    edges: list[tuple[str, str]] = []
    for node in graph.nodes:
        build = TO_NIR.get(node.kind)
        if build is None:  # input, dropped layers, folded batch-norms and adds: the plan's sources say it all
            continue
        built = build(node, snn, ctx)
        chain = built if isinstance(built, list) else [("", built)]
        keys = [node_key(node.name) + suffix for suffix, _ in chain]
        if any(k in nodes for k in keys):
            raise UnsupportedError(f"node '{node.name}': NIR key {keys} is taken by another node; rename it")
        nodes.update({k: n for k, (_, n) in zip(keys, chain)})
        edges += [(src, keys[0]) for src in plan.sources[node.inputs[0]]] + list(zip(keys, keys[1:]))
    for out in graph.outputs:
        nodes["output"] = nir.Output(output_type=np.array(ctx.shapes[out]))
        edges += [(src, "output") for src in plan.sources[out]]
    result = nir.NIRGraph(nodes=nodes, edges=edges)
    result.infer_types()
    return result


def folded_twin(model: Any) -> Any:
    """A copy of ``model`` that computes what its NIR file says: each batch-norm folded into the conv2d or linear
    before it (the weights :func:`~.nir_lower.fold_batchnorm` writes), the batch-norm made the identity (weight
    1, bias 0, mean 0, variance 1, eps 0: ``x * 1 + 0``, exact). ``model`` itself when nothing is folded.

    The twin also runs in contiguous (NCHW) memory format, as the file's importers do: a channels-last
    convolution (the snn target's default for conv nets) sums in another order, up to 1e-6 apart, and over 30
    IF layers that flips neurons sitting at a threshold.

    Why: folding rounds differently from a conv followed by a batch-norm (about 1e-7 relative), so a membrane at a
    threshold can fire in one and not the other; the file is checked against the twin exactly, and the model
    against the twin by count (:func:`check_nir`).
    """
    import copy

    import torch

    folded = nir_plan(_graph_of(model, None)).folded
    if not folded and not getattr(model, "channels_last", False):
        return model
    twin = copy.deepcopy(model)
    with torch.no_grad():
        if getattr(twin, "channels_last", False):
            twin.channels_last = False
            for t in (*twin.parameters(), *twin.buffers()):
                t.data = t.data.contiguous()
        for bn_name, into in folded.items():
            layer, bn = twin.get_submodule(into), twin.get_submodule(bn_name)
            weight, bias = fold_batchnorm(layer, bn)
            layer.weight.copy_(torch.from_numpy(weight))
            if layer.bias is None:
                layer.bias = torch.nn.Parameter(torch.from_numpy(bias))
            else:
                layer.bias.copy_(torch.from_numpy(bias))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.eps = 0.0
            if bn.weight is not None:
                bn.weight.fill_(1.0)
                bn.bias.zero_()
    return twin.eval()


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

    With batch-norms folded into the file, the spikes that must be identical are those of the model's folded
    twin (:func:`folded_twin`, what the file computes); the model's own spikes are compared with the twin's and
    their difference reported (rounding ties at a threshold, not an export error).

    Args:
        path: the ``.nir`` file.
        model: the spec-built :class:`SpikingModule` it came from.
        x: inputs ``[B, ...]`` (default: :func:`~.base.check_batch` of the model's input shape).
        timesteps: steps to run (default: the model's).

    Returns:
        ``{"spikes_identical": True, "mismatches": 0, "spikes": int}``, and with folded batch-norms
        ``batchnorms_folded`` and ``unfolded_mismatches`` (the model's spikes against the twin's); with IF
        neurons ``notes`` on how snnTorch ran them.

    Raises:
        ExportCheckError: some output spike differs (how many).
    """
    x = x if x is not None else check_batch(input_shape(model))
    steps = timesteps or model.timesteps
    twin = folded_twin(model)
    graph = load_nir().read(str(path))
    ours, our_layers = run_snnc_layers(twin, x, steps, per_sample=True)
    theirs, their_layers = run_snntorch(graph, x, steps, layers=list(our_layers))
    report = compare_runs(ours, our_layers, theirs, their_layers, spiking_output=_ends_in_neuron(model))
    folded = "" if twin is model else " (batch-norm folded)"
    if not report["spikes_identical"]:
        raise ExportCheckError(f"{path}: {report['mismatches']} spikes differ between snnTorch's import_from_nir "
                               f"and snnc{folded}, first in layer '{report['first_layer']}'")
    if not report.pop("outputs_close", True):
        raise ExportCheckError(f"{path}: the outputs differ by {report['output_max_abs_diff']:.3g} between "
                               f"snnTorch's import_from_nir and snnc{folded} (the spikes are identical)")
    if twin is not model:
        report["batchnorms_folded"] = len(nir_plan(_graph_of(model, None)).folded)
        _, unfolded = run_snnc_layers(model, x, steps, per_sample=True)
        report["unfolded_mismatches"] = sum(int((unfolded[k] != our_layers[k]).sum()) for k in unfolded)
    if any(type(n).__name__ == "IF" for n in graph.nodes.values()):
        report["notes"] = ["IF nodes run as snnTorch Leaky(beta=1, reset zero): snnTorch 1.0 imports IF as "
                           "Leaky(beta=0.9) returning a tuple"]
    return report


def _ends_in_neuron(model: Any) -> bool:
    graph = _graph_of(model, None)
    return all(graph.node(o).kind == "spike" for o in graph.outputs)


def compare_runs(ours: Any, our_layers: dict, theirs: Any, their_layers: dict, *, spiking_output: bool) -> dict:
    """Every neuron layer's spikes (``[T, B, ...]`` per NIR key) and the outputs of two runs, compared: spikes
    must be identical; an output that is not spikes (a classifier's current) is compared with ``allclose``
    (rtol 1e-4, atol 1e-5: the importers sum in another order, unbatched).

    Returns:
        ``spikes_identical``, ``mismatches``, ``first_layer`` (the first layer that differs, or None), ``spikes``
        (the total of every layer), ``neuron_layers``, and for a current output ``output_max_abs_diff`` and
        ``outputs_close``.
    """
    import torch

    if spiking_output:
        our_layers, their_layers = {**our_layers, "output": ours}, {**their_layers, "output": theirs}
    diffs = {k: int((our_layers[k] != their_layers[k].to(our_layers[k].dtype)).sum())
             if their_layers.get(k) is not None and their_layers[k].shape == our_layers[k].shape
             else our_layers[k].numel() for k in our_layers}
    mismatches = sum(diffs.values())
    report = {"spikes_identical": mismatches == 0, "mismatches": mismatches,
              "first_layer": next((k for k, d in diffs.items() if d), None),
              "spikes": int(sum(v.sum() for k, v in our_layers.items() if k != "output" or spiking_output)),
              "neuron_layers": len(our_layers) - (1 if spiking_output else 0)}
    if not spiking_output:
        theirs = theirs.to(ours.dtype)
        report["output_max_abs_diff"] = float((ours - theirs).abs().max()) if ours.shape == theirs.shape else None
        report["outputs_close"] = ours.shape == theirs.shape and bool(torch.allclose(ours, theirs, rtol=1e-4,
                                                                                      atol=1e-5))
    return report


def run_snnc_layers(model: Any, x: Any, steps: int, *, per_sample: bool = False) -> tuple[Any, dict]:
    """Output ``[T, B, ...]`` of a spiking module over ``steps`` explicit-state steps, and every neuron layer's
    spikes ``[T, B, ...]`` by NIR key (forward hooks on its neuron loops, one call per step).

    ``per_sample``: one sample at a time (batches of one), as the NIR importers run (:func:`run_unbatched`).
    Why: a convolution over a batch of eight sums in another order than over one (about 1e-7 apart), enough to
    flip a neuron at its threshold somewhere in a 30-layer IF network."""
    import torch

    if per_sample:
        runs = [run_snnc_layers(model, x[i:i + 1], steps) for i in range(len(x))]
        return (torch.cat([out for out, _ in runs], 1),
                {k: torch.cat([layers[k] for _, layers in runs], 1) for k in runs[0][1]})
    loops = {node_key(name): loop for name, loop in model.neurons.items()}
    seen: dict[str, list] = {k: [] for k in loops}
    hooks = [loop.register_forward_hook(lambda m, a, out, k=k: seen[k].append(out[0].detach().clone()))
             for k, loop in loops.items()]
    try:
        out = run_snnc(model, x, steps)
    finally:
        for h in hooks:
            h.remove()
    return out, {k: torch.stack(v) for k, v in seen.items() if v}


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


def run_snntorch(graph: Any, x: Any, steps: int, layers: Optional[list[str]] = None):
    """Output spikes ``[T, B, ...]`` of a NIR graph run by snnTorch's ``import_from_nir`` (IF nodes as
    :func:`if_as_leaky` builds them); with ``layers`` (NIR keys) also their spikes: ``(output, {key: [T, B,
    ...]})``.

    Why one sample at a time: NIR shapes carry no batch dimension and snnTorch's import builds its flatten
    as ``nn.Flatten(start_dim=0)``, so the imported module runs on unbatched samples.
    """
    import contextlib
    import io

    import torch
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints warnings while importing
        net = import_from_nir(graph)
    if_as_leaky(net, graph)
    neurons = [m for m in net.modules() if hasattr(m, "reset_mem")]  # they keep their membrane between calls
    return run_unbatched(net, x, steps, lambda: [m.reset_mem() for m in neurons], layers=layers)


def if_as_leaky(net: Any, graph: Any) -> int:
    """Replace what snnTorch 1.0 builds for each NIR ``IF`` node (``Leaky(beta=0.9, init_hidden=False)``, the
    ``nir.IF`` branch of ``snntorch/import_nir.py`` ignores its ``init_hidden`` and its ``r``) by what its ``LIF``
    branch builds for ``beta = 1``: ``Leaky(beta=1, threshold=v_threshold, init_hidden=True, reset zero,
    reset_delay=False)``, NIR's IF with snnc's ``r = 1``. Returns how many it replaced."""
    import snntorch
    import torch

    count = 0
    for key, node in graph.nodes.items():
        if type(node).__name__ == "IF":
            threshold = float(torch.as_tensor(node.v_threshold).flatten()[0])
            setattr(net, key, snntorch.Leaky(beta=1.0, threshold=threshold, init_hidden=True,
                                             reset_mechanism="zero", reset_delay=False))
            count += 1
    return count


def run_unbatched(net: Any, x: Any, steps: int, reset: Any = None, layers: Optional[list[str]] = None):
    """Output spikes ``[T, B, ...]`` of an imported NIR module run on one sample of ``x`` at a time (NIR shapes
    carry no batch axis), ``reset()`` before each sample; the module's state travels through its calls. With
    ``layers`` (submodule names: NIR keys) also their outputs ``{key: [T, B, ...]}`` (None for a key the module
    lacks), recorded by forward hooks (the first element of a tuple output: the spikes)."""
    import torch

    if layers is not None:
        modules = dict(net.named_modules())
        seen: dict[str, list] = {k: [] for k in layers if k in modules}
        hooks = [modules[k].register_forward_hook(
            lambda m, a, out, k=k: seen[k].append((out[0] if isinstance(out, tuple) else out).detach().clone()))
            for k in seen]
        try:
            out = run_unbatched(net, x, steps, reset)
        finally:
            for h in hooks:
                h.remove()
        shaped = {k: torch.stack(v).reshape(len(x), steps, *v[0].shape).transpose(0, 1) if v else None
                  for k, v in seen.items()}
        return out, {k: shaped.get(k) for k in layers}
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
    targets = ("snn",)
    Options = ExportOptions

    def export(self, model: Any, path: str | Path, options: ExportOptions) -> Optional[dict]:
        """:func:`export_nir` with the validated options."""
        return export_nir(model, path, **self.options(options).model_dump())

    def check(self, path: str | Path, model: Any, x: Any = None, **kwargs: Any) -> dict:
        """:func:`check_nir`: run a written file in snnTorch against ``model``."""
        return check_nir(path, model, x, **kwargs)


FORMAT = NirFormat()
"""The ``nir`` entry of :data:`snnc.compiler.export.registry.FORMATS`."""

__all__ = ["BLOCKERS", "DT", "FORMAT", "FROM_NIR", "TO_NIR", "NirFormat", "Plan", "check_nir", "explain_lines",
           "export_nir", "fold_batchnorm", "folded_twin", "if_as_leaky", "import_nir", "nir_blockers", "nir_plan",
           "nir_to_spec", "compare_runs", "run_snnc", "run_snnc_layers", "run_snntorch", "run_unbatched", "snn_to_nir", "spec_switches"]
