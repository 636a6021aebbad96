"""Convert a trained ANN to a burst-spiking network: :func:`compile_burst` loads the ANN
(:func:`snnc.compiler.pipeline.load_ann`), calibrates it on a named dataset and returns the converted
:class:`~snnc.compiler.targets.burst.BurstSNN` (``snnc compile SPEC --target burst --checkpoint ...``).

The pieces around a conversion live one job per module, and their public names are importable from here too
(``from snnc.runtime.convert import sweep, write_sweep``), as they were when this module held them all:

* :mod:`snnc.runtime.calibration`: calibration data (:func:`calibration_batches`, :func:`calibration_data`,
  :class:`Calibration`);
* :mod:`snnc.runtime.sweep`: the sweeps (:func:`sweep`, :func:`evaluate_ann`, :func:`evaluate_snn`);
* :mod:`snnc.runtime.scoring`: the scorers (:data:`SCORERS`) and :class:`StepSpikeMeter`;
* :mod:`snnc.runtime.sweep_report`: :func:`markdown_tables`, :func:`plot_sweep`, :func:`write_sweep`;
* :mod:`snnc.runtime.parsing`: the command-line strings (:func:`parse_int_list`, :func:`parse_calibration`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from snnc.compiler.pipeline import convert, graph_of, load_ann

from .calibration import Calibration, calibration_batches, calibration_data
from .parsing import DEFAULT_CALIBRATION_SAMPLES, parse_calibration, parse_int_list
from .scoring import SCORERS, Accuracy, BinarySegmentationScores, StepSpikeMeter, scorer_for
from .sweep import DEFAULT_GAMMAS, DEFAULT_TIMESTEPS, FOLD_STEPS, OnBatch, evaluate_ann, evaluate_snn, sweep
from .sweep_report import (MIN_PLOT_SPAN, gamma_label, markdown_tables, plot_range, plot_sweep, result_rows,
                           sweep_figure, write_sweep)

__all__ = [
    "compile_burst", "convert", "graph_of", "load_ann",
    "Calibration", "calibration_batches", "calibration_data",
    "DEFAULT_CALIBRATION_SAMPLES", "parse_calibration", "parse_int_list",
    "SCORERS", "Accuracy", "BinarySegmentationScores", "StepSpikeMeter", "scorer_for",
    "DEFAULT_GAMMAS", "DEFAULT_TIMESTEPS", "FOLD_STEPS", "OnBatch", "evaluate_ann", "evaluate_snn", "sweep",
    "MIN_PLOT_SPAN", "gamma_label", "markdown_tables", "plot_range", "plot_sweep", "result_rows", "sweep_figure",
    "write_sweep",
]


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
    return convert(ann, batches, "burst" if gamma > 1 else "if", gamma=gamma, percentile=percentile,
                   channelwise=channelwise, v_init=v_init, normalization=normalization, timesteps=timesteps)
