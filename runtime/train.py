"""``train``: the one-call front of the :class:`~snnc.runtime.trainer.Trainer` (what ``snnc train`` calls).

It builds a :class:`~snnc.runtime.trainer.TrainConfig` from keyword settings, runs the trainer with the default
callbacks and returns a :class:`TrainResult`. See :mod:`snnc.runtime.trainer` for the life cycle, determinism
and resume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from torch import nn

from .evaluate import EvalResult
from .trainer import OPTIMIZERS, SCHEDULES, TrainConfig, Trainer, default_callbacks, epoch_seed, make_config

__all__ = ["OPTIMIZERS", "SCHEDULES", "TrainResult", "epoch_seed", "train"]


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        run_dir: the run directory.
        epochs: one record per finished epoch (as in ``metrics.json``).
        best_epoch: the epoch saved as ``best.pt`` (None if no epoch finished).
        best_accuracy: its validation accuracy (training accuracy without a validation split).
        test: the test evaluation of ``best.pt`` (None with ``limit_test=0``).
        last_checkpoint: ``last.pt``.
        best_checkpoint: ``best.pt``.
        plots: the PNG files written.
        seconds: wall time of this call.
        warnings: training-health warnings given during the run.
        model: the trained model (weights of the last epoch), in eval mode.
    """

    run_dir: Path
    epochs: list[dict[str, Any]]
    best_epoch: Optional[int]
    best_accuracy: Optional[float]
    test: Optional[EvalResult]
    last_checkpoint: Path
    best_checkpoint: Path
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    model: Optional[nn.Module] = field(default=None, repr=False)

    @property
    def test_accuracy(self) -> Optional[float]:
        """Test accuracy of ``best.pt`` (None when there was no test evaluation)."""
        return self.test.accuracy if self.test is not None else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (without the model)."""
        return {"run_dir": str(self.run_dir), "epochs": self.epochs, "best_epoch": self.best_epoch,
                "best_accuracy": self.best_accuracy, "test": self.test.to_dict() if self.test else None,
                "last_checkpoint": str(self.last_checkpoint), "best_checkpoint": str(self.best_checkpoint),
                "plots": [str(p) for p in self.plots], "seconds": self.seconds, "warnings": self.warnings}


def spec_recipe(spec: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The spec's ``training:`` recipe as settings, when it is for the target being trained (else nothing).

    Why only for its target: a recipe's loss and learning rate are chosen for one target (the snnTorch tutorials'
    for snn); the same values could be wrong, or refused, for another.
    """
    from snnc.compiler.pipeline import load_spec

    recipe = load_spec(spec, settings.get("params") or None).spec.training
    if settings.get("target", "snn") != recipe.target:
        return {}
    return recipe.model_dump(exclude_none=True, exclude={"target"})


def train(spec: Any, *, run_dir: str | Path | None = None, resume: bool = False, progress: bool = True,
          console: Any = None, callbacks: list | None = None, on_epoch_end: Callable[[dict], None] | None = None,
          config: TrainConfig | None = None, **settings: Any) -> TrainResult:
    """Train a spec's network and write a run directory.

    Args:
        spec: the spec (path, bundled name, YAML text, dict or loaded spec).
        run_dir: the run directory (default ``runs/<spec-name>-<target>-<timestamp>``).
        resume: continue the run in ``run_dir`` from its ``last.pt``; the settings must be the run's own (only
            ``epochs`` without a schedule, ``limit_test``, ``data_dir``, ``compile``, ``plots`` and the checkpoint
            interval may change).
        progress: show a progress bar and one summary line per epoch.
        console: the rich console to print on (default: a new one on stdout).
        callbacks: replace the default callbacks (:func:`~snnc.runtime.trainer.default_callbacks`).
        on_epoch_end: called with each epoch's record after its checkpoint is written.
        config: the settings as a :class:`~snnc.runtime.trainer.TrainConfig` (else from ``settings`` over the
            spec's ``training:`` recipe, see :func:`spec_recipe`).
        **settings: the fields of :class:`~snnc.runtime.trainer.TrainConfig`: ``target`` (``snn``, ``ann``),
            ``dataset``, ``data_dir``, ``epochs``, ``batch_size``, ``lr``, ``optimizer``, ``schedule``, ``loss`` (a
            name, or a function ``loss(output, targets)``),
            ``loss_options``, ``method``, ``method_options``, ``seed``, ``val_fraction``, ``timesteps``,
            ``limit_train``, ``limit_test``, ``params``, ``compile``, ``plots``, ``checkpoint_every``, ...

    Returns:
        The :class:`TrainResult`.

    Raises:
        SpecError: invalid spec. OptionsError: an unknown or bad setting. DataError: missing or unfitting data, or
        an unreadable checkpoint. UnsupportedError: an unknown target, method, loss. TrainingDiverged: a
        non-finite loss or weights (the last good checkpoint is kept). TrainingInterrupted: Ctrl-C (a resumable
        checkpoint is saved). SnncError: a run directory that already holds a run, or resume settings that differ.
    """
    loss_fn = settings.pop("loss") if callable(settings.get("loss")) else None
    if loss_fn is not None:
        settings["loss"] = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    if config is None:
        config = make_config({**spec_recipe(spec, settings), **settings})
    elif settings:
        config = make_config({**config.model_dump(), **settings})
    if callbacks is None:
        callbacks = default_callbacks(progress=progress, console=console, plots=config.plots)
    started = time.perf_counter()
    trainer = Trainer(spec, config, run_dir=run_dir, resume=resume, callbacks=callbacks, on_epoch_end=on_epoch_end,
                      loss_fn=loss_fn)
    trainer.fit()
    return TrainResult(run_dir=trainer.run.path, epochs=trainer.history, best_epoch=trainer.best["epoch"],
                       best_accuracy=trainer.best["accuracy"], test=trainer.test, last_checkpoint=trainer.run.last,
                       best_checkpoint=trainer.run.best, plots=trainer.plots,
                       seconds=time.perf_counter() - started, warnings=trainer.warnings,
                       model=trainer.model.eval())
