"""Sweeps: one trained network converted or rebuilt many ways, each way scored on the same test batches.

* :func:`sweep` converts an ANN once per burst size ``gamma`` and scores it at every ``T`` of a list, reading all
  of them from one :meth:`~snnc.compiler.targets.burst.BurstSNN.accumulate` run per batch, next to the ANN's own
  score (``snnc convert``);
* :func:`mnn_sweep` rebuilds a network on simulated crossbars for every point of every non-ideality axis (the
  points come from :func:`snnc.compiler.targets.mnn.sweep.plan_sweep`) and scores each with a caller-given
  function such as :func:`classification_accuracy` (``snnc mnn-sweep``);
* :func:`evaluate_ann` and :func:`evaluate_snn` score one network.

Every score goes through :func:`snnc.runtime.evaluate.run_batches`, the one evaluation loop, and the scorers of
:mod:`snnc.runtime.scoring`. :mod:`snnc.runtime.sweep_report` writes the tables and plots.

A burst sweep's result is a plain, JSON-ready dict::

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

import time
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from torch import nn

from snnc.compiler.pipeline import convert

from .evaluate import OnBatch, run_batches
from .scoring import Accuracy, StepSpikeMeter, scorer_for

DEFAULT_TIMESTEPS = (4, 8, 16, 32, 64, 128)
"""The ``T`` values ``snnc convert`` reports by default."""
DEFAULT_GAMMAS = (1, 2, 3, 4, 5)
"""The burst sizes ``snnc convert`` sweeps by default (1: ordinary IF neurons)."""
FOLD_STEPS = 8
"""Time steps folded into one pass of the stateless layers during a sweep (bounds memory at batch × 8)."""


class _Counter:
    """Wraps a progress callback and counts the samples it saw."""

    def __init__(self, inner: OnBatch | None) -> None:
        self.inner = inner
        self.samples = 0

    def __call__(self, n: int) -> None:
        self.samples += n
        if self.inner is not None:
            self.inner(n)


def evaluate_ann(model: nn.Module, loader: Iterable, task: str = "classification",
                 on_batch: OnBatch | None = None) -> dict[str, float]:
    """Score the ANN on ``(input, target)`` batches.

    Args:
        model: the ANN (run in eval mode; its mode is restored), where it is: batches are moved there.
        loader: ``(input, target)`` batches.
        task: ``"classification"`` or ``"segmentation"`` (see :data:`~snnc.runtime.scoring.SCORERS`).
        on_batch: progress callback.

    Returns:
        ``{metric: value}``.
    """
    scorer = scorer_for(task)()
    run_batches(model, loader, lambda output, batch: scorer.update(output, batch.y), on_batch=on_batch)
    return scorer.result()


def evaluate_snn(snn: nn.Module, loader: Iterable, timesteps: Sequence[int], task: str = "classification",
                 on_batch: OnBatch | None = None) -> dict[int, dict[str, float]]:
    """Score a converted network at every ``T`` in ``timesteps`` from one run per batch.

    Args:
        snn: a :class:`~snnc.compiler.targets.burst.BurstSNN`, where it is: batches are moved there.
        loader: ``(input, target)`` batches.
        timesteps: the ``T`` values (one run of ``max(timesteps)`` steps per batch).
        task: see :data:`~snnc.runtime.scoring.SCORERS`.
        on_batch: progress callback.

    Returns:
        ``{T: {metric: value, "spikes_per_sample": spikes in the first T steps, per sample}}``.
    """
    wanted = sorted({int(t) for t in timesteps})
    cls = scorer_for(task)
    scorers = {t: cls() for t in wanted}
    counted = _Counter(on_batch)
    with StepSpikeMeter(snn, wanted[-1]) as meter:
        def forward(x: Any) -> dict[int, Any]:
            meter.start()
            return snn.accumulate(x, wanted)

        def update(outputs: dict[int, Any], batch: Any) -> None:
            for t in wanted:
                scorers[t].update(outputs[t], batch.y)

        run_batches(snn, loader, update, forward=forward, on_batch=counted)
        spikes = meter.cumulative()
    return {t: {**scorers[t].result(), "spikes_per_sample": float(spikes[t - 1]) / max(counted.samples, 1)}
            for t in wanted}


def sweep(ann: nn.Module, calibration: Any, loader: Iterable, *, gammas: Sequence[int] = DEFAULT_GAMMAS,
          timesteps: Sequence[int] = DEFAULT_TIMESTEPS, task: str = "classification",
          percentile: float | None = None, channelwise: bool = False, v_init: float = 0.5,
          normalization: str = "percentile", calibrate: Any = None, calibration_timesteps: int | None = None,
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
        percentile, channelwise, v_init, normalization, calibrate, calibration_timesteps: conversion options
            (see :func:`snnc.convert`); with no ``percentile`` each Γ gets its default (99 for IF, 95 for
            bursts), with no ``calibrate`` the default calibration after conversion.
        fold_steps: steps folded into one pass of the stateless layers (memory ~ batch × fold_steps; the batch
            is ``loader.batch_size``, else 256).
        on_batch: progress callback, called for the ANN's batches and every gamma's.
        on_gamma: called with ``(gamma, results)`` after each gamma (e.g. to print a line).

    Returns:
        The result dict described in the module docstring.
    """
    from snnc.compiler.targets.burst import default_percentile

    wanted = sorted({int(t) for t in timesteps})
    gammas = sorted({int(g) for g in gammas})
    metrics = list(scorer_for(task).metrics)
    start = time.perf_counter()
    ann_scores = evaluate_ann(ann, loader, task, on_batch)
    ann_seconds = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    samples = calibrated = 0
    chosen: dict[str, Any] = {}
    batch = getattr(loader, "batch_size", None) or 256
    percentiles = {str(g): default_percentile(g) if percentile is None else percentile for g in gammas}
    for g in gammas:
        start = time.perf_counter()
        snn = convert(ann, calibration, "burst" if g > 1 else "if", gamma=g, percentile=percentiles[str(g)],
                      channelwise=channelwise, v_init=v_init, normalization=normalization,
                      timesteps=wanted[-1], fold_batch=max(1, batch * fold_steps), calibrate=calibrate,
                      calibration_timesteps=calibration_timesteps)
        calibrated = snn.config.get("calibration_samples", 0)
        chosen = {k: snn.config.get(k) for k in ("calibrate", "calibration_timesteps", "calibration_images")}
        counted = _Counter(on_batch)
        results = evaluate_snn(snn, loader, wanted, task, counted)
        samples = counted.samples
        seconds[str(g)] = round(time.perf_counter() - start, 2)
        rows += [{"gamma": g, "timesteps": t, **results[t]} for t in wanted]
        if on_gamma is not None:
            on_gamma(g, results)
    return {"task": task, "metrics": metrics, "gammas": gammas, "timesteps": wanted, "ann": ann_scores,
            "ann_seconds": round(ann_seconds, 2), "rows": rows, "seconds": seconds, "samples": samples,
            "settings": {"percentile": percentile, "percentiles": percentiles, "channelwise": channelwise,
                         "v_init": v_init,
                         "normalization": normalization, "calibration_samples": calibrated, **chosen}}


