"""ONNX export of the ann, snn and burst targets, checked in onnxruntime.

Forms (see ``docs/export.md``):

* ``ann``: the network itself; input ``x`` ``[B, ...]``, output ``y``.
* ``snn`` / ``burst`` **unrolled** over a fixed ``T``: input ``x`` ``[B, ...]`` (with an encoding other than
  ``direct``: the encoded sequence ``x_seq`` ``[T, B, ...]``); outputs ``scores`` ``[B, ...]`` (the decoded
  output) and, with ``spikes=True``, ``spikes`` ``[T, B, ...]`` (snn: the output neuron's spikes; burst: the
  spike counts of the last neuron layer) and, for burst, ``outputs`` ``[T, B, ...]`` (the read-out per step).
  The stateless layers keep the time-folded fast path (one call over ``T * B`` samples).
* ``step``: inputs ``x`` and every state (``lif1.mem``, ``lif1.syn``, ``pool1.accumulated`` ...), outputs
  ``spikes`` (snn) / ``outputs`` (burst) for this step and each new state as ``<key>.next``.

The exporter is PyTorch's TorchScript-based ``torch.onnx.export(..., dynamo=False)``. Why not the dynamo
exporter: it needs ``onnxscript``, which snnc does not otherwise need, and the programs here are plain ops with
Python-level loops over a fixed ``T``, which tracing records exactly. The neurons are swapped for their
plain-op twins (:mod:`.plain`): no autograd function, no surrogate gradient reaches the file.

Every file gets ``onnx.checker.check_model(full_check=True)``, a dynamic batch axis, output axes named
``batch``, ``T`` and ``classes`` (the others sized), opset :data:`OPSET` and metadata ``snnc.spec``,
``snnc.target``, ``snnc.form``, ``snnc.timesteps``, ``snnc.state``.

:func:`check_onnx` compares a file in onnxruntime with the model in PyTorch; with ``check=True`` the export runs
it before writing, and a file that fails is not written. Burst spike counts may differ where a membrane sits on
a threshold within float rounding (the runtimes sum currents in other orders); the check then probes every
neuron layer and passes only when each difference is such a tie or follows one (:mod:`.ties`), and says so.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, fx, nn

from ..errors import SnncError, UnsupportedError
from .plain import burst_program, snn_program
from .ties import TieExplainer

OPSET = 17
"""The ONNX opset every file is written with (onnxruntime >= 1.12 runs it)."""

FORMS = ("unrolled", "step")


class ExportCheckError(SnncError):
    """An exported file does not reproduce the PyTorch model in onnxruntime (says where and by how much)."""


TIE_TOLERANCE = 1e-4
"""How close (in thresholds) the two runtimes' ``V / theta`` must be where a burst spike count differs, for the
difference to count as a threshold tie of float rounding (see :mod:`.ties`)."""


@dataclass
class CheckReport:
    """The onnxruntime-versus-PyTorch comparison of one exported file.

    Attributes:
        target, form: what was exported.
        samples, timesteps: the size of the comparison.
        max_abs_diff: the largest absolute difference of the scores (ann: of the output), over every sample.
        spikes_identical: every output spike equal (spiking targets; None for ann).
        spike_mismatches: how many output spike values differ (None for ann).
        spike_mismatch_fraction: that count over the spike values compared.
        first_divergence: where the runtimes first differ (burst: step, layer, sample, ``V / theta`` in each).
        threshold_ties: burst: the neurons whose first differing spike count is a threshold tie within
            :data:`TIE_TOLERANCE` (the rest of the differences follow from those).
        tie_samples: the samples with any differing spike; their scores are reported, not compared.
        step_equals_unrolled: the step form iterated ``T`` times equals the unrolled outputs (step form).
        notes: what else was measured, in words.
    """

    target: str
    form: str
    samples: int
    timesteps: Optional[int]
    max_abs_diff: float
    spikes_identical: Optional[bool] = None
    spike_mismatches: Optional[int] = None
    spike_mismatch_fraction: Optional[float] = None
    first_divergence: Optional[str] = None
    threshold_ties: Optional[int] = None
    tie_samples: Optional[int] = None
    step_equals_unrolled: Optional[bool] = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# --- what a model is --------------------------------------------------------------------------------------


def refuse_mnn(model: nn.Module) -> None:
    """Refuse a model that contains MemTorch layers, which ONNX cannot express.

    MemTorch simulates crossbars of memristive devices (with their non-idealities) inside its layers; there
    is no ONNX operator for that. What can be exported is the ann whose weights are the programmed
    conductances mapped back to weights.

    Args:
        model: any module.

    Raises:
        UnsupportedError: naming the first MemTorch layer and the ann export to use instead.
    """
    for name, module in model.named_modules():
        where = type(module).__module__
        if where.startswith("snnc.compiler.targets.mnn"):
            raise UnsupportedError(
                f"layer '{name}' ({type(module).__name__}) runs on simulated memristive crossbars (the mnn target, "
                "programmed by MemTorch), which this exporter does not express in ONNX; export the network the "
                "crossbars carry instead: snnc export SPEC --target ann (or snn) --checkpoint TRAINED.pt")
        if where.split(".")[0] == "memtorch":
            raise UnsupportedError(
                f"layer '{name or type(module).__name__}' ({type(module).__module__}.{type(module).__name__}) is a "
                "MemTorch crossbar simulation, which ONNX cannot express; export the conductance-equivalent "
                "weights as an ann instead (map the programmed conductances back to weights, load them into "
                "snnc.compile(spec, target='ann') and export that with --target ann)"
            )


PLAIN, RECORDING, SCORES = "plain", "recording", "scores"
"""What an export follows: a plain network (no state), a spiking network returning its output layer's recording
(``(spk, mem)``, the snn target) or one returning decoded scores (the burst target) — asked of the model's
spiking-network contract, never of a target name."""


def export_kind(model: nn.Module) -> str:
    """:data:`PLAIN`, :data:`RECORDING` or :data:`SCORES`: which export applies to ``model``.

    Raises:
        UnsupportedError: MemTorch layers (see :func:`refuse_mnn`).
    """
    from ..targets.base import is_spiking

    refuse_mnn(model)
    if not is_spiking(model):
        return PLAIN
    return RECORDING if model.output_form == RECORDING else SCORES


def input_shape(model: nn.Module) -> tuple[int, ...]:
    """The per-sample input shape of a spec-built model (from its IR or recorded shapes).

    Raises:
        UnsupportedError: the model carries no input shape; pass ``example=`` to the exporter.
    """
    from ..pipeline import graph_of

    graph = graph_of(model)
    if graph is not None:
        return tuple(graph.input.shape)
    programs: list[fx.GraphModule] = []
    if hasattr(model, "_programs"):
        programs.append(model._programs[0])
    if isinstance(getattr(model, "network", None), fx.GraphModule):
        programs.append(model.network)
    if isinstance(model, fx.GraphModule):
        programs.append(model)
    for gm in programs:
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                ir = node.meta.get("snnc_node")
                if getattr(ir, "shape", None) is not None:
                    return tuple(ir.shape)
                shape = node.meta.get("burst_shape")
                if shape is not None:
                    return tuple(shape[1:])
    raise UnsupportedError("the model carries no input shape (it was not built from a spec); pass an example "
                           "input batch: export(model, path, example=torch.zeros(1, C, H, W))")


def describe(model: nn.Module) -> dict[str, str]:
    """The spec name, target and export kind of a model, for the file's metadata (``unknown`` when not spec-built)."""
    from ..pipeline import graph_of, provenance

    graph, prov = graph_of(model), provenance(model)
    kind = export_kind(model)
    # Why target_name: a network converted from a hand-written model carries no provenance, but its class says
    # which target it belongs to (BurstSNN.target_name).
    target = prov.target if prov is not None else getattr(model, "target_name", None) or kind
    return {"spec": graph.name if graph is not None else "unknown", "target": target, "kind": kind}


