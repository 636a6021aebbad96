"""Train a spec on a dataset: backpropagation through time for the snn target, plain training for the ann target.

:func:`train` compiles the spec, reads the dataset (nothing is ever downloaded), and for every epoch trains on a
seeded shuffle of the training split, validates on a held-out part of it, and writes the run directory
(:mod:`snnc.runtime.run_dir`): metrics after every epoch, ``last.pt`` and ``best.pt`` checkpoints (atomically),
then the test evaluation and PNG plots.

Determinism and resume: weights are initialised after ``torch.manual_seed(seed)``; epoch ``e`` shuffles with a
loader seeded by ``(seed, e)`` alone; the checkpoint written after each epoch holds the optimizer, scheduler and
all global random-generator states. So a run interrupted at any point and resumed from ``last.pt`` finishes
with exactly the weights an uninterrupted run would have (on the same machine and torch version).

A non-finite loss (or non-finite weights at the end of an epoch) stops training with
:class:`~snnc.compiler.errors.TrainingDiverged` before the optimizer step, so ``last.pt`` and ``best.pt``
still hold the last good epoch.
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
from torch import nn

from snnc.compiler.artifact import atomic_write_bytes
from snnc.compiler.errors import SnncError, TrainingDiverged, UnsupportedError, did_you_mean

from .checkpoint import capture_rng, load_checkpoint, load_weights, make_checkpoint, model_from_artifact, restore_rng
from .evaluate import EvalResult, check_dataset_fits, evaluate, input_normalize
from .losses import LossFn, is_finite, resolve_loss
from .metrics import RunningMean, count_correct, format_rates, layer_spike_trains
from .run_dir import RunDir, default_run_dir, write_json, write_text

TRAINABLE_TARGETS = ("snn", "ann")
"""Targets :func:`train` can train (burst networks are converted from a trained ann, not trained)."""

SGD_MOMENTUM = 0.9
"""Momentum of the ``sgd`` optimizer."""

STEP_GAMMA = 0.1
"""The ``step`` schedule multiplies the learning rate by this every third of the run."""

RESUME_IGNORED = ("epochs", "limit_test", "data_dir", "compile", "plots")
"""Settings that may differ when resuming (all others must equal the run's ``config.json``; ``epochs`` only
without a schedule)."""


def _adam(params, lr: float, weight_decay: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


def _sgd(params, lr: float, weight_decay: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=SGD_MOMENTUM, weight_decay=weight_decay)


OPTIMIZERS: Mapping[str, Callable[..., torch.optim.Optimizer]] = MappingProxyType({"adam": _adam, "sgd": _sgd})
"""Optimizer name → factory ``(params, lr, weight_decay, betas)``: Adam, or SGD with momentum 0.9."""


def _cosine(opt: torch.optim.Optimizer, epochs: int, steps: int):
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps))


def _step(opt: torch.optim.Optimizer, epochs: int, steps: int):
    return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps * max(1, epochs // 3)), gamma=STEP_GAMMA)


SCHEDULES: Mapping[str, Callable[..., Any]] = MappingProxyType({"cosine": _cosine, "step": _step})
"""Schedule name → factory ``(optimizer, epochs, batches_per_epoch)``; schedulers advance once per batch.
``cosine`` anneals to zero over the whole run; ``step`` multiplies by 0.1 after each third of the run."""


def epoch_seed(seed: int, epoch: int) -> int:
    """The loader seed of epoch ``epoch`` (1-based): it depends on ``(seed, epoch)`` alone, so resuming at an
    epoch boundary replays the same order."""
    return seed * 100_003 + epoch


def seed_everything(seed: int) -> None:
    """Seed torch's, Python's and NumPy's global generators."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


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
                "plots": [str(p) for p in self.plots], "seconds": self.seconds}


def _check_choice(value: Any, choices: Mapping[str, Any] | tuple, what: str) -> None:
    if value not in choices:
        raise UnsupportedError(f"unknown {what} '{value}'.{did_you_mean(str(value), choices)} "
                               f"Choose one of: {', '.join(choices)}")


