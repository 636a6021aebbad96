"""Whether an exported ONNX file reproduces its PyTorch model, checked in onnxruntime.

:func:`check_onnx` runs a file (a path, or its bytes) in onnxruntime and compares it with the model: ann
outputs allclose; snn spikes identical and scores allclose; burst spike counts identical, or every difference a
threshold tie of float rounding. For burst, where counts differ, :func:`explain_burst` exports the network once
more with every neuron layer's ``V / theta`` as outputs (probes), runs both and lets :mod:`.ties` sort each
difference; the :class:`CheckReport` says how many ties and where.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from .base import PLAIN, RECORDING, SCORES, ExportCheckError, export_kind, spiking_output
from .onnx_trace import OPSET, decode_recording, prepare, to_onnx_bytes
from .plain import burst_program
from .ties import TieExplainer

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
    """Run the PyTorch reference of a burst network with every step folded into one pass (``T`` itself is passed
    to each call: ``model(x, steps)``)."""
    saved = getattr(model, "fold_batch", None)
    try:
        if saved is not None:
            model.fold_batch = max(saved, steps * batch)
        yield
    finally:
        if saved is not None:
            model.fold_batch = saved


def reference_outputs(model: nn.Module, x: Tensor, steps: Optional[int]) -> dict[str, Tensor]:
    """What PyTorch gives for ``x``: ``y`` (ann) or ``scores``, ``spikes`` (and burst ``outputs``)."""
    kind = export_kind(model)
    with torch.no_grad():
        if kind == PLAIN:
            return {"y": model(x)}
        with _reference_settings(model, steps, x.shape[0]):
            if kind == RECORDING:
                spk, mem = model(x, steps)
                return {"scores": model.decode(spk, mem), "spikes" if spiking_output(model) else "outputs": spk}
            _, _, last_name = burst_program(model, 1)  # the last neuron layer in graph order, as exported
            last = model.neurons()[last_name]
            counts: list[Tensor] = []
            hook = last.register_forward_hook(lambda m, i, out: counts.append(
                torch.round(out / m.threshold).reshape(m.steps, -1, *out.shape[1:])))
            try:
                outputs = model(x, steps, return_steps=True)
                scores = model(x, steps)
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
            scores = decode_recording(torch.from_numpy(spikes), torch.from_numpy(spikes), model.decoding.kind).numpy()
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
        got["scores"] = decode_recording(torch.from_numpy(got["spikes"]), torch.from_numpy(got["spikes"]),
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
            session = _session(to_onnx_bytes(theirs_prep, opset))
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