# --- on memristive crossbars ----------------------------------------------------------------------------------

def classification_accuracy(data: Iterable, max_batches: Optional[int] = None) -> Callable[[nn.Module], float]:
    """An evaluation function for :func:`mnn_sweep`: top-1 accuracy over ``(x, y)`` batches.

    A spiking module's ``(spk, mem)`` output is decoded with its ``decode`` method.

    Args:
        data: the batches (iterated once per call; a list, to score many networks on the same ones).
        max_batches: score on the first this many batches only.
    """

    def evaluate(model: nn.Module) -> float:
        scorer = Accuracy()

        def forward(x: Any) -> Any:
            out = model(x)
            if isinstance(out, tuple) and hasattr(model, "decode"):
                out = model.decode(*out)
            return out

        run_batches(model, data, lambda output, batch: scorer.update(output, batch.y), forward=forward,
                    max_batches=max_batches)
        return scorer.result()["accuracy"]

    return evaluate


def mnn_sweep(module: nn.Module, evaluate: Callable[[nn.Module], float], options: Any = None,
              axes: Mapping[str, Sequence[float]] | Iterable[str] | None = None, *,
              progress: bool = True) -> dict[str, Any]:
    """Evaluate ``module`` on crossbars for every point of every axis.

    Args:
        module: the trained float network (ann or snn); not modified.
        evaluate: model → score (e.g. :func:`classification_accuracy`).
        options: the base mnn options every point starts from (:class:`~snnc.compiler.targets.mnn.MnnOptions`
            or a mapping).
        axes: axis → points, or axis names (default points), or None for all of
            :data:`~snnc.compiler.targets.mnn.sweep.AXES`.
        progress: show a progress bar (rich).

    Returns:
        ``{"base_options": {...}, "axes": {axis: {"values": [...], "scores": [...]}}, "float": score,
        "ideal": score}`` — ``ideal`` is the base options without non-idealities and without an ADC.

    Raises:
        UnsupportedError: an unknown axis (with a did-you-mean), before any work.
    """
    from snnc.compiler.targets.mnn.build import build_mnn
    from snnc.compiler.targets.mnn.sweep import plan_sweep

    plan = plan_sweep(options, axes)
    result: dict[str, Any] = {"base_options": plan.base.model_dump(),
                              "axes": {a: {"values": list(v), "scores": []} for a, v in plan.axes.items()}}
    jobs: Iterable[tuple[str, float]] = plan.points()
    if progress:
        from rich.progress import track

        jobs = track(jobs, description="mnn sweep")
    result["float"] = float(evaluate(module))
    result["ideal"] = float(evaluate(build_mnn(module, plan.ideal).network))
    for a, v in jobs:
        result["axes"][a]["scores"].append(float(evaluate(build_mnn(module, plan.options_at(a, v)).network)))
    return result