# --- the exported programs --------------------------------------------------------------------------------


def spiking_output(snn: nn.Module) -> bool:
    """Whether a ``SpikingModule``'s output is a neuron layer (else its "spikes" are the analog output)."""
    body = getattr(snn._programs[1], "_orig_mod", snn._programs[1])
    output = next(n for n in reversed(body.graph.nodes) if n.op == "output")
    return output.args[0][0] is not output.args[0][1]


def _decode(spk: Tensor, mem: Tensor, kind: str) -> Tensor:
    if kind == "rate":
        return spk.mean(0)
    if kind == "count":
        return spk.sum(0)
    return mem.mean(0)


class SnnUnrolled(nn.Module):
    """The snn target over ``steps`` steps with plain neurons: ``x -> scores[, spikes]``."""

    def __init__(self, snn: nn.Module, steps: int, spikes: bool) -> None:
        super().__init__()
        self.prefix, self.body = snn_program(snn)
        self.steps, self.spikes = steps, spikes
        self.slots = snn._state_slots
        self.direct = snn.encoding.kind == "direct"
        self.decoding = snn.decoding.kind

    def forward(self, x: Tensor):
        nones = [None] * self.slots
        if self.direct:
            out = self.body(*self.prefix(x), self.steps, *nones)
        else:
            out = self.body(x.reshape(-1, *x.shape[2:]), *self.prefix(x[0]), self.steps, *nones)
        spk = out[0].reshape(self.steps, -1, *out[0].shape[1:])
        mem = out[1].reshape(self.steps, -1, *out[1].shape[1:])
        scores = _decode(spk, mem, self.decoding)
        return (scores, spk) if self.spikes else scores


class SnnStep(nn.Module):
    """One step of the snn target: ``(x, *state) -> (spikes, *new_state)`` (state in layout order)."""

    def __init__(self, snn: nn.Module) -> None:
        super().__init__()
        self.prefix, self.body = snn_program(snn)
        self.keys = [k for k, _ in snn.state_layout()]
        self.direct = snn.encoding.kind == "direct"

    def forward(self, x: Tensor, *state: Tensor):
        slots: list[Optional[Tensor]] = []
        for key, value in zip(self.keys, state):
            if key.endswith(".mem"):
                slots.extend([value, None])
            else:
                slots[-1] = value
        invariant = self.prefix(x)
        out = self.body(*invariant, 1, *slots) if self.direct else self.body(x, *invariant, 1, *slots)
        carried = list(out[2:])
        new, i = [], 0
        for key in self.keys:
            if key.endswith(".mem"):
                new.append(carried[2 * i])
                i += 1
            else:
                new.append(carried[2 * i - 1])
        return (out[0], *new)


