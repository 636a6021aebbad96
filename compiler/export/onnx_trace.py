"""The modules ``torch.onnx.export`` traces for each target and form, and the tracing itself.

:func:`prepare` wraps a model in the module of its form (the ann as it is; the snn and burst targets
**unrolled** over a fixed ``T`` or as one **step** with explicit state, see :mod:`.onnx`) with example inputs,
I/O names and dynamic axes; :func:`to_onnx_bytes` traces it. The neurons are the plain-op twins of
:mod:`.plain`, so no autograd function or surrogate gradient reaches the file. Why a module of its own: the
export (:mod:`.onnx`) and the check's probed re-export (:mod:`.onnx_check`) both trace through it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor, nn

from ..errors import UnsupportedError
from .base import PLAIN, RECORDING, SCORES, export_kind, input_shape, spiking_output
from .plain import burst_program, snn_program

OPSET = 17
"""The ONNX opset every file is written with (onnxruntime >= 1.12 runs it)."""

FORMS = ("unrolled", "step")
"""The forms of a spiking export: unrolled over a fixed ``T``, or one step with explicit state."""


def decode_recording(spk: Tensor, mem: Tensor, kind: str) -> Tensor:
    """The snn target's decoded scores ``[B, ...]`` of a recording ``[T, B, ...]`` (``rate``, ``count`` or
    ``membrane`` decoding), as the exported program computes them."""
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
        scores = decode_recording(spk, mem, self.decoding)
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


def to_onnx_bytes(prepared: Prepared, opset: int) -> bytes:
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
