"""Training callbacks: progress, checkpoints, metrics files, plots and training-health warnings.

A callback overrides the hooks it needs (as Lightning's ``Callback``); the trainer calls them in a fixed order at
each point of its life cycle. Callbacks that write files do so only on the main process
(``trainer.strategy.is_main``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer


class Callback:
    """The hooks, all optional. ``record`` is an epoch's record as written to ``metrics.json``."""

    def on_fit_start(self, trainer: "Trainer") -> None:
        """After set-up (model, data, optimizer, a resumed state), before the first epoch."""

    def on_epoch_start(self, trainer: "Trainer", epoch: int, batches: int) -> None:
        """Before an epoch's first batch (``batches`` in the epoch, fewer when it resumes midway)."""

    def on_batch_end(self, trainer: "Trainer", loss: float, accuracy: float) -> None:
        """After each optimisation step, with the epoch's running loss and accuracy."""

    def on_checkpoint(self, trainer: "Trainer", epoch_finished: bool) -> None:
        """When the trainer wants its state saved (after each epoch; every few steps within one)."""

    def on_epoch_end(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        """After validation and the end-of-epoch checkpoint."""

    def on_fit_end(self, trainer: "Trainer") -> None:
        """After the last epoch and the test evaluation."""

    def on_interrupt(self, trainer: "Trainer") -> None:
        """When training stops on Ctrl-C, after the state has been saved."""


class ProgressBar(Callback):
    """A rich progress bar per epoch (on terminals) and one summary line per epoch."""

    def __init__(self, console: Any = None):
        from rich.console import Console

        self.console = console or Console()
        self.progress = None
        self.task = None
        self.main = True

    def line(self, text: str) -> None:
        """Print a line above the bar (or plainly when there is none); only the main process prints."""
        if self.main:
            (self.progress.console if self.progress is not None else self.console).print(text)

    def on_fit_start(self, trainer: "Trainer") -> None:
        self.main = trainer.strategy.is_main
        if trainer.resumed_from is not None:
            # the words of the interruption: "at epoch 2, after batch 112/469" is where it stopped and goes on
            where = (f"at epoch {trainer.epoch + 1}, after batch {trainer.step_in_epoch}/{trainer.steps_per_epoch}"
                     if trainer.step_in_epoch else f"after epoch {trainer.epoch}")
            self.line(f"resuming {trainer.run.path} {where}")
        elif trainer.val_set is None and trainer.config.epochs > 1:
            self.line("[yellow]note[/]: no validation split (val_fraction 0): best.pt is the epoch with the best "
                      "training accuracy; --val-fraction 0.1 selects it on held-out images")
        # Why not in a pipe or log: a bar redrawn there is noise; the per-epoch lines are what a log needs.
        if not self.console.is_terminal or not self.main:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:6.2%}"),
            console=self.console, transient=True)
        self.progress.__enter__()

    def on_epoch_start(self, trainer: "Trainer", epoch: int, batches: int) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task("train", total=trainer.steps_per_epoch,
                                               completed=trainer.steps_per_epoch - batches, epoch=epoch,
                                               epochs=trainer.config.epochs, loss=float("nan"), acc=0.0)

    def on_batch_end(self, trainer: "Trainer", loss: float, accuracy: float) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, loss=loss, acc=accuracy, refresh=True)

    def on_epoch_end(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        parts = [f"epoch {record['epoch']}/{trainer.config.epochs}",
                 f"train loss {record['train']['loss']:.4f} acc {record['train']['accuracy']:.2%}"]
        if record.get("val"):
            parts.append(f"val loss {record['val']['loss']:.4f} acc {record['val']['accuracy']:.2%}")
        extra = {k: v for k, v in record["train"].items() if k not in ("loss", "accuracy", "env")}
        parts += [f"{k} {v:.4g}" for k, v in extra.items() if isinstance(v, float)]
        parts.append(f"lr {record['lr']:.2e}")
        if record.get("firing_rates"):
            from .metrics import format_rates

            parts.append("rates " + format_rates(record["firing_rates"]))
        parts.append(f"{record['seconds']:.1f}s")
        self.line("  ".join(parts) + ("  [green]★ best[/]" if trainer.best.get("epoch") == record["epoch"] else ""))

    def _close(self) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None

    def on_fit_end(self, trainer: "Trainer") -> None:
        self._close()

    def on_interrupt(self, trainer: "Trainer") -> None:
        self._close()


class Checkpointer(Callback):
    """Writes ``last.pt`` (and ``best.pt`` when the epoch is the best so far) atomically."""

    def on_checkpoint(self, trainer: "Trainer", epoch_finished: bool) -> None:
        if not trainer.strategy.is_main:
            return
        from snnc.compiler.artifact import atomic_write_bytes

        data = trainer.checkpoint_bytes()
        atomic_write_bytes(trainer.run.last, data)
        if epoch_finished and trainer.best.get("epoch") == trainer.epoch:
            atomic_write_bytes(trainer.run.best, data)


class MetricsWriter(Callback):
    """Writes ``metrics.json`` and ``metrics.csv`` after every epoch and with the test result at the end."""

    def on_epoch_end(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        if trainer.strategy.is_main:
            trainer.run.write_metrics(trainer.history)

    def on_fit_end(self, trainer: "Trainer") -> None:
        if trainer.strategy.is_main and trainer.test is not None:
            from .run_dir import write_json

            write_json(trainer.run.test, trainer.test.to_dict())
            trainer.run.write_metrics(trainer.history, trainer.test.to_dict())


class Plotter(Callback):
    """Writes the PNG plots at the end: curves, the training loss per iteration, the method's metrics and the
    accuracy per environment per epoch (when logged), and for spiking models a spike raster of one test sample and
    the per-layer firing rates over the whole test evaluation."""

    def on_fit_end(self, trainer: "Trainer") -> None:
        if trainer.strategy.is_main and trainer.run.best.is_file():
            trainer.plots = write_plots(trainer)


def write_plots(trainer: "Trainer") -> list[Path]:
    """Write the run's PNG plots; returns the files written."""
    from snnc.compiler.targets.base import is_spiking

    from .metrics import layer_spike_trains
    from .plots import (has_environments, method_metric_names, plot_curves, plot_environment_samples,
                        plot_firing_rates, plot_loss_per_iteration, plot_method_metrics, plot_spike_raster)

    run, name = trainer.run, trainer.graph.name
    written = [plot_curves(trainer.history, run.plots / "curves.png", f"{name} ({trainer.target.name})")]
    if any(record.get("batch_losses") for record in trainer.history):
        written.append(plot_loss_per_iteration(trainer.history, run.plots / "loss_per_iteration.png",
                                               f"{name} ({trainer.target.name}): training loss per iteration"))
    envs = has_environments(trainer.history)
    if method_metric_names(trainer.history) or envs:
        written.append(plot_method_metrics(trainer.history, run.plots / "method_metrics.png",
                                           f"{name} ({trainer.target.name}), method {trainer.config.method}: "
                                           "per epoch"))
    if envs:
        for split, data in (("train", trainer.train_set), ("test", trainer.test_set)):
            if data is not None and len(data) and len(data[0]) >= 3:
                written.append(plot_environment_samples(data, run.plots / f"environments_{split}.png",
                                                        title=f"{trainer.config.dataset} {split} split: samples "
                                                              "per environment"))
    test = trainer.test_set
    if test is None or not len(test):
        return written
    model = trainer.best_model()  # built once, shared with the test evaluation
    if trainer.graph.task.kind == "segmentation":
        written.append(_plot_predictions(model, test, run.plots / "predictions.png",
                                         f"{name} ({trainer.target.name}): test predictions"))
    if not trainer.target.spiking or not is_spiking(model) or not model.neuron_counts():
        return written
    x, y = test[0][0], test[0][1]
    trains = layer_spike_trains(model, x.unsqueeze(0))
    one = {k: v[:, 0] for k, v in trains.items()}
    written.append(plot_spike_raster(one, run.plots / "spike_raster.png", f"{name}: test sample 0 (label {y}), "
                                     "one sample"))
    if trainer.test is not None and trainer.test.firing_rates:
        rates = dict(trainer.test.firing_rates)
        title = f"{name}: firing rates, mean over {trainer.test.samples} test samples"
    else:
        rates = {k: float(v.float().mean()) for k, v in one.items()}
        title = f"{name}: firing rates of test sample 0 (one sample)"
    written.append(plot_firing_rates(rates, run.plots / "firing_rates.png", title))
    return written


def _plot_predictions(model: Any, test: Any, path: Path, title: str, samples: int = 3) -> Path:
    """The first test images, their labels and the network's predicted masks (segmentation runs)."""
    from .metrics import first_samples, predict_masks
    from .plots import plot_segmentation

    images, labels = first_samples(test, samples)
    return plot_segmentation(list(images), list(labels), {"prediction": list(predict_masks(model, images))}, path,
                             title)


SILENT_RATE = 0.001
"""A neuron layer firing less than this share of the time over an epoch is silent."""
SATURATED_RATE = 0.9
"""A neuron layer firing more than this share of the time over an epoch is saturated."""


class HealthCheck(Callback):
    """Warns once per layer when a spiking layer is silent (< 0.1 %) or saturated (> 90 %) over an epoch: a
    silent layer passes no gradient, so training sits at chance."""

    def __init__(self) -> None:
        self.warned: set[str] = set()

    def on_epoch_end(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        rates = record.get("firing_rates") or {}
        for layer, rate in rates.items():
            if layer in self.warned or not (rate < SILENT_RATE or rate > SATURATED_RATE):
                continue
            self.warned.add(layer)
            if rate < SILENT_RATE:
                what = (f"layer '{layer}' is silent: it fired {rate:.3%} of the time in epoch {record['epoch']}, so "
                        "little gradient flows through it")
                fix = ("try a higher --lr or another --loss, a lower neuron threshold or a higher beta in the spec "
                       "(neuron: {threshold: 0.5}), or a spec's own training recipe")
            else:
                what = f"layer '{layer}' is saturated: it fired {rate:.1%} of the time in epoch {record['epoch']}"
                fix = "try a higher neuron threshold in the spec or a lower --lr"
            trainer.warn(f"{what}; {fix}")