class BurstUnrolled(nn.Module):
    """The burst network over ``steps`` steps, all folded into one pass: ``x -> scores[, spikes, outputs]``
    (with ``probe``, then every neuron layer's ``V / theta`` ``[T, B, ...]``)."""

    def __init__(self, burst: nn.Module, steps: int, spikes: bool, probe: bool = False) -> None:
        super().__init__()
        self.program, keys, _ = burst_program(burst, steps, probe)
        self.head = burst.head
        self.steps, self.spikes, self.n_state = steps, spikes or probe, len(keys)

    def forward(self, x: Tensor):
        folded = x.repeat(self.steps, *([1] * (x.dim() - 1)))
        out = self.program(folded, *([None] * self.n_state))
        y = out[0].reshape(self.steps, -1, *out[0].shape[1:])
        scores = y.sum(dim=0) / self.steps
        if self.head is not None:
            scores = self.head(scores)
        return (scores, out[1], y, *out[2 + self.n_state:]) if self.spikes else scores


class BurstStep(nn.Module):
    """One step of the burst network: ``(x, *state) -> (outputs, spikes, *new_state)`` (with ``probe``, then
    every neuron layer's ``V / theta`` ``[B, ...]``)."""

    def __init__(self, burst: nn.Module, probe: bool = False) -> None:
        super().__init__()
        self.program, self.keys, _ = burst_program(burst, 1, probe)

    def forward(self, x: Tensor, *state: Tensor):
        out = self.program(x, *state)
        n = 2 + len(self.keys)
        return (out[0], out[1][0], *out[2:n], *(r[0] for r in out[n:]))


@dataclass
class Prepared:
    """What :func:`torch.onnx.export` needs for one model and form.

    ``dim_names`` names the output axes (``batch``, ``T``, ``classes``) that :func:`name_output_dims` writes
    into the file; the other output axes get their sizes (``output_shapes``, recorded when it is traced).
    ``probes`` are the ``probe.<layer>`` outputs of a probed burst export (see :func:`explain_burst`).
    """

    module: nn.Module
    args: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    timesteps: Optional[int]
    state: list[str]
    dim_names: dict[str, dict[int, str]] = field(default_factory=dict)
    probes: list[str] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    traced: list[Tensor] = field(default_factory=list)


def prepare(model: nn.Module, form: str = "unrolled", *, timesteps: Optional[int] = None, spikes: bool = True,
            example: Optional[Tensor] = None, batch: int = 2, probe: bool = False) -> Prepared:
    """Build the export-ready module, example inputs and I/O names for ``model`` in ``form``.

    Args:
        model: an ann ``GraphModule`` (or any plain module), a ``SpikingModule`` or a ``BurstSNN``.
        form: ``unrolled`` or ``step`` (spiking targets).
        timesteps: ``T`` of the unrolled form (default: the model's).
        spikes: also output the spikes (unrolled form).
        example: an input batch ``[B, ...]`` (default: zeros of the spec's input shape).
        batch: rows of the default example.
        probe: burst: also output every neuron layer's ``V / theta`` as ``probe.<layer>`` (for the check).

    Returns:
        The prepared export.

    Raises:
        UnsupportedError: unknown form, a form the target has not, or MemTorch layers.
    """
    if form not in FORMS:
        from ..errors import did_you_mean

        raise UnsupportedError(f"unknown export form '{form}'.{did_you_mean(form, FORMS)} Forms: unrolled, step")
    kind = export_kind(model)
    if example is None:
        example = torch.zeros((batch, *input_shape(model)))
    example = example.detach()
    if kind == PLAIN:
        if form != "unrolled":
            raise UnsupportedError("the ann target has no state: export it without --form step")
        return Prepared(_Plain(model), (example,), ["x"], ["y"], {"x": {0: "batch"}, "y": {0: "batch"}}, None, [],
                        {"y": _axis_names("y", kind, form)})
    steps = int(timesteps or model.timesteps)
    if steps < 1:
        raise UnsupportedError(f"timesteps must be a positive integer, got {timesteps!r}")
    probes = [f"probe.{key[:-len('.mem')]}" for key in model.init_state(1) if key.endswith(".mem")] \
        if probe and kind == SCORES else []
    made = (_prepare_step if form == "step" else _prepare_unrolled)(model, kind, example, steps, spikes, probes)
    made.dim_names = {name: _axis_names(name, kind, form) for name in made.output_names}
    made.probes = probes
    return made