def _compare_config(stored: dict[str, Any], current: dict[str, Any], run: RunDir) -> None:
    diffs = [f"{k}={stored.get(k)!r} (now {current.get(k)!r})" for k in current
             if k not in RESUME_IGNORED and stored.get(k) != current.get(k)]
    if current.get("schedule") is not None and stored.get("epochs") != current.get("epochs"):
        # Why: the schedule's length is fixed when it starts; stretching it midway is not the same run.
        diffs.append(f"epochs={stored.get('epochs')!r} (now {current.get('epochs')!r}; with a schedule the number "
                     "of epochs cannot change)")
    if diffs:
        raise SnncError(f"cannot resume {run.path}: it was started with " + ", ".join(diffs) +
                        ". Resume with the run's settings (the CLI reads them from config.json) or start a new "
                        "--run-dir.")


class _Reporter:
    """The rich progress bar (one task per epoch) and the per-epoch summary lines; silent when disabled."""

    def __init__(self, enabled: bool, console: Any, epochs: int):
        self.enabled = enabled
        self.epochs = epochs
        self.progress = None
        self.console = console
        if enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.console = console or Console()
            # Why: a bar redrawn in a log file or a pipe is noise; the per-epoch lines are what a log needs.
            if not self.console.is_terminal:
                return
            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:6.2%}"),
                console=self.console, transient=True)

    def __enter__(self) -> "_Reporter":
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def start(self, epoch: int, batches: int) -> Any:
        if self.progress is None:
            return None
        return self.progress.add_task("train", total=batches, epoch=epoch, epochs=self.epochs, loss=float("nan"),
                                      acc=0.0)

    def batch(self, task: Any, loss: float, acc: float) -> None:
        if self.progress is not None:
            self.progress.update(task, advance=1, loss=loss, acc=acc, refresh=True)

    def finish(self, task: Any) -> None:
        if self.progress is not None:
            self.progress.remove_task(task)

    def line(self, text: str) -> None:
        if self.enabled:
            (self.progress.console if self.progress is not None else self.console).print(text)


def _summary_line(record: dict[str, Any], epochs: int, best: bool) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}",
             f"train loss {record['train']['loss']:.4f} acc {record['train']['accuracy']:.2%}"]
    if record.get("val"):
        parts.append(f"val loss {record['val']['loss']:.4f} acc {record['val']['accuracy']:.2%}")
    parts.append(f"lr {record['lr']:.2e}")
    if record.get("firing_rates"):
        parts.append("rates " + format_rates(record["firing_rates"]))
    parts.append(f"{record['seconds']:.1f} s")
    return "  ".join(parts) + ("  [green]★ best[/]" if best else "")


