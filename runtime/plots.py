"""PNG plots of a training run: loss and accuracy curves, the training loss per iteration, the method's metrics
and per-environment accuracy per epoch, a spike raster, per-layer firing rates, a grid of sample images per
environment (Colored MNIST) and segmentation predictions beside their images and labels (one column per model).

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


MAX_SCANNED_ITEMS = 5000
"""A dataset without an ``envs`` array is read item by item for its environments' samples up to this many items."""


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


CURVE_KEYS = ("loss", "accuracy", "env")
"""The keys of an epoch's ``train`` record that :func:`plot_curves` draws (or that are not a number); every other
numeric key is a method metric (DANN's ``domain_loss_source``, spike similarity's ``dissimilarity``...)."""


def loss_per_iteration_figure(epochs: Sequence[dict[str, Any]], title: str = ""):
    """The training loss of every batch against the iteration (1-based over the run), as the snnTorch tutorial
    draws it; faint vertical lines mark the ends of epochs.

    Args:
        epochs: per-epoch records with ``epoch`` and ``batch_losses`` (one loss per batch, None where not logged).
        title: a figure title.

    Returns:
        The matplotlib ``Figure`` (one axes; its line's data are the iterations and losses).
    """
    from matplotlib.figure import Figure

    xs: list[int] = []
    ys: list[float] = []
    ends: list[float] = []
    iteration = 0
    for record in epochs:
        for loss in record.get("batch_losses") or []:
            iteration += 1
            if isinstance(loss, (int, float)) and math.isfinite(loss):
                xs.append(iteration)
                ys.append(float(loss))
        ends.append(iteration + 0.5)
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(xs, ys, "-", lw=1, color="tab:blue", label="train loss (per batch)")
    if len(ends) > 1 and ys:
        ax.vlines(ends[:-1], min(ys), max(ys), colors="grey", alpha=0.3, lw=0.8)
    ax.set(xlabel="iteration", ylabel="loss", title=title or "training loss per iteration")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_loss_per_iteration(epochs: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write :func:`loss_per_iteration_figure` as a PNG; returns the path."""
    return _save(loss_per_iteration_figure(epochs, title), path)


def method_metric_names(epochs: Sequence[dict[str, Any]]) -> list[str]:
    """The numeric keys of the epochs' ``train`` records beyond loss and accuracy, in first-seen order."""
    names: list[str] = []
    for record in epochs:
        for key, value in (record.get("train") or {}).items():
            if (key not in CURVE_KEYS and key not in names and isinstance(value, (int, float))
                    and not isinstance(value, bool)):
                names.append(key)
    return names


def has_environments(epochs: Sequence[dict[str, Any]]) -> bool:
    """Whether any epoch's train or validation record holds a per-environment accuracy (``env``)."""
    return any((record.get(split) or {}).get("env") for record in epochs for split in ("train", "val"))


def method_metrics_figure(epochs: Sequence[dict[str, Any]], title: str = ""):
    """One panel per method metric per epoch (:func:`method_metric_names`), and one of the accuracy per
    environment (train and validation, in %) when the data label environments.

    Args:
        epochs: per-epoch records (``epoch``, ``train`` and optionally ``val``, each with an optional ``env``).
        title: a figure title.

    Returns:
        The matplotlib ``Figure``; each panel's title is its metric's name (``accuracy per environment (%)`` for
        the environments' panel, whose lines are labelled ``train env 0``, ``val env 1``...).

    Raises:
        ValueError: nothing beyond loss and accuracy was logged.
    """
    from matplotlib.figure import Figure

    names = method_metric_names(epochs)
    panels = len(names) + (1 if has_environments(epochs) else 0)
    if not panels:
        raise ValueError("no method metrics or environments to plot (only loss and accuracy were logged)")
    cols = min(3, panels)
    rows = math.ceil(panels / cols)
    fig = Figure(figsize=(3.6 * cols + 0.6, 3.0 * rows + 0.6), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax, name in zip(axes, names):
        xs, ys = _series(epochs, "train", name)
        ax.plot(xs, ys, "o-")
        ax.set(xlabel="epoch", title=name)
    if has_environments(epochs):
        ax = axes[len(names)]
        for split, style in (("train", "o-"), ("val", "s--")):
            envs = sorted({k for r in epochs for k in ((r.get(split) or {}).get("env") or {})}, key=str)
            for env in envs:
                xs, ys = _series(epochs, split, "env", env, "accuracy")
                if xs:
                    ax.plot(xs, [100 * y for y in ys], style, label=f"{split} env {env}")
        ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy per environment (%)")
        ax.legend(fontsize="small")
    for ax in axes[:panels]:
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[panels:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def plot_method_metrics(epochs: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write :func:`method_metrics_figure` as a PNG; returns the path.

    Raises:
        ValueError: nothing beyond loss and accuracy was logged.
    """
    return _save(method_metrics_figure(epochs, title), path)


def image_rgb(x: Any):
    """An image ``C x H x W`` in [0, 1] as a NumPy ``H x W x 3`` array to draw: one channel is grey, two are
    ``[red, green]`` (Colored MNIST's layout, blue zero), three are RGB."""
    import numpy as np

    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, axis=0)
    elif arr.shape[0] == 2:
        arr = np.concatenate([arr, np.zeros_like(arr[:1])], axis=0)
    elif arr.shape[0] != 3:
        raise ValueError(f"cannot draw an image of {arr.shape[0]} channels (1, 2 or 3)")
    return np.clip(arr.transpose(1, 2, 0), 0.0, 1.0)


def environment_samples(dataset: Any, per_env: int = 6) -> dict[int, list[int]]:
    """The indices of the first ``per_env`` items of each environment of a dataset of ``(x, y, env)`` items, by
    environment (ascending); read from ``dataset.envs`` when it has one, else item by item (the first
    :data:`MAX_SCANNED_ITEMS`)."""
    envs = getattr(dataset, "envs", None)
    found: dict[int, list[int]] = {}
    if envs is not None:
        for env in sorted({int(e) for e in envs.tolist()}):
            found[env] = [int(i) for i in (envs == env).nonzero().flatten()[:per_env].tolist()]
        return found
    for index in range(min(len(dataset), MAX_SCANNED_ITEMS)):
        item = dataset[index]
        if len(item) < 3:
            raise ValueError("the dataset's items carry no environment: (x, y, env) expected")
        slot = found.setdefault(int(item[2]), [])
        if len(slot) < per_env:
            slot.append(index)
    return dict(sorted(found.items()))


def environment_samples_figure(dataset: Any, per_env: int = 6, title: str = ""):
    """A grid of sample images, a row per environment: its first ``per_env`` items, each titled with its label
    (``y``) and, when the dataset keeps them, its digit (``d``); the row says the environment and, for Colored
    MNIST, its colour-flip probability (``grey`` for a grey environment).

    Args:
        dataset: items ``(x, y, env)`` (e.g. ``load_dataset("irm-colored-mnist", base="mnist-sample")``).
        per_env: images per environment.
        title: a figure title.

    Returns:
        The matplotlib ``Figure``; row ``r``, column ``c`` is ``fig.axes[r * per_env + c]``, whose image's array
        is :func:`image_rgb` of the item (blank axes where an environment has fewer items).

    Raises:
        ValueError: no items, or items without an environment.
    """
    from matplotlib.figure import Figure

    samples = environment_samples(dataset, per_env)
    if not samples:
        raise ValueError("no images to draw: the dataset is empty")
    recipes = getattr(dataset, "environments", ())
    digits = getattr(dataset, "digits", None)
    fig = Figure(figsize=(1.3 * per_env + 0.8, 1.5 * len(samples) + 0.6), layout="constrained")
    axes = fig.subplots(len(samples), per_env, squeeze=False)
    for row, (env, indices) in enumerate(samples.items()):
        for col in range(per_env):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(indices):
                ax.axis("off")
                continue
            x, y = dataset[indices[col]][:2]
            ax.imshow(image_rgb(x), interpolation="nearest")
            ax.set_title(f"y={int(y)}" + (f" d={int(digits[indices[col]])}" if digits is not None else ""),
                         fontsize="small")
        name = f"env {env}"
        if env < len(recipes) and hasattr(recipes[env], "flip"):
            flip = recipes[env].flip
            name += "\ngrey" if flip is None else f"\nflip {flip:g}"
        axes[row, 0].set_ylabel(name)
    if title:
        fig.suptitle(title)
    return fig


def plot_environment_samples(dataset: Any, path: str | Path, per_env: int = 6, title: str = "") -> Path:
    """Write :func:`environment_samples_figure` as a PNG; returns the path."""
    return _save(environment_samples_figure(dataset, per_env, title), path)


def mask_iou(prediction: Any, label: Any, positive: int = 1) -> float | None:
    """The intersection over union of the ``positive`` class of two masks (None when both lack it)."""
    pred, true = (prediction == positive), (label == positive)
    union = int((pred | true).sum())
    return None if union == 0 else int((pred & true).sum()) / union


def segmentation_figure(images: Sequence[Any], labels: Sequence[Any], predictions: dict[str, Sequence[Any]],
                        title: str = "", positive: int = 1):
    """Segmentation predictions beside their inputs: a row per sample, columns image, label, then one per model
    (e.g. ``{"ANN": masks, "SNN": masks}``), each prediction titled with its IoU of the ``positive`` class.

    Args:
        images: inputs ``C x H x W`` in [0, 1] (standardised inputs are drawn min-max scaled).
        labels: masks ``H x W`` of class indices.
        predictions: model name → masks ``H x W``, as many as ``images``.
        title: a figure title.
        positive: the class the IoU is of (1: ISBI's membrane).

    Returns:
        The matplotlib ``Figure``; row ``r``, column ``c`` is ``fig.axes[r * (2 + len(predictions)) + c]``.

    Raises:
        ValueError: no images, or a model with another number of masks than images.
    """
    from matplotlib.figure import Figure

    if not len(images):
        raise ValueError("no images to draw")
    for name, masks in predictions.items():
        if len(masks) != len(images):
            raise ValueError(f"{name}: {len(masks)} predicted masks for {len(images)} images")
    columns = ["image", "label", *predictions]
    fig = Figure(figsize=(2.2 * len(columns), 2.3 * len(images) + 0.5), layout="constrained")
    axes = fig.subplots(len(images), len(columns), squeeze=False)
    for row, (image, label) in enumerate(zip(images, labels)):
        x = image.detach().cpu().float() if hasattr(image, "detach") else image
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:  # standardised: scale to [0, 1] to draw
            x = (x - lo) / max(hi - lo, 1e-12)
        cells = [(image_rgb(x), "image"), (label, "label")]
        for name, masks in predictions.items():
            iou = mask_iou(masks[row], label, positive)
            cells.append((masks[row], name + ("" if iou is None else f"\nIoU {100 * iou:.1f}%")))
        for col, (data, head) in enumerate(cells):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.imshow(data, interpolation="nearest")
            else:
                arr = data.detach().cpu().numpy() if hasattr(data, "detach") else data
                ax.imshow(arr, cmap="gray", vmin=0, vmax=max(1, int(arr.max())), interpolation="nearest")
            if row == 0 or col >= 2:
                ax.set_title(head if row == 0 or col < 2 else head.split("\n", 1)[-1], fontsize="small")
        axes[row, 0].set_ylabel(f"sample {row}")
    if title:
        fig.suptitle(title)
    return fig


def plot_segmentation(images: Sequence[Any], labels: Sequence[Any], predictions: dict[str, Sequence[Any]],
                      path: str | Path, title: str = "", positive: int = 1) -> Path:
    """Write :func:`segmentation_figure` as a PNG; returns the path."""
    return _save(segmentation_figure(images, labels, predictions, title, positive), path)


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