def _prepare_step(model, kind, example, steps, spikes, probes) -> Prepared:
    state = model.init_state(example.shape[0])
    keys = list(state)
    module = SnnStep(model) if kind == RECORDING else BurstStep(model, probe=bool(probes))
    outs = ["outputs", "spikes"] if kind == SCORES else ["spikes" if spiking_output(model) else "outputs"]
    names_in = ["x", *keys]
    names_out = [*outs, *(f"{k}.next" for k in keys), *probes]
    axes = {n: {0: "batch"} for n in names_in + names_out}
    return Prepared(module, (example, *state.values()), names_in, names_out, axes, steps, keys)


def _prepare_unrolled(model, kind, example, steps, spikes, probes) -> Prepared:
    keys = list(model.init_state(1))
    if kind == RECORDING:
        module = SnnUnrolled(model, steps, spikes)
        direct = model.encoding.kind == "direct"
        name_in = "x" if direct else "x_seq"
        args = (example,) if direct else (example.unsqueeze(0).expand(steps, *example.shape).contiguous(),)
        per_step = "spikes" if spiking_output(model) else "outputs"
        names_out = ["scores", per_step] if spikes else ["scores"]
        axes = {name_in: {0: "batch"} if direct else {1: "batch"}, "scores": {0: "batch"}, per_step: {1: "batch"}}
    else:
        module = BurstUnrolled(model, steps, spikes, probe=bool(probes))
        name_in, args = "x", (example,)
        names_out = ["scores", "spikes", "outputs", *probes] if spikes or probes else ["scores"]
        axes = {"x": {0: "batch"}, "scores": {0: "batch"}, **{n: {1: "batch"} for n in names_out[1:]}}
    axes = {k: v for k, v in axes.items() if k in names_out or k == name_in}
    return Prepared(module, args, [name_in], names_out, axes, steps, keys)


def _axis_names(name: str, kind: str, form: str) -> dict[int, str]:
    """The named axes of output ``name``: ``T`` and ``batch``, and ``-1: classes`` on what holds the class
    scores (``y``, ``scores``, burst ``outputs``, the snn's output neuron); the rest get their sizes."""
    timed = form == "unrolled" and kind != PLAIN and name not in ("scores", "y")
    names = {0: "T", 1: "batch"} if timed else {0: "batch"}
    if name in ("y", "scores", "outputs") or (name == "spikes" and kind == RECORDING):
        names[-1] = "classes"
    return names


def name_output_dims(proto: Any, prepared: Prepared) -> None:
    """Write the output shapes into ``proto``: the axes of :attr:`Prepared.dim_names` by name, the others by the
    sizes the tracing run gave (the tracer leaves generated names such as ``Divscores_dim_1``).

    A ``classes`` axis is named only where it is the last of two (``[batch, classes]``) or three (``[T, batch,
    classes]``) axes; elsewhere (a segmentation map) the output's axes are sizes.
    """
    for value, shape in zip(proto.graph.output, prepared.output_shapes):
        names = dict(prepared.dim_names.get(value.name, {}))
        if names.pop(-1, None) is not None and len(shape) == len(names) + 1:
            names[len(shape) - 1] = "classes"
        for i, dim in enumerate(value.type.tensor_type.shape.dim):
            if i in names:
                dim.dim_param = names[i]
            else:
                dim.dim_value = shape[i]