def _train_epoch(model: nn.Module, forward: Callable, loader, loss_fn: LossFn, optimizer, scheduler,
                 decoding: Optional[str], reporter: _Reporter, epoch: int, run: RunDir, last_good: int
                 ) -> tuple[float, float]:
    model.train()
    mean_loss = RunningMean()
    correct = seen = 0
    task = reporter.start(epoch, len(loader))
    for batch, (x, y) in enumerate(loader, start=1):
        output = forward(x)
        loss = loss_fn(output, y)
        if not is_finite(loss):
            kept = (f"{run.last} (epoch {last_good}) and {run.best} are kept" if last_good
                    else "no checkpoint was written (it diverged in the first epoch)")
            raise TrainingDiverged(
                f"training diverged: the loss became {loss.detach().item()} at epoch {epoch}, batch "
                f"{batch}/{len(loader)} (lr {optimizer.param_groups[0]['lr']:.3g}); {kept}. Lower --lr (or pick "
                "another --loss or --schedule) and start a new run.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        with torch.no_grad():
            mean_loss.add(float(loss), len(y))
            correct += count_correct(output, y, decoding)
            seen += y.numel()
        reporter.batch(task, mean_loss.mean, correct / seen)
    reporter.finish(task)
    return mean_loss.mean, (correct / seen if seen else 0.0)


def _finite_weights(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train(
    spec: Any,
    *,
    target: str = "snn",
    dataset: str = "mnist-sample",
    data_dir: str | Path | None = None,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 2e-3,
    optimizer: str = "adam",
    schedule: str | None = None,
    loss: str | LossFn | None = None,
    loss_options: dict[str, Any] | None = None,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    seed: int = 0,
    val_fraction: float = 0.1,
    run_dir: str | Path | None = None,
    resume: bool = False,
    timesteps: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    params: dict[str, Any] | None = None,
    plots: bool = True,
    progress: bool = True,
    compile: bool = False,
    console: Any = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a spec's network and write a run directory.

    Args:
        spec: the spec (path, YAML text, dict or loaded spec).
        target: ``snn`` (BPTT through the spiking module with surrogate gradients) or ``ann``.
        dataset: a dataset name (:func:`snnc.runtime.data.load_dataset`); the default is the bundled sample.
        data_dir: where the dataset's files are.
        epochs: the total number of epochs (when resuming: including those already done).
        batch_size: samples per batch.
        lr: the learning rate.
        optimizer: ``adam`` or ``sgd`` (momentum 0.9).
        schedule: None, ``cosine`` or ``step`` (see :data:`SCHEDULES`).
        loss: a name of :data:`snnc.runtime.losses.LOSSES`, a callable ``loss(output, targets)``, or None for the
            default of the spec's decoding (ann: cross-entropy).
        loss_options: options of a named loss (e.g. ``{"correct_rate": 0.8}``).
        betas: Adam's betas.
        weight_decay: L2 penalty of the optimizer.
        seed: seeds initialisation, the validation split, data order and encodings.
        val_fraction: share of the training split held out for validation and for choosing ``best.pt``;
            0 trains on all of it (``best.pt`` then follows training accuracy).
        run_dir: the run directory (default ``runs/<spec-name>-<target>-<timestamp>``).
        resume: continue the run in ``run_dir`` from its ``last.pt``; the settings must be the run's own (only
            ``epochs`` (without a schedule), ``limit_test``, ``data_dir``, ``compile`` and ``plots`` may change).
        timesteps: override the spec's time steps (snn).
        limit_train: use only the first ``limit_train`` training samples (before the validation split).
        limit_test: evaluate on the first ``limit_test`` test samples; 0 skips the test evaluation.
        params: spec parameter overrides.
        plots: write PNG plots at the end.
        progress: show a progress bar and one summary line per epoch.
        compile: run the model through ``torch.compile`` (slow first batch).
        console: the rich console to print on (default: a new one on stdout).
        on_epoch_end: called with each epoch's record after its checkpoint is written.

    Returns:
        The :class:`TrainResult`.

    Raises:
        SpecError: invalid spec. DataError: a missing or unfitting dataset, or an unreadable checkpoint.
        UnsupportedError: an unknown target, optimizer, schedule or loss.
        TrainingDiverged: a non-finite loss or weights (the last good checkpoint is kept).
        SnncError: a bad setting, a run directory that already holds a run (without ``resume``), or resume
            settings that differ from the run's.
    """
    import snnc
    from snnc.runtime.data import load_dataset, make_loader, split_train_val

    started = time.perf_counter()
    _check_choice(target, TRAINABLE_TARGETS, "training target")
    _check_choice(optimizer, OPTIMIZERS, "optimizer")
    schedule = None if schedule in (None, "", "none") else schedule
    if schedule is not None:
        _check_choice(schedule, SCHEDULES, "schedule")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise SnncError(f"{name} must be a positive integer, got {value!r}")
    if not lr > 0:
        raise SnncError(f"lr must be positive, got {lr!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise SnncError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if timesteps is not None and target != "snn":
        raise SnncError("timesteps applies to the snn target only")

    loaded = snnc.load_spec(spec, params)
    graph = snnc.build_graph(loaded)
    spec_text = loaded.document_text  # self-contained: a spec that extends another is stored merged
    check_dataset_fits(graph, dataset)
    decoding = graph.decoding.kind if target == "snn" else None
    loss_name, loss_fn = resolve_loss(loss, target, graph.decoding.kind, loss_options)
    steps = timesteps if timesteps is not None else graph.timesteps
    options = {"timesteps": steps} if target == "snn" else {}

    if run_dir is None:
        if resume:
            raise SnncError("resume needs the run directory to continue (--run-dir)")
        run_dir = default_run_dir(graph.name, target)
    run = RunDir(Path(run_dir))
    config = {"spec_name": graph.name, "target": target, "dataset": dataset,
              "data_dir": str(data_dir) if data_dir is not None else None, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "betas": list(betas),
              "weight_decay": weight_decay, "schedule": schedule, "loss": loss_name,
              "loss_options": dict(loss_options or {}), "seed": seed, "val_fraction": val_fraction,
              "timesteps": steps if target == "snn" else None, "limit_train": limit_train, "limit_test": limit_test,
              "params": dict(params or {}), "compile": compile, "plots": plots}
    checkpoint = None
    if resume:
        if not run.last.is_file():
            raise SnncError(f"nothing to resume in {run.path}: no last.pt (train without --resume to start a run)")
        checkpoint = load_checkpoint(run.last, require_training=True)
        if checkpoint["spec"] != spec_text:
            raise SnncError(f"cannot resume {run.path}: its spec differs from {spec!s:.80} (see {run.spec})")
        _compare_config(checkpoint["training"]["config"], config, run)
    elif run.last.is_file():
        raise SnncError(f"{run.path} already holds a run (last.pt): pass --resume to continue it, or choose "
                        "another --run-dir")
    run.create()
    write_text(run.spec, spec_text)
    write_json(run.config, config)

    seed_everything(seed)
    model = snnc.compile(loaded, target, **options, **({"compile": True} if compile and target == "snn" else {}))
    forward = torch.compile(model) if compile and target == "ann" else model

    normalize = input_normalize(graph)
    full = load_dataset(dataset, "train", data_dir, normalize=normalize, limit=limit_train)
    if val_fraction > 0:
        try:
            train_set, val_set = split_train_val(full, val_fraction, seed)
        except ValueError as exc:
            raise SnncError(f"cannot hold out a validation split: {exc} (use more --limit-train or "
                            "--val-fraction 0)") from None
    else:
        train_set, val_set = full, None
    test_set = None
    if limit_test != 0:
        test_set = load_dataset(dataset, "test", data_dir, normalize=normalize, limit=limit_test)
    batches = -(-len(train_set) // batch_size)

    opt = OPTIMIZERS[optimizer](model.parameters(), lr, weight_decay, tuple(betas))
    scheduler = SCHEDULES[schedule](opt, epochs, batches) if schedule is not None else None
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": None, "accuracy": None}
    done = 0
    if checkpoint is not None:
        state = checkpoint["training"]
        load_weights(model, checkpoint["state_dict"], where=str(run.last))
        opt.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        history, best, done = list(state["history"]), dict(state["best"]), int(state["epoch"])
    reporter = _Reporter(progress, console, epochs)
    if progress and checkpoint is not None:
        reporter.line(f"resuming {run.path} after epoch {done}")

    with reporter:
        for epoch in range(done + 1, epochs + 1):
            t0 = time.perf_counter()
            loader = make_loader(train_set, batch_size, shuffle=True, seed=epoch_seed(seed, epoch))
            lr_now = opt.param_groups[0]["lr"]
            train_loss, train_acc = _train_epoch(model, forward, loader, loss_fn, opt, scheduler, decoding,
                                                 reporter, epoch, run, done)
            if not _finite_weights(model):
                raise TrainingDiverged(f"training diverged: the weights became non-finite in epoch {epoch}; "
                                       f"{run.last} keeps epoch {done}. Lower --lr.")
            record: dict[str, Any] = {"epoch": epoch, "lr": lr_now,
                                      "train": {"loss": train_loss, "accuracy": train_acc}}
            score = train_acc
            if val_set is not None:
                val = evaluate(model, val_set, split="val", loss=loss_fn, batch_size=max(batch_size, 256),
                               graph=graph, name=dataset)
                record["val"] = {"loss": val.loss, "accuracy": val.accuracy}
                record["firing_rates"] = val.firing_rates
                score = val.accuracy
            record["seconds"] = time.perf_counter() - t0
            history.append(record)
            is_best = best["accuracy"] is None or score > best["accuracy"]
            if is_best:
                best = {"epoch": epoch, "accuracy": score}
            training = {"epoch": epoch, "optimizer": opt.state_dict(),
                        "scheduler": scheduler.state_dict() if scheduler is not None else None,
                        "rng": capture_rng(), "best": best, "history": history, "config": config}
            ckpt = make_checkpoint(model, spec_text=spec_text, target=target, params=params, options=options,
                                   training=training, extra={"epoch": epoch, "metrics": record})
            buf = io.BytesIO()
            torch.save(ckpt, buf)
            atomic_write_bytes(run.last, buf.getvalue())
            if is_best:
                atomic_write_bytes(run.best, buf.getvalue())
            run.write_metrics(history)
            done = epoch
            reporter.line(_summary_line(record, epochs, is_best))
            if on_epoch_end is not None:
                on_epoch_end(record)

    model.eval()
    test = None
    written: list[Path] = []
    if run.best.is_file() and (test_set is not None or plots):
        best_model = model_from_artifact(load_checkpoint(run.best))
        if test_set is not None:
            test = evaluate(best_model, test_set, loss=loss_fn, batch_size=max(batch_size, 256), graph=graph,
                            name=dataset, progress=progress, console=reporter.console if progress else None)
            write_json(run.test, test.to_dict())
            run.write_metrics(history, test.to_dict())
            reporter.line(f"test accuracy {test.accuracy:.2%} on {test.samples} samples of {dataset} "
                          f"(best.pt, epoch {best['epoch']})")
        if plots:
            written = write_plots(run, history, best_model, test_set, graph.name, target)
    return TrainResult(run_dir=run.path, epochs=history, best_epoch=best["epoch"], best_accuracy=best["accuracy"],
                       test=test, last_checkpoint=run.last, best_checkpoint=run.best, plots=written,
                       seconds=time.perf_counter() - started, model=model)


def write_plots(run: RunDir, history: list[dict[str, Any]], model: nn.Module, test_set: Any, name: str,
                target: str) -> list[Path]:
    """Write the run's PNG plots: curves, and for a spiking model the raster and firing rates of one test sample.

    Args:
        run: the run directory.
        history: the per-epoch records.
        model: the model to probe (``best.pt``'s).
        test_set: the test dataset (its first sample is probed), or None.
        name: the spec's name, for titles.
        target: the compile target.

    Returns:
        The files written.
    """
    from .plots import plot_curves, plot_firing_rates, plot_spike_raster

    written = [plot_curves(history, run.plots / "curves.png", f"{name} ({target})")]
    if target == "snn" and test_set is not None and len(test_set) and getattr(model, "neurons", None):
        x, y = test_set[0]
        trains = layer_spike_trains(model, x.unsqueeze(0))
        one = {k: v[:, 0] for k, v in trains.items()}
        written.append(plot_spike_raster(one, run.plots / "spike_raster.png", f"{name}: test sample 0 (label {y})"))
        rates = {k: float(v.float().mean()) for k, v in one.items()}
        written.append(plot_firing_rates(rates, run.plots / "firing_rates.png",
                                         f"{name}: firing rates, test sample 0"))
    return written
