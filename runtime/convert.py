"""Convert a trained ANN to a burst-spiking network and measure it against the number of time steps ``T``.

The pieces, each usable alone:

* :func:`compile_burst` loads the trained ANN (:func:`snnc.compiler.pipeline.load_ann`), calibrates it on a
  named dataset and returns the converted
  :class:`~snnc.compiler.targets.burst.BurstSNN` (``snnc compile SPEC --target burst --checkpoint ...``);
* :func:`sweep` converts one ANN once per burst size ``gamma`` and scores it at every ``T`` of a list, reading
  all of them from one :meth:`~snnc.compiler.targets.burst.BurstSNN.accumulate` run per batch, next to the
  ANN's own score (``snnc convert``);
* scorers (:data:`SCORERS`: accuracy for classification; pixel accuracy, IoU and F1 of the positive class for
  binary segmentation) and :class:`StepSpikeMeter` (spikes per sample after each step);
* :func:`markdown_tables`, :func:`plot_sweep` and :func:`write_sweep` report a sweep (atomic writes).

A sweep's result is a plain, JSON-ready dict::

    {"task": "classification", "metrics": ["accuracy"], "gammas": [1, 5], "timesteps": [4, 8],
     "ann": {"accuracy": 0.91}, "ann_seconds": 1.2,
     "rows": [{"gamma": 1, "timesteps": 4, "accuracy": 0.58, "spikes_per_sample": 1234.5}, ...],
     "seconds": {"1": 30.1, "5": 31.0}, "settings": {"percentile": None, "percentiles": {"1": 99.0, "5": 95.0}, ...},
     "samples": 10000}

Why one ``accumulate`` run per gamma: the output averaged over the first ``t`` steps of a ``T``-step run is
exactly the output of a ``t``-step run (the state starts from the same reset), so every checkpoint comes from
the longest run at no extra cost.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from snnc.compiler.artifact import atomic_write_bytes
from snnc.compiler.errors import SnncError
from snnc.compiler.pipeline import convert, graph_of, load_ann

from .data import check_fits
from .device import module_device

DEFAULT_TIMESTEPS = (4, 8, 16, 32, 64, 128)
"""The ``T`` values ``snnc convert`` reports by default."""
DEFAULT_GAMMAS = (1, 2, 3, 4, 5)
"""The burst sizes ``snnc convert`` sweeps by default (1: ordinary IF neurons)."""
DEFAULT_CALIBRATION_SAMPLES = 2048
"""Training samples for the thresholds when ``--calibration DATASET`` names no count."""
FOLD_STEPS = 8
"""Time steps folded into one pass of the stateless layers during a sweep (bounds memory at batch × 8)."""

OnBatch = Callable[[int], None]
"""Progress callback: called after each evaluated batch with the number of samples in it."""


# --- option parsing -----------------------------------------------------------------------------------------

def parse_int_list(text: str, what: str) -> list[int]:
    """``"4,8,16"`` → ``[4, 8, 16]`` (sorted, duplicates dropped).

    Args:
        text: comma-separated positive integers.
        what: the option's name, for the message.

    Returns:
        The integers, ascending.

    Raises:
        SnncError: empty, not integers, or not positive.
    """
    values: set[int] = set()
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = int(item)
        except ValueError:
            raise SnncError(f"{what} expects comma-separated positive integers such as 4,8,16; got '{text}'") \
                from None
        if value < 1:
            raise SnncError(f"{what} values must be >= 1, got {value}")
        values.add(value)
    if not values:
        raise SnncError(f"{what} needs at least one value, got '{text}'")
    return sorted(values)


def parse_calibration(text: str) -> tuple[str, int]:
    """``"fashion-mnist:1000"`` → ``("fashion-mnist", 1000)``; without ``:N``, :data:`DEFAULT_CALIBRATION_SAMPLES`.

    Raises:
        SnncError: ``N`` is not a positive integer.
    """
    name, _, count = str(text).partition(":")
    if not count:
        return name.strip(), DEFAULT_CALIBRATION_SAMPLES
    try:
        samples = int(count)
    except ValueError:
        samples = 0
    if samples < 1:
        raise SnncError(f"--calibration expects DATASET or DATASET:N with N a positive number of samples, "
                        f"got '{text}'")
    return name.strip(), samples


# --- the ANN ------------------------------------------------------------------------------------------------

def calibration_batches(dataset: str, *, samples: int, batch_size: int = 256, normalize: bool = False,
                        data_dir: str | Path | None = None, seed: int = 0,
                        **options: Any) -> list[torch.Tensor]:
    """The inputs of ``samples`` training samples drawn at random (seeded), in batches.

    Args:
        dataset: a dataset name (see :func:`snnc.runtime.data.load_dataset`).
        samples: how many samples (fewer if the split is smaller).
        batch_size: samples per batch.
        normalize: standardise the images (as the network was trained).
        data_dir: where the dataset is (None: the default roots).
        seed: seed of the draw.
        **options: dataset options (e.g. ISBI's ``crop``).

    Returns:
        Input batches only (labels dropped).

    Raises:
        DataError: the dataset is missing.
    """
    from snnc.runtime.data import load_dataset, make_loader

    data = load_dataset(dataset, "train", data_dir, normalize=normalize, **options)
    out: list[torch.Tensor] = []
    taken = 0
    for x, _ in make_loader(data, batch_size, shuffle=True, seed=seed):
        out.append(x[: samples - taken])
        taken += len(out[-1])
        if taken >= samples:
            break
    return out


class Calibration(list):
    """Calibration input batches that remember where they came from (``label``, e.g. ``"mnist:2048"``); a
    conversion records the label in its settings."""

    def __init__(self, batches: Iterable[torch.Tensor], label: str):
        super().__init__(batches)
        self.label = label


def calibration_data(graph: Any, calibration: str, *, data_dir: str | Path | None = None, batch_size: int = 256,
                     seed: int = 0) -> Calibration:
    """The calibration batches named by ``DATASET`` or ``DATASET:N`` for a network, as it takes its input.

    Raises:
        SnncError: a bad ``:N``. DataError: the dataset is missing or does not fit the network.
    """
    name, samples = parse_calibration(calibration)
    check_fits(graph, name)
    batches = calibration_batches(name, samples=samples, batch_size=batch_size, normalize=graph.input.standardized,
                                  data_dir=data_dir, seed=seed)
    return Calibration(batches, f"{name}:{sum(len(b) for b in batches)}")


def compile_burst(spec: Any, checkpoint: str | Path, calibration: str, gamma: int = 5,
                  percentile: float | None = None,
                  timesteps: int = 64, *, channelwise: bool = False, v_init: float = 0.5,
                  normalization: str = "percentile", params: dict[str, Any] | None = None,
                  data_dir: str | Path | None = None, batch_size: int = 256, seed: int = 0) -> nn.Module:
    """Convert the trained ANN of a spec to a burst SNN, calibrated on a named dataset's training split.

    Args:
        spec: the spec the ANN was trained from.
        checkpoint: its trained weights (an ann artifact or a state dict).
        calibration: ``DATASET`` or ``DATASET:N`` (N training samples, default
            :data:`DEFAULT_CALIBRATION_SAMPLES`).
        gamma: the largest burst (1: IF neurons).
        percentile: the activation percentile that sets each threshold (default by Γ: 99 for IF, 95 for
            bursts; see :func:`~snnc.compiler.targets.burst.default_percentile`).
        timesteps: the default ``T`` of the converted network.
        channelwise: one threshold per channel.
        v_init: initial membrane as a fraction of the threshold.
        normalization: ``"percentile"`` or ``"max"``.
        params: spec parameter overrides.
        data_dir: where the calibration dataset is.
        batch_size: calibration batch size.
        seed: seed of the calibration draw.

    Returns:
        The :class:`~snnc.compiler.targets.burst.BurstSNN` (``config["calibration"]`` names the data).

    Raises:
        SpecError, DataError, UnsupportedError, SnncError: see :func:`load_ann`,
        :func:`calibration_batches` and :func:`snnc.convert`.
    """
    ann = load_ann(spec, checkpoint, params)
    batches = calibration_data(graph_of(ann), calibration, data_dir=data_dir, batch_size=batch_size, seed=seed)
    snn = convert(ann, batches, "burst" if gamma > 1 else "if", gamma=gamma, percentile=percentile,
                       channelwise=channelwise, v_init=v_init, normalization=normalization, timesteps=timesteps)
    return snn


# --- scoring ------------------------------------------------------------------------------------------------

class Accuracy:
    """Top-1 accuracy of class scores ``[B, classes]`` against labels ``[B]``."""

    metrics = ("accuracy",)

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch."""
        self.correct += int((output.argmax(1) == target).sum())
        self.total += int(target.numel())

    def result(self) -> dict[str, float]:
        """``{"accuracy": fraction}``."""
        return {"accuracy": self.correct / max(self.total, 1)}


class BinarySegmentationScores:
    """Pixel accuracy, IoU (Jaccard) and F1 (Dice) of the positive class (label 1) over all pixels seen.

    The prediction is ``argmax`` over channels for ``[B, C, H, W]`` scores, ``score > 0`` for ``[B, 1, H, W]``
    logits. Counts are summed over the whole set before dividing (not averaged per image).
    """

    metrics = ("pixel_accuracy", "iou", "f1")

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch of scores ``[B, C, H, W]`` and masks ``[B, H, W]``."""
        pred = output.argmax(1) if output.shape[1] > 1 else output[:, 0] > 0
        pred, truth = pred.bool(), target.bool()
        self.tp += int((pred & truth).sum())
        self.fp += int((pred & ~truth).sum())
        self.fn += int((~pred & truth).sum())
        self.tn += int((~pred & ~truth).sum())

    def result(self) -> dict[str, float]:
        """``{"pixel_accuracy", "iou", "f1"}`` as fractions (IoU and F1 are 0 when neither side has a positive)."""
        total = self.tp + self.fp + self.fn + self.tn
        union = self.tp + self.fp + self.fn
        return {"pixel_accuracy": (self.tp + self.tn) / max(total, 1),
                "iou": self.tp / union if union else 0.0,
                "f1": 2 * self.tp / (2 * self.tp + self.fp + self.fn) if union else 0.0}


SCORERS: Mapping[str, type] = MappingProxyType({"classification": Accuracy,
                                                "segmentation": BinarySegmentationScores})
"""Task → scorer class (``update(output, target)``, ``result() -> {metric: value}``, ``metrics``)."""


def scorer_for(task: str) -> type:
    """The scorer class of a task.

    Raises:
        SnncError: unknown task (the message lists the known ones).
    """
    if task not in SCORERS:
        raise SnncError(f"no scorer for task '{task}'; known tasks: {', '.join(SCORERS)}")
    return SCORERS[task]


class StepSpikeMeter:
    """Counts the spikes a :class:`~snnc.compiler.targets.burst.BurstSNN` emits at each time step.

    A forward hook on every neuron layer reads its output (``k * theta`` per element) and adds ``k`` summed
    over the batch to the count of each step the call carried; :meth:`start` rewinds to step 0 before a new
    input. Use as a context manager (the hooks are removed on exit).

    Args:
        snn: the converted network.
        steps: the most steps one run will take.

    Attributes:
        per_step: float64 ``[steps]``, spikes (all layers, all samples) emitted at each step since creation.
    """

    def __init__(self, snn: nn.Module, steps: int) -> None:
        self.per_step = torch.zeros(steps, dtype=torch.float64)
        self._cursor: dict[nn.Module, int] = {}
        self._handles = [m.register_forward_hook(self._hook) for m in snn.neurons().values()]

    def start(self) -> None:
        """The next neuron calls are steps 0, 1, ... of a new run."""
        self._cursor.clear()

    def _hook(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        steps = module.steps
        counts = (output / module.threshold.to(output.dtype)).reshape(steps, -1).sum(1, dtype=torch.float64)
        start = self._cursor.get(module, 0)
        stop = min(start + steps, len(self.per_step))
        self.per_step[start:stop] += counts[: stop - start].round().cpu()
        self._cursor[module] = start + steps

    def cumulative(self) -> torch.Tensor:
        """Spikes emitted in steps ``0 .. t-1``, at index ``t - 1``."""
        return self.per_step.cumsum(0)

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "StepSpikeMeter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _batches(loader: Iterable, device: torch.device) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """``(input, target)`` of each batch, on ``device`` (where the model is)."""
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise SnncError("evaluation data must yield (input, target) batches")
        yield batch[0].to(device), batch[1].to(device)


def evaluate_ann(model: nn.Module, loader: Iterable, task: str = "classification",
                 on_batch: OnBatch | None = None) -> dict[str, float]:
    """Score the ANN on ``(input, target)`` batches.

    Args:
        model: the ANN (run in eval mode; its mode is restored), where it is: batches are moved there.
        loader: ``(input, target)`` batches.
        task: ``"classification"`` or ``"segmentation"`` (see :data:`SCORERS`).
        on_batch: progress callback.

    Returns:
        ``{metric: value}``.
    """
    scorer = scorer_for(task)()
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, y in _batches(loader, module_device(model)):
                scorer.update(model(x), y)
                if on_batch is not None:
                    on_batch(len(x))
    finally:
        model.train(training)
    return scorer.result()


def evaluate_snn(snn: nn.Module, loader: Iterable, timesteps: Sequence[int], task: str = "classification",
                 on_batch: OnBatch | None = None) -> dict[int, dict[str, float]]:
    """Score a converted network at every ``T`` in ``timesteps`` from one run per batch.

    Args:
        snn: a :class:`~snnc.compiler.targets.burst.BurstSNN`, where it is: batches are moved there.
        loader: ``(input, target)`` batches.
        timesteps: the ``T`` values (one run of ``max(timesteps)`` steps per batch).
        task: see :data:`SCORERS`.
        on_batch: progress callback.

    Returns:
        ``{T: {metric: value, "spikes_per_sample": spikes in the first T steps, per sample}}``.
    """
    wanted = sorted({int(t) for t in timesteps})
    cls = scorer_for(task)
    scorers = {t: cls() for t in wanted}
    samples = 0
    with StepSpikeMeter(snn, wanted[-1]) as meter:
        for x, y in _batches(loader, module_device(snn)):
            meter.start()
            outputs = snn.accumulate(x, wanted)
            for t in wanted:
                scorers[t].update(outputs[t], y)
            samples += len(x)
            if on_batch is not None:
                on_batch(len(x))
        spikes = meter.cumulative()
    return {t: {**scorers[t].result(), "spikes_per_sample": float(spikes[t - 1]) / max(samples, 1)}
            for t in wanted}


def sweep(ann: nn.Module, calibration: Any, loader: Iterable, *, gammas: Sequence[int] = DEFAULT_GAMMAS,
          timesteps: Sequence[int] = DEFAULT_TIMESTEPS, task: str = "classification",
          percentile: float | None = None, channelwise: bool = False, v_init: float = 0.5,
          normalization: str = "percentile",
          fold_steps: int = FOLD_STEPS, on_batch: OnBatch | None = None,
          on_gamma: Callable[[int, dict[int, dict[str, float]]], None] | None = None) -> dict[str, Any]:
    """Score the ANN, then convert it once per ``gamma`` and score the SNN at every ``T``.

    Args:
        ann: the trained ANN (never modified); everything runs on its device (move it there first).
        calibration: the calibration data, as :func:`snnc.convert` takes it.
        loader: ``(input, target)`` test batches; it is iterated ``1 + len(gammas)`` times.
        gammas: the burst sizes (1: IF neurons).
        timesteps: the ``T`` values.
        task: ``"classification"`` or ``"segmentation"``.
        percentile, channelwise, v_init, normalization: conversion options (see :func:`snnc.convert`); with
            no ``percentile`` each Γ gets its default (99 for IF, 95 for bursts).
        fold_steps: steps folded into one pass of the stateless layers (memory ~ batch × fold_steps; the batch
            is ``loader.batch_size``, else 256).
        on_batch: progress callback, called for the ANN's batches and every gamma's.
        on_gamma: called with ``(gamma, results)`` after each gamma (e.g. to print a line).

    Returns:
        The result dict described in the module docstring.
    """
    wanted = sorted({int(t) for t in timesteps})
    gammas = sorted({int(g) for g in gammas})
    metrics = list(scorer_for(task).metrics)
    start = time.perf_counter()
    ann_scores = evaluate_ann(ann, loader, task, on_batch)
    ann_seconds = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    samples = 0
    calibrated = 0
    batch = getattr(loader, "batch_size", None) or 256
    from snnc.compiler.targets.burst import default_percentile

    percentiles = {str(g): default_percentile(g) if percentile is None else percentile for g in gammas}
    for g in gammas:
        start = time.perf_counter()
        snn = convert(ann, calibration, "burst" if g > 1 else "if", gamma=g, percentile=percentiles[str(g)],
                           channelwise=channelwise, v_init=v_init, normalization=normalization,
                           timesteps=wanted[-1], fold_batch=max(1, batch * fold_steps))
        calibrated = snn.config.get("calibration_samples", 0)
        counted = _Counter(on_batch)
        results = evaluate_snn(snn, loader, wanted, task, counted)
        samples = counted.samples
        seconds[str(g)] = round(time.perf_counter() - start, 2)
        for t in wanted:
            rows.append({"gamma": g, "timesteps": t, **results[t]})
        if on_gamma is not None:
            on_gamma(g, results)
    return {"task": task, "metrics": metrics, "gammas": gammas, "timesteps": wanted, "ann": ann_scores,
            "ann_seconds": round(ann_seconds, 2), "rows": rows, "seconds": seconds, "samples": samples,
            "settings": {"percentile": percentile, "percentiles": percentiles, "channelwise": channelwise,
                         "v_init": v_init,
                         "normalization": normalization, "calibration_samples": calibrated}}


class _Counter:
    """Wraps a progress callback and counts the samples it saw."""

    def __init__(self, inner: OnBatch | None) -> None:
        self.inner = inner
        self.samples = 0

    def __call__(self, n: int) -> None:
        self.samples += n
        if self.inner is not None:
            self.inner(n)


# --- reporting ----------------------------------------------------------------------------------------------

def result_rows(results: Mapping[str, Any], gamma: int) -> dict[int, dict[str, float]]:
    """The rows of one gamma, keyed by ``T``."""
    return {r["timesteps"]: r for r in results["rows"] if r["gamma"] == gamma}


def gamma_label(gamma: int) -> str:
    """``"Γ=1 (IF)"`` or ``"Γ=5"``."""
    return "Γ=1 (IF)" if gamma == 1 else f"Γ={gamma}"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def markdown_tables(results: Mapping[str, Any], metrics: Sequence[str] | None = None,
                    spikes: bool = True) -> str:
    """Markdown tables of a sweep: one per metric (``T`` rows, one column per gamma, the ANN last), then the
    spikes per sample.

    Args:
        results: a :func:`sweep` result.
        metrics: which metrics (default: all of the task's).
        spikes: add the spikes-per-sample table.

    Returns:
        The tables, in percent (metrics) and spike counts, separated by blank lines.
    """
    metrics = list(metrics or results["metrics"])
    gammas = results["gammas"]
    by_gamma = {g: result_rows(results, g) for g in gammas}
    blocks = []
    for metric in metrics:
        head = f"| T | {' | '.join(gamma_label(g) for g in gammas)} | ANN |"
        lines = [f"**{metric} (%)**", "", head, "|" + " ---: |" * (len(gammas) + 2)]
        for t in results["timesteps"]:
            cells = [_percent(by_gamma[g][t][metric]) for g in gammas]
            lines.append(f"| {t} | {' | '.join(cells)} | {_percent(results['ann'][metric])} |")
        blocks.append("\n".join(lines))
    if spikes:
        head = f"| T | {' | '.join(gamma_label(g) for g in gammas)} |"
        lines = ["**spikes per sample**", "", head, "|" + " ---: |" * (len(gammas) + 1)]
        for t in results["timesteps"]:
            lines.append(f"| {t} | {' | '.join(_count(by_gamma[g][t]['spikes_per_sample']) for g in gammas)} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


MIN_PLOT_SPAN = 2.0
"""The narrowest accuracy range a sweep plot shows, in percentage points (so that a difference of a few test
images does not fill the axis)."""


def plot_range(values: Sequence[float], min_span: float = MIN_PLOT_SPAN) -> tuple[float, float]:
    """The y-range of a percentage plot: every value (the ANN's included) with a margin, at least ``min_span``
    points wide, inside [0, 100]."""
    lo, hi = min(values), max(values)
    if hi - lo < min_span:
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    pad = 0.08 * (hi - lo)
    lo, hi = max(0.0, lo - pad), min(100.0, hi + pad)
    if hi - lo < min_span:  # pushed against 0 or 100
        lo, hi = (0.0, min_span) if lo == 0.0 else (100.0 - min_span, 100.0)
    return lo, hi


def plot_sweep(results: Mapping[str, Any], path: str | Path, metric: str | None = None,
               title: str | None = None) -> Path:
    """Write :func:`sweep_figure` as a PNG (atomically).

    Args:
        results: a :func:`sweep` result.
        path: the PNG to write.
        metric: which metric (default: the task's first).
        title: the plot title.

    Returns:
        ``path``.
    """
    fig = sweep_figure(results, metric, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def sweep_figure(results: Mapping[str, Any], metric: str | None = None, title: str | None = None) -> Any:
    """A matplotlib figure of ``metric`` against ``T`` (log-2 axis, one line per gamma, the ANN as a dashed
    line, a y-range from :func:`plot_range`) above a panel of spikes per sample against ``T``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    metric = metric or results["metrics"][0]
    fig = Figure(figsize=(6.4, 6.4), dpi=110)
    ax, spikes = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ts = results["timesteps"]
    ann = 100 * results["ann"][metric]
    values = [ann]
    for g in results["gammas"]:
        rows = result_rows(results, g)
        ys = [100 * rows[t][metric] for t in ts]
        values += ys
        ax.plot(ts, ys, marker="o", label=gamma_label(g))
        spikes.plot(ts, [rows[t]["spikes_per_sample"] for t in ts], marker="o", label=gamma_label(g))
    ax.axhline(ann, color="black", linestyle="--", label=f"ANN {ann:.2f}%")
    ax.set_ylim(*plot_range(values))
    ax.set_ylabel(f"{metric} (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    spikes.set_xscale("log", base=2)
    spikes.set_xticks(ts, [str(t) for t in ts])
    spikes.set_xlabel("time steps T")
    spikes.set_ylabel("spikes per sample")
    spikes.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def write_sweep(results: Mapping[str, Any], out_dir: str | Path, *, title: str | None = None,
                stem: str = "results") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` (or one PNG per metric) into ``out_dir``.

    Returns:
        Mapping ``"json"``, ``"markdown"``, ``"plot"`` (and ``"plot_<metric>"``) → path written.
    """
    import json

    out = Path(out_dir)
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}
    atomic_write_bytes(paths["json"], (json.dumps(_jsonable(results), indent=2) + "\n").encode("utf-8"))
    text = (f"# {title}\n\n" if title else "") + markdown_tables(results)
    atomic_write_bytes(paths["markdown"], text.encode("utf-8"))
    metrics = results["metrics"]
    paths["plot"] = plot_sweep(results, out / f"{stem}.png", metrics[0], title)
    for metric in metrics[1:]:
        paths[f"plot_{metric}"] = plot_sweep(results, out / f"{stem}_{metric}.png", metric, title)
    return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