class _Plain(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


# --- writing and checking ---------------------------------------------------------------------------------


def _to_onnx_bytes(prepared: Prepared, opset: int) -> bytes:
    """The traced file; :attr:`Prepared.output_shapes` records the outputs' shapes of the tracing run (and
    :attr:`Prepared.traced`, of a probed export, the outputs: a PyTorch run of the example)."""
    buffer = io.BytesIO()

    def record(module, args, outs):
        outs = outs if isinstance(outs, tuple) else (outs,)
        prepared.output_shapes = [tuple(int(n) for n in o.shape) for o in outs]
        if prepared.probes:
            prepared.traced = [o.detach().clone() for o in outs]

    hook = prepared.module.register_forward_hook(record)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(prepared.module, prepared.args, buffer, dynamo=False, opset_version=opset,
                              input_names=prepared.input_names, output_names=prepared.output_names,
                              dynamic_axes=prepared.dynamic_axes, do_constant_folding=True)
    finally:
        hook.remove()
    return buffer.getvalue()


class _OneNode(nn.Module):
    """One recorded fx call as a module whose inputs are its tensor arguments."""

    def __init__(self, node: fx.Node, owner: nn.Module, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self.node, self.owner, self.call_args, self.call_kwargs = node, owner, args, kwargs

    def forward(self, *tensors: Tensor):
        it = iter(tensors)
        real = tuple(next(it) if isinstance(a, Tensor) else a for a in self.call_args)
        if self.node.op == "call_module":
            return self.owner.get_submodule(self.node.target)(*real, **self.call_kwargs)
        if self.node.op == "call_method":
            return getattr(real[0], self.node.target)(*real[1:], **self.call_kwargs)
        return self.node.target(*real, **self.call_kwargs)


def locate_failure(prepared: Prepared, opset: int = OPSET) -> Optional[str]:
    """Find the first fx node of the exported programs that does not export alone; None if every node does.

    Every node's inputs are recorded by running the programs on the example; then each call is exported on
    its own, in graph order.
    """
    records: list[tuple[fx.Node, Any, tuple, dict]] = []

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            if n.op in ("call_module", "call_function", "call_method"):
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                records.append((n, self.module, args, kwargs))
            return result

    originals = {}
    for name, sub in prepared.module.named_children():
        if isinstance(sub, fx.GraphModule):
            originals[name] = sub.forward
            sub.forward = lambda *a, _gm=sub, **k: Recorder(_gm).run(*a, **k)
    try:
        with torch.no_grad():
            prepared.module(*prepared.args)
    except Exception:  # noqa: BLE001 - a program that does not even run: report no node
        return None
    finally:
        for name, fn in originals.items():
            del prepared.module.get_submodule(name).forward
    for node, owner, args, kwargs in records:
        if not any(isinstance(a, Tensor) for a in (*args, *kwargs.values())):
            continue

        one = _OneNode(node, owner, args, kwargs)
        tensors = tuple(a for a in args if isinstance(a, Tensor))
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(one, tensors, io.BytesIO(), dynamo=False, opset_version=opset)
        except Exception as error:  # noqa: BLE001 - the exporter raises many kinds
            what = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.target)
            return f"node '{node.name}' ({node.op} {what}): {type(error).__name__}: {str(error).splitlines()[0]}"
    return None


def export_onnx(model: nn.Module, path: str | Path, *, form: str = "unrolled", timesteps: Optional[int] = None,
                spikes: bool = True, example: Optional[Tensor] = None, opset: int = OPSET,
                check: bool = False, check_inputs: Optional[Tensor] = None,
                tie_tolerance: float = TIE_TOLERANCE) -> Optional[CheckReport]:
    """Write ``model`` as an ONNX file (checked with ``onnx.checker``), optionally compared in onnxruntime.

    Args:
        model: an ann module, a ``SpikingModule`` or a ``BurstSNN`` (eval mode is used; the model is restored).
        path: the ``.onnx`` file to write (atomically).
        form: ``unrolled`` or ``step`` (see the module docstring).
        timesteps: ``T`` of the unrolled form and of the check (default: the model's).
        spikes: the unrolled form also outputs the spikes.
        example: an input batch used for tracing (default: zeros of the spec's input shape).
        opset: the ONNX opset (default :data:`OPSET`).
        check: run :func:`check_onnx` on ``check_inputs`` (default: a seeded uniform batch in [0, 1]) before
            the file is written; a file that fails it is not written.
        check_inputs: the inputs of the check ``[B, ...]``.
        tie_tolerance: burst: see :func:`check_onnx`.

    Returns:
        The check report with ``check``, else None.

    Raises:
        UnsupportedError: a node that cannot be exported (named), a form the target has not, MemTorch layers.
        BackendUnavailable: ``check`` without onnxruntime.
        ExportCheckError: ``check`` found a difference; ``path`` was not written (a file already there is left
            as it was).
    """
    from ..artifact import atomic_write_bytes

    training = model.training
    model.eval()
    try:
        prepared = prepare(model, form, timesteps=timesteps, spikes=spikes, example=example)
        data = _serialize(model, prepared, form, opset)
        report = None
        if check:
            if check_inputs is None:
                shape = tuple(example.shape[1:]) if example is not None else input_shape(model)
                check_inputs = torch.rand((4, *shape), generator=torch.Generator().manual_seed(0))
            try:
                report = check_onnx(data, model, check_inputs, timesteps=prepared.timesteps, label=str(path),
                                    tie_tolerance=tie_tolerance)
            except ExportCheckError as error:
                raise ExportCheckError(f"{error}. {path} was not written (a file already there is left as it "
                                       "was); export without the check to write it anyway") from error
        atomic_write_bytes(path, data)
        return report
    finally:
        model.train(training)


def _serialize(model: nn.Module, prepared: Prepared, form: str, opset: int) -> bytes:
    """The checked ONNX file of ``prepared``: traced, output axes named, metadata set, ``check_model`` run.

    Raises:
        UnsupportedError: a node that cannot be exported (named).
    """
    import onnx

    info = describe(model)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            data = _to_onnx_bytes(prepared, opset)
    except SnncError:
        raise
    except Exception as error:  # noqa: BLE001 - the exporter raises many kinds; name the node instead
        where = locate_failure(prepared, opset)
        raise UnsupportedError(
            f"cannot export {info['spec']} ({info['target']}, {form}) to ONNX opset {opset}: "
            + (where or f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            + "; replace that layer with a supported one (docs/export.md lists what exports)"
        ) from error
    proto = onnx.load_from_string(data)
    name_output_dims(proto, prepared)
    meta = {"snnc.spec": info["spec"], "snnc.target": info["target"], "snnc.kind": info["kind"],
            "snnc.form": form if info["kind"] != PLAIN else "network",
            "snnc.timesteps": str(prepared.timesteps or ""), "snnc.opset": str(opset),
            "snnc.state": json.dumps(prepared.state)}
    if info["kind"] == RECORDING:
        meta["snnc.decoding"] = model.decoding.kind
        meta["snnc.encoding"] = model.encoding.kind
    onnx.helper.set_model_props(proto, meta)
    proto.producer_name = "snnc"
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def _session(source: str | Path | bytes):
    """An onnxruntime CPU session of a file (a path, or the file's bytes)."""
    try:
        import onnxruntime as ort
    except ImportError as error:  # pragma: no cover - installed with snnc[dev]
        from ..errors import BackendUnavailable

        raise BackendUnavailable("checking an ONNX export needs onnxruntime: pip install 'snnc[onnxruntime]'") \
            from error
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, min(2, torch.get_num_threads()))
    return ort.InferenceSession(source if isinstance(source, bytes) else str(source), options,
                                providers=["CPUExecutionProvider"])


def read_metadata(path: str | Path | bytes) -> dict[str, str]:
    """The ``snnc.*`` metadata of an exported file (a path, or the file's bytes)."""
    import onnx

    proto = onnx.load_from_string(path) if isinstance(path, bytes) else onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def run_step_session(session, x, state: dict[str, Any], steps: int) -> tuple[Any, dict[str, Any]]:
    """Iterate an exported step-form session ``steps`` times from ``state``.

    Returns:
        ``(per-step outputs by name stacked [steps, B, ...], final state)`` as numpy arrays; the outputs are
        ``spikes`` (snn) or ``outputs`` and ``spikes`` (burst).
    """
    import numpy as np

    outs: dict[str, list] = {}
    names = [o.name for o in session.get_outputs()]
    for _ in range(steps):
        result = dict(zip(names, session.run(None, {"x": x, **state})))
        for name in names:
            if not name.endswith(".next"):
                outs.setdefault(name, []).append(result[name])
        state = {name[: -len(".next")]: result[name] for name in names if name.endswith(".next")}
    return {name: np.stack(values) for name, values in outs.items()}, state


@contextlib.contextmanager
def _reference_settings(model: nn.Module, steps: int, batch: int):
    """Run the PyTorch reference with ``T = steps`` (and, for burst, every step folded into one pass)."""
    saved = {k: getattr(model, k) for k in ("timesteps", "fold_batch") if hasattr(model, k)}
    try:
        model.timesteps = steps
        if hasattr(model, "fold_batch"):
            model.fold_batch = max(model.fold_batch, steps * batch)
        yield
    finally:
        for k, v in saved.items():
            setattr(model, k, v)


def reference_outputs(model: nn.Module, x: Tensor, steps: Optional[int]) -> dict[str, Tensor]:
    """What PyTorch gives for ``x``: ``y`` (ann) or ``scores``, ``spikes`` (and burst ``outputs``)."""
    kind = export_kind(model)
    with torch.no_grad():
        if kind == PLAIN:
            return {"y": model(x)}
        with _reference_settings(model, steps, x.shape[0]):
            if kind == RECORDING:
                spk, mem = model(x)
                return {"scores": model.decode(spk, mem), "spikes" if spiking_output(model) else "outputs": spk}
            _, _, last_name = burst_program(model, 1)  # the last neuron layer in graph order, as exported
            last = model.neurons()[last_name]
            counts: list[Tensor] = []
            hook = last.register_forward_hook(lambda m, i, out: counts.append(
                torch.round(out / m.threshold).reshape(m.steps, -1, *out.shape[1:])))
            try:
                outputs = model(x, return_steps=True)
                scores = model(x)
            finally:
                hook.remove()
            return {"scores": scores, "spikes": counts[0], "outputs": outputs}


def check_onnx(source: str | Path | bytes, model: nn.Module, x: Tensor, *, timesteps: Optional[int] = None,
               rtol: float = 1e-4, atol: float = 1e-5, tie_tolerance: float = TIE_TOLERANCE,
               label: Optional[str] = None) -> CheckReport:
    """Run an exported file in onnxruntime on ``x`` and compare it with ``model`` in PyTorch.

    ann: outputs allclose. snn: output spikes identical and decoded scores allclose (rate or count scores are
    then equal up to the rounding of the mean). burst: output spike counts identical, or every difference a
    threshold tie of float rounding (:mod:`.ties`: every neuron layer's ``V / theta`` is probed in both
    runtimes, and each differing neuron's first difference must be within ``tie_tolerance`` of a threshold or
    follow an earlier layer's); scores and per-step outputs allclose on the samples without a difference, and
    reported on the others. Step files are iterated ``T`` times from the initial state and compared with the
    model's ``T``-step run (which equals the unrolled form).

    Args:
        source: the exported file (a path, or its bytes).
        model: the PyTorch model it came from.
        x: inputs ``[B, ...]`` (for a non-direct snn encoding: the encoded sequence ``[T, B, ...]`` is built
            with the model's encoder under a fixed seed).
        timesteps: ``T`` (default: the file's metadata).
        rtol, atol: tolerances of the score comparison.
        tie_tolerance: burst: the largest ``|ΔV/θ|`` between the runtimes (in thresholds) of a threshold tie.
        label: how messages name the file (default: the path).

    Returns:
        The report.

    Raises:
        ExportCheckError: spikes differ (burst: not all by threshold ties) or scores are not close.
    """
    meta = read_metadata(source)
    kind, form = meta.get("snnc.kind", export_kind(model)), meta.get("snnc.form", "unrolled")
    steps = timesteps or (int(meta["snnc.timesteps"]) if meta.get("snnc.timesteps") else None)
    ctx = _Check(label or str(source), meta.get("snnc.target", kind), form, x.shape[0], steps, rtol, atol)
    session = _session(source)
    model.eval()
    x = x.detach().float()
    if kind == RECORDING and model.encoding.kind != "direct":
        from ..targets.snn.coding import encode

        torch.manual_seed(0)
        seq = encode(x, steps, model.encoding)
        return _check_encoded(session, model, x, seq, ctx)
    ref = reference_outputs(model, x, steps)
    if kind == PLAIN:
        return _check_plain(session, x, ref, ctx)
    got = _run_spiking(session, model, x, steps, form, kind)
    explain = None
    if kind == SCORES:
        opset = int(meta.get("snnc.opset", OPSET))
        explain = lambda: explain_burst(model, x, steps, form, opset, ref, got, tie_tolerance)  # noqa: E731
    return _compare(ctx, ref, got, explain)


@dataclass
class _Check:
    """What a comparison is about: the file's label, the target, form, samples, ``T`` and the tolerances."""

    label: str
    target: str
    form: str
    samples: int
    steps: Optional[int]
    rtol: float
    atol: float

    def __str__(self) -> str:
        timed = f", T = {self.steps}" if self.steps else ""
        return f"{self.label} ({self.target}, {self.form}{timed}, {self.samples} samples)"


def _check_plain(session, x: Tensor, ref: dict, ctx: _Check) -> CheckReport:
    import numpy as np

    (y,) = session.run(None, {"x": x.numpy()})
    diff = float(np.abs(y - ref["y"].numpy()).max())
    if not np.allclose(y, ref["y"].numpy(), rtol=ctx.rtol, atol=ctx.atol):
        raise ExportCheckError(f"{ctx}: the onnxruntime output differs from PyTorch by up to {diff:.3g} (rtol "
                               f"{ctx.rtol:g}, atol {ctx.atol:g})")
    return CheckReport("ann", "network", x.shape[0], None, diff)


def _run_spiking(session, model: nn.Module, x: Tensor, steps: int, form: str, kind: str) -> dict[str, Any]:
    """The file's ``scores``, ``spikes`` (and burst ``outputs``) on ``x``: run once, or iterated ``T`` times."""
    xn = x.numpy()
    if form != "step":
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, {"x": xn})))
    init = {k: v.numpy() for k, v in model.init_state(x.shape[0]).items()}
    outs, _ = run_step_session(session, xn, init, steps)
    spikes = outs.get("spikes", outs.get("outputs"))
    if kind == RECORDING:
        scores = None
        if model.decoding.kind != "membrane":  # the membrane is in the state; compared through the spikes
            scores = _decode(torch.from_numpy(spikes), torch.from_numpy(spikes), model.decoding.kind).numpy()
    else:
        mean = torch.from_numpy(outs["outputs"]).sum(0) / steps
        with torch.no_grad():
            scores = (model.head(mean) if model.head is not None else mean).numpy()
    return {"scores": scores, "spikes": spikes, "outputs": outs.get("outputs")}


