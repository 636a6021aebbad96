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

Every file gets ``onnx.checker.check_model(full_check=True)``, a dynamic batch axis, opset :data:`OPSET` and
metadata ``snnc.spec``, ``snnc.target``, ``snnc.form``, ``snnc.timesteps``, ``snnc.state``.
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

OPSET = 17
"""The ONNX opset every file is written with (onnxruntime >= 1.12 runs it)."""

FORMS = ("unrolled", "step")


class ExportCheckError(SnncError):
    """An exported file does not reproduce the PyTorch model in onnxruntime (says where and by how much)."""


@dataclass
class CheckReport:
    """The onnxruntime-versus-PyTorch comparison of one exported file.

    Attributes:
        target, form: what was exported.
        samples, timesteps: the size of the comparison.
        spikes_identical: every output spike equal (spiking targets; None for ann).
        spike_mismatches: how many spike values differ.
        max_abs_diff: the largest absolute difference of the scores (ann: of the output).
        step_equals_unrolled: the step form iterated ``T`` times equals the unrolled outputs (step form).
    """

    target: str
    form: str
    samples: int
    timesteps: Optional[int]
    max_abs_diff: float
    spikes_identical: Optional[bool] = None
    spike_mismatches: int = 0
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
    return {"spec": graph.name if graph is not None else "unknown",
            "target": prov.target if prov is not None else kind, "kind": kind}


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
    """The burst network over ``steps`` steps, all folded into one pass: ``x -> scores[, spikes, outputs]``."""

    def __init__(self, burst: nn.Module, steps: int, spikes: bool) -> None:
        super().__init__()
        self.program, keys, _ = burst_program(burst, steps)
        self.head = burst.head
        self.steps, self.spikes, self.n_state = steps, spikes, len(keys)

    def forward(self, x: Tensor):
        folded = x.repeat(self.steps, *([1] * (x.dim() - 1)))
        out = self.program(folded, *([None] * self.n_state))
        y = out[0].reshape(self.steps, -1, *out[0].shape[1:])
        scores = y.sum(dim=0) / self.steps
        if self.head is not None:
            scores = self.head(scores)
        return (scores, out[1], y) if self.spikes else scores


class BurstStep(nn.Module):
    """One step of the burst network: ``(x, *state) -> (outputs, *new_state)``."""

    def __init__(self, burst: nn.Module) -> None:
        super().__init__()
        self.program, self.keys, _ = burst_program(burst, 1)

    def forward(self, x: Tensor, *state: Tensor):
        out = self.program(x, *state)
        return (out[0], out[1][0], *out[2:])


@dataclass
class Prepared:
    """What :func:`torch.onnx.export` needs for one model and form."""

    module: nn.Module
    args: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    timesteps: Optional[int]
    state: list[str]


