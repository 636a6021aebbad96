"""PNG plots of a training run: loss and accuracy curves, a spike raster and per-layer firing rates.

Figures are built with matplotlib's object-oriented API (``matplotlib.figure.Figure``, rendered by the Agg
canvas), never through ``pyplot``: no global figure state, no display needed, nothing changes matplotlib's
backend for the rest of the process. Each PNG is written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Sequence

from snnc.compiler.artifact import atomic_write_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
"""The first bytes of every PNG file."""

MAX_RASTER_NEURONS = 2000
"""At most this many neurons per layer are drawn in a raster (evenly spaced), to keep files small."""


def _save(fig, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _series(epochs: Sequence[dict[str, Any]], *keys: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for record in epochs:
        value: Any = record
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(int(record["epoch"]))
            ys.append(float(value))
    return xs, ys


def plot_curves(epochs: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch (train and validation) side by side.

    Args:
        epochs: per-epoch records with ``epoch``, ``train`` and ``val`` (each holding ``loss`` and ``accuracy``).
        path: the PNG to write.
        title: a figure title.

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "o-"), ("val", "s--")):
        xs, ys = _series(epochs, split, "loss")
        if xs:
            loss_ax.plot(xs, ys, style, label=split)
        xs, ys = _series(epochs, split, "accuracy")
        if xs:
            acc_ax.plot(xs, [100 * y for y in ys], style, label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_spike_raster(trains: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """One raster per neuron layer: a black cell at (step, neuron) for every spike of one sample.

    Args:
        trains: layer name → spikes ``[T, N]`` (a tensor or array of one sample; ``[T, 1, N]`` is squeezed).
        path: the PNG to write.
        title: a figure title.

    Returns:
        The path written.

    Raises:
        ValueError: no layers.
    """
    import numpy as np
    from matplotlib.figure import Figure

    if not trains:
        raise ValueError("no spike trains to plot")
    fig = Figure(figsize=(8, 2.2 * len(trains) + 0.6), layout="constrained")
    axes = fig.subplots(len(trains), 1, squeeze=False)[:, 0]
    for ax, (name, spikes) in zip(axes, trains.items()):
        arr = np.asarray(spikes.detach().cpu() if hasattr(spikes, "detach") else spikes, dtype=np.float32)
        arr = arr.reshape(arr.shape[0], -1)
        neurons = arr.shape[1]
        keep = np.arange(neurons)
        if neurons > MAX_RASTER_NEURONS:
            keep = np.linspace(0, neurons - 1, MAX_RASTER_NEURONS).astype(int)
        # Why an image, not markers: a thousand neurons' dots merge into bars; one pixel row per neuron does not.
        ax.imshow(arr[:, keep].T > 0, aspect="auto", cmap="Greys", interpolation="nearest", origin="lower",
                  extent=(-0.5, arr.shape[0] - 0.5, -0.5, neurons - 0.5), vmin=0, vmax=1)
        rate = float(arr.mean()) if arr.size else 0.0
        ax.set(ylabel="neuron", title=f"{name}: {neurons} neurons, {int(arr.sum())} spikes, rate {rate:.3f}")
    axes[-1].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_firing_rates(rates: dict[str, float], path: str | Path, title: str = "") -> Path:
    """A bar per neuron layer: spikes per neuron per time step.

    Args:
        rates: layer name → firing rate.
        path: the PNG to write.
        title: a figure title.

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 1.1 * len(rates) + 2), 3.4), layout="constrained")
    ax = fig.subplots()
    names = list(rates)
    bars = ax.bar(names, [rates[n] for n in names], color="tab:blue")
    ax.bar_label(bars, fmt="%.3f")
    ax.set(ylabel="spikes / neuron / step", title=title or "firing rate per layer")
    ax.set_ylim(0, max([1e-3, *rates.values()]) * 1.2)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def is_png(path: str | Path) -> bool:
    """Whether ``path`` is a file starting with the PNG signature."""
    p = Path(path)
    return p.is_file() and p.read_bytes()[:8] == PNG_MAGIC