def _check_encoded(session, model, x, seq, ctx: _Check) -> CheckReport:
    with torch.no_grad(), _reference_settings(model, ctx.steps, x.shape[0]):
        state = model.init_state(x.shape[0])
        outs = []
        for frame in seq:
            out, state = model.step(frame, state)
            outs.append(out)
        spk = torch.stack(outs)
    ref = {"spikes": spk, "scores": model.decode(spk, spk) if model.decoding.kind != "membrane" else None}
    if ctx.form == "step":
        import numpy as np

        init = {k: v.numpy() for k, v in model.init_state(x.shape[0]).items()}
        got_spk = []
        for frame in seq.numpy():
            result = session.run(None, {"x": frame, **init})
            got_spk.append(result[0])
            init = {o.name[: -len(".next")]: v for o, v in zip(session.get_outputs()[1:], result[1:])}
        got = {"spikes": np.stack(got_spk)}
    else:
        names = [o.name for o in session.get_outputs()]
        got = dict(zip(names, session.run(None, {"x_seq": seq.numpy()})))
    if ref["scores"] is not None and "scores" not in got:
        got["scores"] = _decode(torch.from_numpy(got["spikes"]), torch.from_numpy(got["spikes"]),
                                model.decoding.kind).numpy()
    return _compare(ctx, ref, got, None)


