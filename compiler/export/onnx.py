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

Where the code is: :mod:`.onnx_trace` (the traced module of each form, :func:`prepare`), :mod:`.onnx_check`
(the onnxruntime comparison, :func:`check_onnx`) and here the writing (:func:`export_onnx`) and the format
object :data:`FORMAT` (its :class:`OnnxOptions`). Every name is importable from here as before.

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
from pathlib import Path
from typing import Any, Literal, Optional

import torch
from pydantic import Field
from torch import Tensor, fx, nn

from ..errors import SnncError, UnsupportedError
from .base import (PLAIN, RECORDING, SCORES, ExportCheckError, ExportFormat, ExportOptions, check_batch, describe,
                   export_kind, input_shape, refuse_mnn, spiking_output)
from .onnx_check import (TIE_TOLERANCE, CheckReport, check_onnx, explain_burst, read_metadata, reference_outputs,
                         run_step_session)
from .onnx_trace import (FORMS, OPSET, BurstStep, BurstUnrolled, Prepared, SnnStep, SnnUnrolled, name_output_dims,
                         prepare, to_onnx_bytes)


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
                check_inputs = check_batch(tuple(example.shape[1:]) if example is not None else input_shape(model))
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
            data = to_onnx_bytes(prepared, opset)
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


class OnnxOptions(ExportOptions):
    """The options of ``format="onnx"`` (see :func:`export_onnx`).

    Attributes:
        form: ``unrolled`` over a fixed ``T``, or ``step`` (explicit state in and out).
        spikes: the unrolled form also outputs the spikes.
        example: an input batch ``[B, ...]`` used for tracing (default: zeros of the spec's input shape).
        opset: the ONNX opset.
        tie_tolerance: burst: the largest ``|ΔV/θ|`` (in thresholds) of a threshold tie (see :func:`check_onnx`).
    """

    form: Literal["unrolled", "step"] = "unrolled"
    spikes: bool = True
    example: Optional[Any] = Field(default=None, description="a tensor [B, ...]")
    opset: int = Field(default=OPSET, ge=7)
    tie_tolerance: float = Field(default=TIE_TOLERANCE, ge=0.0)


class OnnxFormat(ExportFormat):
    """ONNX, for every target but mnn; checked in onnxruntime (:func:`check_onnx`)."""

    name = "onnx"
    description = "ONNX (ann, snn, burst), checked in onnxruntime"
    suffix = ".onnx"
    check_title = "onnxruntime against PyTorch"
    Options = OnnxOptions

    def export(self, model: nn.Module, path: str | Path, options: ExportOptions) -> Optional[CheckReport]:
        """:func:`export_onnx` with the validated options."""
        return export_onnx(model, path, **self.options(options).model_dump())

    def check(self, source: str | Path | bytes, model: nn.Module, x: Tensor, **kwargs: Any) -> CheckReport:
        """:func:`check_onnx`: compare an exported file with ``model`` on ``x``."""
        return check_onnx(source, model, x, **kwargs)


FORMAT = OnnxFormat()
"""The ``onnx`` entry of :data:`snnc.compiler.export.registry.FORMATS`."""

__all__ = ["FORMAT", "FORMS", "OPSET", "PLAIN", "RECORDING", "SCORES", "TIE_TOLERANCE", "BurstStep", "BurstUnrolled",
           "CheckReport", "ExportCheckError", "OnnxFormat", "OnnxOptions", "Prepared", "SnnStep", "SnnUnrolled",
           "check_onnx", "describe", "explain_burst", "export_kind", "export_onnx", "input_shape",
           "locate_failure", "name_output_dims", "prepare", "read_metadata", "reference_outputs", "refuse_mnn",
           "run_step_session", "spiking_output"]