def prepare(model: nn.Module, form: str = "unrolled", *, timesteps: Optional[int] = None, spikes: bool = True,
            example: Optional[Tensor] = None, batch: int = 2) -> Prepared:
    """Build the export-ready module, example inputs and I/O names for ``model`` in ``form``.

    Args:
        model: an ann ``GraphModule`` (or any plain module), a ``SpikingModule`` or a ``BurstSNN``.
        form: ``unrolled`` or ``step`` (spiking targets).
        timesteps: ``T`` of the unrolled form (default: the model's).
        spikes: also output the spikes (unrolled form).
        example: an input batch ``[B, ...]`` (default: zeros of the spec's input shape).
        batch: rows of the default example.

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
    dyn = {0: "batch"}
    if kind == PLAIN:
        if form != "unrolled":
            raise UnsupportedError("the ann target has no state: export it without --form step")
        return Prepared(_Plain(model), (example,), ["x"], ["y"], {"x": dyn, "y": dyn}, None, [])
    steps = int(timesteps or model.timesteps)
    if steps < 1:
        raise UnsupportedError(f"timesteps must be a positive integer, got {timesteps!r}")
    state = model.init_state(example.shape[0])
    keys = list(state)
    if form == "step":
        module = SnnStep(model) if kind == RECORDING else BurstStep(model)
        outs = ["outputs", "spikes"] if kind == SCORES else ["spikes" if spiking_output(model) else "outputs"]
        names_in = ["x", *keys]
        names_out = [*outs, *(f"{k}.next" for k in keys)]
        axes = {n: dyn for n in names_in + names_out}
        return Prepared(module, (example, *state.values()), names_in, names_out, axes, steps, keys)
    if kind == RECORDING:
        module = SnnUnrolled(model, steps, spikes)
        direct = model.encoding.kind == "direct"
        name_in = "x" if direct else "x_seq"
        args = (example,) if direct else (example.unsqueeze(0).expand(steps, *example.shape).contiguous(),)
        per_step = "spikes" if spiking_output(model) else "outputs"
        names_out = ["scores", per_step] if spikes else ["scores"]
        axes = {name_in: dyn if direct else {1: "batch"}, "scores": dyn, per_step: {1: "batch"}}
    else:
        module = BurstUnrolled(model, steps, spikes)
        name_in, args = "x", (example,)
        names_out = ["scores", "spikes", "outputs"] if spikes else ["scores"]
        axes = {"x": dyn, "scores": dyn, "spikes": {1: "batch"}, "outputs": {1: "batch"}}
    axes = {k: v for k, v in axes.items() if k in names_out or k == name_in}
    return Prepared(module, args, [name_in], names_out, axes, steps, keys)


class _Plain(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


# --- writing and checking ---------------------------------------------------------------------------------


def _to_onnx_bytes(prepared: Prepared, opset: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(prepared.module, prepared.args, buffer, dynamo=False, opset_version=opset,
                          input_names=prepared.input_names, output_names=prepared.output_names,
                          dynamic_axes=prepared.dynamic_axes, do_constant_folding=True)
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
                check: bool = False, check_inputs: Optional[Tensor] = None) -> Optional[CheckReport]:
    """Write ``model`` as an ONNX file (checked with ``onnx.checker``), optionally compared in onnxruntime.

    Args:
        model: an ann module, a ``SpikingModule`` or a ``BurstSNN`` (eval mode is used; the model is restored).
        path: the ``.onnx`` file to write (atomically).
        form: ``unrolled`` or ``step`` (see the module docstring).
        timesteps: ``T`` of the unrolled form and of the check (default: the model's).
        spikes: the unrolled form also outputs the spikes.
        example: an input batch used for tracing (default: zeros of the spec's input shape).
        opset: the ONNX opset (default :data:`OPSET`).
        check: run :func:`check_onnx` on ``check_inputs`` (default: a seeded uniform batch in [0, 1]).
        check_inputs: the inputs of the check ``[B, ...]``.

    Returns:
        The check report with ``check``, else None.

    Raises:
        UnsupportedError: a node that cannot be exported (named), a form the target has not, MemTorch layers.
        BackendUnavailable: ``check`` without onnxruntime.
        ExportCheckError: ``check`` found a difference.
    """
    import onnx

    from ..artifact import atomic_write_bytes

    info = describe(model)
    training = model.training
    model.eval()
    try:
        prepared = prepare(model, form, timesteps=timesteps, spikes=spikes, example=example)
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
        meta = {"snnc.spec": info["spec"], "snnc.target": info["target"], "snnc.kind": info["kind"],
                "snnc.form": form if info["kind"] != PLAIN else "network", "snnc.timesteps": str(prepared.timesteps or ""), "snnc.opset": str(opset),
                "snnc.state": json.dumps(prepared.state)}
        if info["kind"] == RECORDING:
            meta["snnc.decoding"] = model.decoding.kind
            meta["snnc.encoding"] = model.encoding.kind
        onnx.helper.set_model_props(proto, meta)
        proto.producer_name = "snnc"
        onnx.checker.check_model(proto, full_check=True)
        atomic_write_bytes(path, proto.SerializeToString())
        if not check:
            return None
        if check_inputs is None:
            shape = tuple(example.shape[1:]) if example is not None else input_shape(model)
            check_inputs = torch.rand((4, *shape), generator=torch.Generator().manual_seed(0))
        return check_onnx(path, model, check_inputs, timesteps=prepared.timesteps)
    finally:
        model.train(training)


def _session(path: str | Path):
    try:
        import onnxruntime as ort
    except ImportError as error:  # pragma: no cover - installed with snnc[dev]
        from ..errors import BackendUnavailable

        raise BackendUnavailable("checking an ONNX export needs onnxruntime: pip install 'snnc[onnxruntime]'") \
            from error
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, min(2, torch.get_num_threads()))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``snnc.*`` metadata of an exported file."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
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


def check_onnx(path: str | Path, model: nn.Module, x: Tensor, *, timesteps: Optional[int] = None,
               rtol: float = 1e-4, atol: float = 1e-5) -> CheckReport:
    """Run an exported file in onnxruntime on ``x`` and compare it with ``model`` in PyTorch.

    ann: outputs allclose. snn / burst: output spikes identical and decoded scores allclose (snn rate or count
    scores are then equal up to the rounding of the mean). Step files are iterated ``T`` times from the
    initial state and compared with the model's ``T``-step run (which equals the unrolled form).

    Args:
        path: the exported file.
        model: the PyTorch model it came from.
        x: inputs ``[B, ...]`` (for a non-direct snn encoding: the encoded sequence ``[T, B, ...]`` is built
            with the model's encoder under a fixed seed).
        timesteps: ``T`` (default: the file's metadata).
        rtol, atol: tolerances of the score comparison.

    Returns:
        The report.

    Raises:
        ExportCheckError: spikes differ or scores are not close.
    """
    import numpy as np

    meta = read_metadata(path)
    kind, form = meta.get("snnc.kind", export_kind(model)), meta.get("snnc.form", "unrolled")
    steps = timesteps or (int(meta["snnc.timesteps"]) if meta.get("snnc.timesteps") else None)
    session = _session(path)
    model.eval()
    x = x.detach().float()
    if kind == RECORDING and model.encoding.kind != "direct":
        from ..targets.snn.coding import encode

        torch.manual_seed(0)
        seq = encode(x, steps, model.encoding)
        return _check_encoded(session, model, x, seq, steps, form, rtol, atol)
    ref = reference_outputs(model, x, steps)
    xn = x.numpy()
    if kind == PLAIN:
        (y,) = session.run(None, {"x": xn})
        diff = float(np.abs(y - ref["y"].numpy()).max())
        report = CheckReport("ann", "network", x.shape[0], None, diff)
        if not np.allclose(y, ref["y"].numpy(), rtol=rtol, atol=atol):
            raise ExportCheckError(f"{path}: onnxruntime output differs from PyTorch by up to {diff:.3g}")
        return report
    if form == "step":
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
        got = {"scores": scores, "spikes": spikes, "outputs": outs.get("outputs")}
    else:
        names = [o.name for o in session.get_outputs()]
        got = dict(zip(names, session.run(None, {"x": xn})))
    return _compare(path, meta.get("snnc.target", kind), form, x.shape[0], steps, ref, got, rtol, atol)


def _check_encoded(session, model, x, seq, steps, form, rtol, atol) -> CheckReport:
    with torch.no_grad(), _reference_settings(model, steps, x.shape[0]):
        state = model.init_state(x.shape[0])
        outs = []
        for frame in seq:
            out, state = model.step(frame, state)
            outs.append(out)
        spk = torch.stack(outs)
    ref = {"spikes": spk, "scores": model.decode(spk, spk) if model.decoding.kind != "membrane" else None}
    if form == "step":
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
    return _compare("export", "snn", form, x.shape[0], steps, ref, got, rtol, atol)


def _compare(path, target, form, samples, steps, ref, got, rtol, atol) -> CheckReport:
    import numpy as np

    report = CheckReport(target, form, samples, steps, 0.0)
    if got.get("spikes") is not None and ref.get("spikes") is not None:
        mismatches = int((got["spikes"] != ref["spikes"].numpy()).sum())
        report.spikes_identical = mismatches == 0
        report.spike_mismatches = mismatches
        if mismatches:
            raise ExportCheckError(f"{path}: {mismatches} output spikes differ between onnxruntime and PyTorch "
                                   f"({target}, {form}, T = {steps}, {samples} samples)")
    if got.get("outputs") is not None and ref.get("outputs") is not None:
        diff = float(np.abs(got["outputs"] - ref["outputs"].numpy()).max())
        report.notes.append(f"per-step outputs differ by up to {diff:.3g}")
        if not np.allclose(got["outputs"], ref["outputs"].numpy(), rtol=rtol, atol=atol):
            raise ExportCheckError(f"{path}: onnxruntime per-step outputs differ from PyTorch by up to {diff:.3g} "
                                   f"({target}, {form})")
    if got.get("scores") is not None and ref.get("scores") is not None:
        report.max_abs_diff = float(np.abs(got["scores"] - ref["scores"].numpy()).max())
        if not np.allclose(got["scores"], ref["scores"].numpy(), rtol=rtol, atol=atol):
            raise ExportCheckError(f"{path}: onnxruntime scores differ from PyTorch by up to "
                                   f"{report.max_abs_diff:.3g} ({target}, {form})")
    if form == "step":
        report.step_equals_unrolled = True
    return report