def explain_burst(model: nn.Module, x: Tensor, steps: int, form: str, opset: int, ref: dict, got: dict,
                  tolerance: float = TIE_TOLERANCE) -> TieExplainer | str:
    """Probe every neuron layer's ``V / theta`` of a burst network in PyTorch and in onnxruntime (a probed
    export in ``form``, run on the whole batch as the file was) and sort the differing spike counts.

    Why a second export: the file's outputs hold only the last layer's counts. The probed runs must give the
    same spike counts as the file and the model, else the analysis would explain other runs. Its cost: one more
    export and PyTorch run (the tracing run of an unrolled export is that run), only when spikes differ.

    Returns:
        The analysis, or why there is none (a probed run gives other spikes than the run it stands for).
    """
    import numpy as np

    theirs_prep = prepare(model, form, timesteps=steps, example=x, probe=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            session = _session(_to_onnx_bytes(theirs_prep, opset))
    except Exception as error:  # noqa: BLE001 - the check then fails with this reason, never a traceback
        first = str(error).splitlines()[0] if str(error) else ""
        return (f"whether they are threshold ties cannot be told: the probed export failed "
                f"({type(error).__name__}: {first})")
    probed = theirs_prep
    if form != "unrolled":  # (unrolled: the tracing run on x was the PyTorch run)
        probed = prepare(model, "unrolled", timesteps=steps, example=x, probe=True)
        with torch.no_grad():
            probed.traced = list(probed.module(x))
    ours = [t.numpy() for t in probed.traced]
    if form == "step":
        init = {k: v.numpy() for k, v in model.init_state(x.shape[0]).items()}
        theirs = run_step_session(session, x.numpy(), init, steps)[0]
    else:
        theirs = dict(zip(theirs_prep.output_names, session.run(None, {"x": x.numpy()})))
    if not np.array_equal(ours[1], ref["spikes"].numpy()) or not np.array_equal(theirs["spikes"], got["spikes"]):
        return ("whether they are threshold ties cannot be told: the model's probed export gives other spikes in "
                "onnxruntime than the file (was the file exported from this model?)")
    layers = [name[len("probe."):] for name in probed.probes]
    explainer = TieExplainer(layers, [model.neurons()[n].gamma for n in layers], tolerance)
    for b in range(x.shape[0]):
        explainer.add(b, [r[:, b] for r in ours[3:]], [theirs[p][:, b] for p in probed.probes])
    return explainer


def _compare(ctx: _Check, ref: dict, got: dict, explain) -> CheckReport:
    """Spikes first (identical, or burst: explained by threshold ties), then per-step outputs and scores
    (allclose on the samples whose spikes agree)."""
    import numpy as np

    report = CheckReport(ctx.target, ctx.form, ctx.samples, ctx.steps, 0.0)
    same = np.ones(ctx.samples, dtype=bool)  # the samples compared value by value
    if got.get("spikes") is not None and ref.get("spikes") is not None:
        differ = got["spikes"] != ref["spikes"].numpy()
        report.spike_mismatches = int(differ.sum())
        report.spikes_identical = not report.spike_mismatches
        report.spike_mismatch_fraction = report.spike_mismatches / max(1, differ.size)
        if report.spike_mismatches:
            same = _explained(ctx, report, differ, explain)
    for name, axis in (("outputs", 1), ("scores", 0)):
        if got.get(name) is None or ref.get(name) is None:
            continue
        ours, theirs = ref[name].numpy(), got[name]
        diff = float(np.abs(theirs - ours).max())
        kept = np.abs(np.compress(same, theirs, axis) - np.compress(same, ours, axis))
        close = float(kept.max()) if kept.size else 0.0
        if name == "scores":
            report.max_abs_diff = diff
        what = "per-step outputs" if name == "outputs" else name
        report.notes.append(f"{what} differ by up to {diff:.3g}" + (
            f" ({close:.3g} on the {int(same.sum())} samples whose spikes agree)" if not same.all() else ""))
        if not np.allclose(np.compress(same, theirs, axis), np.compress(same, ours, axis), rtol=ctx.rtol,
                           atol=ctx.atol):
            raise ExportCheckError(f"{ctx}: onnxruntime {what} differ from PyTorch by up to {close:.3g} (rtol "
                                   f"{ctx.rtol:g}, atol {ctx.atol:g})")
    if ctx.form == "step":
        report.step_equals_unrolled = True
    return report


def _explained(ctx: _Check, report: CheckReport, differ, explain):
    """The samples without a differing spike, once every difference is explained by threshold ties.

    Raises:
        ExportCheckError: no explanation applies (snn: spikes must be identical) or some difference is not a tie.
    """
    import numpy as np

    step = int(np.argwhere(differ)[0][0])
    counted = (f"{report.spike_mismatches} of {differ.size} output spike values "
               f"({100 * report.spike_mismatch_fraction:.2g} %) differ between onnxruntime and PyTorch, first at "
               f"step {step}")
    if explain is None:
        raise ExportCheckError(f"{ctx}: {counted}")
    analysis = explain()
    if isinstance(analysis, str):
        raise ExportCheckError(f"{ctx}: {counted}; {analysis}")
    report.first_divergence = analysis.first()
    report.threshold_ties = analysis.ties
    report.tie_samples = len(analysis.samples)
    if not analysis.explained:
        raise ExportCheckError(f"{ctx}: {counted}, not all by threshold ties: {analysis.summary()}; the first "
                               f"unexplained: {analysis.first_unexplained()}")
    report.notes.append(f"{counted}; every difference is a threshold tie within float rounding or follows one: "
                        f"{analysis.summary()}")
    same = np.ones(ctx.samples, dtype=bool)
    same[analysis.samples] = False
    return same
