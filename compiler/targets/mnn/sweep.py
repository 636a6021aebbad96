"""Robustness sweeps: one trained network evaluated against the severity of each non-ideality.

:func:`sweep` rebuilds the mnn network for every point of every axis (each point changes one setting of the
base options) and evaluates it with a caller-given function (e.g. accuracy on a test loader); it returns a
JSON-ready dict with the float network's and the ideal-device network's scores as references.
:func:`plot_sweep` draws one panel per axis (matplotlib, Agg).

Axes (:data:`AXES`): ``fault_proportion`` (stuck devices, half at LRS and half at HRS), ``conductance_states``,
``adc_bits`` and ``on_off_ratio`` (``r_off / r_on`` with ``r_on`` at the device model's value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn

from ...errors import UnsupportedError, did_you_mean
from .build import build_mnn
from .options import MnnOptions, _merge, resolve_options

AXES: dict[str, Sequence[float]] = {
    "fault_proportion": (0.0, 0.05, 0.1, 0.2, 0.3),
    "conductance_states": (2, 4, 8, 16, 32, 64, 128, 256),
    "adc_bits": (2, 3, 4, 5, 6, 7, 8),
    "on_off_ratio": (2, 5, 10, 20, 50, 100),
}
"""The default axes and their points."""


def axis_override(axis: str, value: float, base: MnnOptions) -> dict[str, Any]:
    """The options change for one point of one axis.

    Raises:
        UnsupportedError: unknown axis (with a did-you-mean).
    """
    if axis == "fault_proportion":
        return {"nonidealities": {"device_faults": {"lrs_proportion": value / 2, "hrs_proportion": value / 2}}}
    if axis == "conductance_states":
        return {"nonidealities": {"finite_conductance_states": {"states": int(value)}}}
    if axis == "adc_bits":
        return {"adc_bits": int(value)}
    if axis == "on_off_ratio":
        r_on = base.resistances[0]
        return {"r_on": r_on, "r_off": r_on * float(value)}
    raise UnsupportedError(f"unknown sweep axis '{axis}'.{did_you_mean(axis, AXES)} Axes: {', '.join(AXES)}")


def classification_accuracy(data: Iterable, max_batches: Optional[int] = None) -> Callable[[nn.Module], float]:
    """An evaluation function for :func:`sweep`: top-1 accuracy over ``(x, y)`` batches.

    A spiking module's ``(spk, mem)`` output is decoded with its ``decode`` method.
    """

    def evaluate(model: nn.Module) -> float:
        correct = total = 0
        with torch.no_grad():
            for i, (x, y) in enumerate(data):
                if max_batches is not None and i >= max_batches:
                    break
                out = model(x)
                if isinstance(out, tuple) and hasattr(model, "decode"):
                    out = model.decode(*out)
                correct += int((out.argmax(1) == y).sum())
                total += int(y.numel())
        return correct / max(total, 1)

    return evaluate


def sweep(module: nn.Module, evaluate: Callable[[nn.Module], float],
          options: MnnOptions | Mapping[str, Any] | None = None,
          axes: Mapping[str, Sequence[float]] | Iterable[str] | None = None, *, progress: bool = True) -> dict[str, Any]:
    """Evaluate ``module`` on crossbars for every point of every axis.

    Args:
        module: the trained float network (ann or snn); not modified.
        evaluate: model → score (e.g. :func:`classification_accuracy`).
        options: the base mnn options every point starts from.
        axes: axis → points, or axis names (default points), or None for all of :data:`AXES`.
        progress: show a progress bar (rich).

    Returns:
        ``{"float": score, "ideal": score, "base_options": {...}, "axes": {axis: {"values": [...],
        "scores": [...]}}}`` — ``ideal`` is the base options without non-idealities and without an ADC.
    """
    base = options if isinstance(options, MnnOptions) else resolve_options(options)
    if axes is None:
        axes = dict(AXES)
    elif not isinstance(axes, Mapping):
        names = list(axes)
        for a in names:
            axis_override(a, 1, base)  # an unknown axis fails here, with a did-you-mean
        axes = {a: AXES[a] for a in names}
    for a in axes:
        axis_override(a, next(iter(axes[a])), base)  # unknown axes fail before any work
    plain = base.model_dump()
    ideal = resolve_options({**plain, "adc_bits": None, "nonidealities": {}})
    jobs = [(a, v) for a, values in axes.items() for v in values]
    result: dict[str, Any] = {"base_options": plain, "axes": {a: {"values": list(v), "scores": []}
                                                             for a, v in axes.items()}}

    def run(track):
        result["float"] = float(evaluate(module))
        result["ideal"] = float(evaluate(build_mnn(module, ideal).network))
        for a, v in track(jobs):
            opts = resolve_options(_merge(plain, axis_override(a, v, base)))
            result["axes"][a]["scores"].append(float(evaluate(build_mnn(module, opts).network)))

    if progress:
        from rich.progress import track as rich_track

        run(lambda jobs_: rich_track(jobs_, description="mnn sweep"))
    else:
        run(lambda jobs_: jobs_)
    return result


LABELS = {"fault_proportion": "stuck devices (proportion, half LRS half HRS)",
          "conductance_states": "conductance states per device", "adc_bits": "ADC bits",
          "on_off_ratio": "r_off / r_on"}


def sweep_figure(result: Mapping[str, Any], title: str = "accuracy on memristive crossbars",
                 metric: str = "accuracy"):
    """The figure of a sweep: one panel per axis, scores in % (as the tables), float and ideal-device references
    as dashed lines. Returns the matplotlib figure (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = list(result["axes"].items())
    fig, panels = plt.subplots(1, len(axes), figsize=(4 * len(axes), 3.4), squeeze=False)
    for ax, (name, data) in zip(panels[0], axes):
        ax.plot(data["values"], [100 * s for s in data["scores"]], "o-", label="mnn")
        ax.axhline(100 * result["float"], color="k", ls="--", lw=1, label="float network")
        ax.axhline(100 * result["ideal"], color="tab:green", ls=":", lw=1.5, label="ideal devices")
        if name in ("conductance_states", "on_off_ratio"):
            ax.set_xscale("log", base=2 if name == "conductance_states" else 10)
        ax.set_xlabel(LABELS.get(name, name))
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    panels[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_sweep(result: Mapping[str, Any], path: str | Path, title: str = "accuracy on memristive crossbars",
               metric: str = "accuracy") -> Path:
    """Draw a sweep (:func:`sweep_figure`) to a PNG file, atomically."""
    import io

    import matplotlib.pyplot as plt

    from ...artifact import atomic_write_bytes

    fig = sweep_figure(result, title, metric)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
