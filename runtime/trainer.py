"""The trainer: a validated config, a fixed life cycle and three seams (method, strategy, callbacks).

Life cycle of :meth:`Trainer.fit`: set-up (spec, data, model, method, optimizer, a resumed state) → epochs →
steps → validation → checkpoint → test evaluation of ``best.pt``. What a step computes belongs to the
**method** (:mod:`snnc.runtime.methods`), where and on how many processes it runs to the **strategy**
(:mod:`snnc.runtime.strategies`), and progress, checkpoint files, metrics files, plots and health warnings to the
**callbacks** (:mod:`snnc.runtime.callbacks`). The settings are :mod:`snnc.runtime.config`'s, the optimizer and
schedule tables :mod:`snnc.runtime.optim`'s, an epoch's running sums :mod:`snnc.runtime.epoch_sums`'s and the
checkpoint format :mod:`snnc.runtime.checkpoint`'s; the model comes from :func:`snnc.compiler.pipeline.build`.

Determinism and resume: weights are initialised after seeding with ``config.seed``; epoch ``e`` shuffles with a
loader seeded by ``(seed, e)`` alone; a checkpoint holds the optimizer, scheduler, method modules, the random
generators and, within an epoch, how many batches were done and the epoch's running sums. So a run interrupted at
any point (Ctrl-C saves at the end of the current step) and resumed from ``last.pt`` finishes with exactly the
weights of an uninterrupted run (same machine and torch version).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from snnc.compiler.errors import SnncError, TrainingDiverged, TrainingInterrupted
from snnc.compiler.pipeline import artifact_of, build, build_graph, load_spec, load_weights
from snnc.compiler.targets.base import validate_options
from snnc.compiler.targets.registry import get_target

from .callbacks import Callback, ProgressBar
from .checkpoint import capture_rng, check_resumable, load_checkpoint, make_checkpoint, restore_rng
from .config import CHECKPOINT_MINUTES, RESUME_IGNORED, TrainConfig, make_config
from .data import load_for, split_train_val
from .device import resolve_device
from .epoch_sums import EpochSums
from .evaluate import EvalResult, describe_model, evaluate
from .losses import is_finite, resolve_loss
from .methods import METHODS, Batch, MethodContext, StepInfo
from .optim import OPTIMIZERS, SCHEDULES
from .run_dir import RunDir, default_run_dir, write_json, write_text
from .strategies import STRATEGIES

def epoch_seed(seed: int, epoch: int) -> int:
    """The loader seed of epoch ``epoch`` (1-based): it depends on ``(seed, epoch)`` alone."""
    return seed * 100_003 + epoch


def seed_everything(seed: int) -> None:
    """Seed torch's, Python's and NumPy's global generators."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


class Trainer:
    """Trains one spec's network under a :class:`TrainConfig` and writes a run directory.

    Args:
        spec: the spec (path, bundled name, YAML text, dict or loaded spec).
        config: the settings.
        run_dir: the run directory (default ``runs/<spec-name>-<target>-<timestamp>``).
        resume: continue the run in ``run_dir`` from its ``last.pt`` (its settings must be the same, but for
            :data:`RESUME_IGNORED`).
        callbacks: the callbacks (see :func:`default_callbacks`).
        on_epoch_end: also called with each epoch's record after its checkpoint is written.
        loss_fn: a loss function ``loss(output, targets)`` that replaces ``config.loss`` (recorded by its name).
    """

    def __init__(self, spec: Any, config: TrainConfig, *, run_dir: str | Path | None = None, resume: bool = False,
                 callbacks: Sequence[Callback] = (), on_epoch_end: Callable[[dict], None] | None = None,
                 loss_fn: Callable[[Any, torch.Tensor], torch.Tensor] | None = None):
        self.spec_ref, self.config, self.resume = spec, config, resume
        self.custom_loss = loss_fn
        self.callbacks = list(callbacks)
        self.on_epoch_end = on_epoch_end
        self.target = get_target(config.target)
        if not self.target.trainable:
            trainable = ", ".join(n for n, t in _targets() if t.trainable)
            raise SnncError(f"the {self.target.name} target is not trained directly (trainable targets: "
                            f"{trainable})" + ("; train an ann and convert it" if self.target.needs_trained_ann
                                               else ""))
        self.strategy = STRATEGIES.get(config.strategy)(resolve_device(config.device).type)
        self.loaded = load_spec(spec, config.params or None)
        self.graph = build_graph(self.loaded)
        if run_dir is None and resume:
            raise SnncError("resume needs the run directory to continue (--run-dir)")
        self.run = RunDir(Path(run_dir) if run_dir is not None else default_run_dir(self.graph.name,
                                                                                    self.target.name))
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": None, "accuracy": None}
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.sums = EpochSums()
        self.resumed_from: Optional[Path] = None
        self.test: Optional[EvalResult] = None
        self.test_set = None
        self.plots: list[Path] = []
        self._best_state: Optional[dict[str, torch.Tensor]] = None
        self._best_model: Optional[nn.Module] = None
        self.warnings: list[str] = []
        self._stop_requested = False

    # --- set-up ---------------------------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        fields = self.target.Options.model_fields
        options = dict(self.config.target_options)
        if self.config.timesteps is not None:
            if "timesteps" not in fields:
                raise SnncError(f"timesteps applies to spiking targets, not {self.target.name}")
            options["timesteps"] = self.config.timesteps
        if self.config.compile and "compile" in fields:
            options["compile"] = True
        return options

    def setup(self) -> None:
        """Check everything, build data, model, method and optimizer; restore a resumed run."""
        cfg = self.config
        self.strategy.setup()
        checkpoint = None
        if self.resume:
            if not self.run.last.is_file():
                raise SnncError(f"nothing to resume in {self.run.path}: no last.pt (train without --resume to "
                                "start a run)")
            checkpoint = load_checkpoint(self.run.last, require_training=True)
            if checkpoint.spec != self.loaded.document_text:
                raise SnncError(f"cannot resume {self.run.path}: its spec differs from {self.spec_ref!s:.80} "
                                f"(see {self.run.spec})")
        elif self.run.last.is_file():
            raise SnncError(f"{self.run.path} already holds a run (last.pt): pass --resume to continue it, or "
                            "choose another --run-dir")
        seed_everything(cfg.seed)
        # Why the options resolved in full: the run's settings decide them, an --init checkpoint only the weights.
        options = self.target.options(self._options(), defaults=self.target.spec_defaults(self.loaded.spec))
        init = cfg.init if checkpoint is None else None
        self.model = build(self.loaded, self.target, init, options,
                           where=f"--init '{init}'" if init is not None else None).train()
        self.model.to(self.strategy.device)
        info = describe_model(self.model, self.graph)
        self.decoding = info.decoding
        self.loss_name, self.loss_fn = resolve_loss(self.custom_loss or cfg.loss, info.form, info.decoding,
                                                    cfg.loss_options)
        # config.json records what was resolved: the loss of the decoding, the spec's time steps.
        resolved = {"loss": self.loss_name}
        if info.timesteps is not None and "timesteps" in self.target.Options.model_fields:
            resolved["timesteps"] = info.timesteps
        self.config = cfg = cfg.model_copy(update=resolved)
        dump = self.config_dump()
        if checkpoint is not None:
            check_resumable(checkpoint.training["config"], dump, self.run.path)
        full = load_for(self.graph, cfg.dataset, "train", cfg.data_dir, limit=cfg.limit_train,
                        **cfg.dataset_options)
        if cfg.val_fraction > 0:
            try:
                train_set, self.val_set = split_train_val(full, cfg.val_fraction, cfg.seed)
            except ValueError as exc:
                raise SnncError(f"cannot hold out a validation split: {exc} (use more --limit-train or "
                                "--val-fraction 0)") from None
        else:
            train_set, self.val_set = full, None
        if cfg.limit_test != 0:
            self.test_set = load_for(self.graph, cfg.dataset, "test", cfg.data_dir, limit=cfg.limit_test,
                                     **cfg.dataset_options)
        if self.strategy.is_main:
            self.run.create()
            write_text(self.run.spec, self.loaded.document_text)
            write_json(self.run.config, dump)
        method_cls = METHODS.get(cfg.method)
        options = validate_options(method_cls.Options, cfg.method_options, f"method '{cfg.method}'")
        self.train_set = train_set
        probe = self.strategy.loader(train_set, cfg.batch_size, shuffle=True, seed=epoch_seed(cfg.seed, 1))
        self.steps_per_epoch = len(probe)
        self.method = method_cls(options, MethodContext(self.graph, info.spiking, info.decoding, self.loss_fn,
                                                        cfg.epochs, self.steps_per_epoch, spec=self.loaded.spec))
        self.train_set = self.method.prepare_dataset(train_set)
        if self.val_set is not None:
            self.val_set = self.method.validation_set(self.val_set)
        self.model = self.method.prepare_model(self.model, self.train_set)  # before the optimizer and a resume
        self.steps_per_epoch = len(self.strategy.loader(self.train_set, cfg.batch_size, shuffle=True,
                                                        seed=epoch_seed(cfg.seed, 1)))
        self.extra_modules = nn.ModuleDict(self.method.modules()).to(self.strategy.device)
        self.strategy.share(self.extra_modules)  # DDP wraps the model only: every rank starts from rank 0's
        self.runner = self.strategy.prepare(self.model)
        if cfg.compile and "compile" not in self.target.Options.model_fields:
            self.runner = torch.compile(self.runner)
        params = itertools.chain(self.model.parameters(), self.extra_modules.parameters())
        self.optimizer = OPTIMIZERS[cfg.optimizer](params, cfg)
        self.scheduler = (SCHEDULES[cfg.schedule](self.optimizer, cfg.epochs, self.steps_per_epoch)
                          if cfg.schedule is not None else None)
        if checkpoint is not None:
            self._restore(checkpoint)

    def config_dump(self) -> dict[str, Any]:
        """What ``config.json`` holds: the spec's name and every setting."""
        return {"spec_name": self.graph.name, **self.config.model_dump(mode="json")}

    def _restore(self, checkpoint) -> None:
        state = checkpoint.training
        load_weights(self.model, checkpoint.state_dict, where=str(self.run.last))
        if state.get("method_modules"):
            self.extra_modules.load_state_dict(state["method_modules"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        self.history, self.best = list(state["history"]), dict(state["best"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state.get("step_in_epoch", 0))
        self.sums = EpochSums(state.get("partial"))
        if self.step_in_epoch and "batches" not in (state.get("partial") or {}):
            # a checkpoint written before the per-batch log: its done batches are unknown (None), not dropped
            self.sums.batches = [[0.0, 0.0] for _ in range(self.step_in_epoch)]
        self.global_step = self.epoch * self.steps_per_epoch + self.step_in_epoch
        self.resumed_from = self.run.last

    # --- checkpoints ----------------------------------------------------------------------------------------

    def checkpoint_bytes(self) -> bytes:
        """The current state as a checkpoint file's bytes (``snnc.load`` reads the model back)."""
        training = {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "partial": self.sums.state(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                    "method_modules": self.extra_modules.state_dict(), "rng": capture_rng(), "best": self.best,
                    "history": self.history, "config": self.config_dump()}
        extra = {"epoch": self.epoch, "metrics": self.history[-1] if self.history else None}
        buf = io.BytesIO()
        torch.save(make_checkpoint(self.model, training=training, extra=extra).to_dict(), buf)
        return buf.getvalue()

    def _emit(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def warn(self, text: str) -> None:
        """Record a warning and show it through the progress callback (or print it)."""
        self.warnings.append(text)
        bar = self._progress_bar()
        if bar is not None:
            bar.line(f"[yellow]warning[/]: {text}")
        elif self.strategy.is_main:
            import warnings

            warnings.warn(text, stacklevel=2)

    def _progress_bar(self) -> Optional[ProgressBar]:
        return next((cb for cb in self.callbacks if isinstance(cb, ProgressBar)), None)

    # --- the loop -------------------------------------------------------------------------------------------

    def fit(self) -> "Trainer":
        """Run the whole life cycle; returns ``self`` (``history``, ``best``, ``test``, ``plots``, ``model``).

        Raises:
            SnncError and subclasses: a bad setting or data; TrainingDiverged; TrainingInterrupted (Ctrl-C, after
            saving a resumable checkpoint).
        """
        self.setup()
        previous = self._catch_interrupts()
        try:
            self._emit("on_fit_start")
            for epoch in range(self.epoch + 1, self.config.epochs + 1):
                self._run_epoch(epoch)
            self.model.eval()
            self._test()
            self._emit("on_fit_end")
            self.strategy.barrier()  # no rank closes its connections while another still exchanges
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            # Drop the DDP wrapper (its reducer holds the process group) so that teardown frees the group now,
            # while the interpreter is alive: freed at exit, gloo's threads can abort the process.
            self.runner = self.model
            self.strategy.teardown()
        return self

    def _catch_interrupts(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True

        return signal.signal(signal.SIGINT, handler)

    def _run_epoch(self, epoch: int) -> None:
        cfg = self.config
        start = time.perf_counter()
        loader = self.strategy.loader(self.train_set, cfg.batch_size, shuffle=True, seed=epoch_seed(cfg.seed, epoch))
        skip = self.step_in_epoch
        if skip == 0:
            self.sums = EpochSums({"lr": self.optimizer.param_groups[0]["lr"]})
        lr_now = self.sums.lr
        self._emit("on_epoch_start", epoch, self.steps_per_epoch - skip)
        self.model.train()
        self.extra_modules.train()
        last_save = time.monotonic()
        for index, raw in enumerate(itertools.islice(loader, skip, None), start=skip + 1):
            batch = Batch.of(raw).to(self.strategy.device)
            if batch.env is None and self.method.needs_env:
                raise SnncError(f"method '{cfg.method}' needs batches labelled with their environment, but "
                                f"dataset '{cfg.dataset}' gives (x, y) only: use a dataset with environments "
                                "(e.g. irm-colored-mnist)")
            info = StepInfo(epoch, cfg.epochs, self.global_step, self.steps_per_epoch)
            out = self.method.step(self.runner, batch, info)
            if not is_finite(out.loss):
                kept = (f"{self.run.last} (epoch {self.epoch}) and {self.run.best} are kept" if self.epoch
                        else "no checkpoint was written (it diverged in the first epoch)")
                raise TrainingDiverged(
                    f"training diverged: the loss became {out.loss.detach().item()} at epoch {epoch}, batch "
                    f"{index}/{self.steps_per_epoch} (lr {self.optimizer.param_groups[0]['lr']:.3g}); {kept}. "
                    "Lower --lr (or pick another --loss or --schedule) and start a new run.")
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            self.strategy.average_gradients(self.extra_modules.parameters())
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            with torch.no_grad():
                self.sums.add(float(out.loss), batch, out.output, self.decoding, out.metrics)
            self.step_in_epoch, self.global_step = index, self.global_step + 1
            self._emit("on_batch_end", self.sums.mean_loss, self.sums.accuracy)
            if self._stop_requested:
                self._interrupt(epoch, index)
            due = (index % cfg.checkpoint_every == 0) if cfg.checkpoint_every else \
                (time.monotonic() - last_save) / 60 >= cfg.checkpoint_minutes
            if due and index < self.steps_per_epoch:
                self._emit("on_checkpoint", False)
                last_save = time.monotonic()
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise TrainingDiverged(f"training diverged: the weights became non-finite in epoch {epoch}; "
                                   f"{self.run.last} keeps epoch {self.epoch}. Lower --lr.")
        record = self._record(epoch, lr_now, start)
        self.history.append(record)
        split = "val" if record.get("val") else "train"  # without a validation split: training accuracy
        score = record[split]["accuracy"]
        if self.best["accuracy"] is None or score > self.best["accuracy"]:
            self.best = {"epoch": epoch, "accuracy": score, "split": split}
            if self.strategy.is_main:  # the weights best.pt is about to hold (see best_model)
                self._best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        self.epoch, self.step_in_epoch = epoch, 0
        self.sums = EpochSums()
        self._emit("on_checkpoint", True)
        self._emit("on_epoch_end", record)
        if self.on_epoch_end is not None:
            self.on_epoch_end(record)

    def _record(self, epoch: int, lr: float, start: float) -> dict[str, Any]:
        sums = EpochSums.from_flat(self.strategy.reduce_sums(self.sums.flat()))
        train: dict[str, Any] = {"loss": sums.mean_loss, "accuracy": sums.accuracy}
        train.update({k: v / sums.samples for k, v in sums.metrics.items()} if sums.samples else {})
        if sums.env:
            train["env"] = {k: {"accuracy": c / n if n else 0.0, "samples": n} for k, (c, n) in
                            sorted(sums.env.items())}
        record: dict[str, Any] = {"epoch": epoch, "lr": lr, "train": train, "batch_losses": sums.batch_losses}
        if self.val_set is not None:
            val = evaluate(self.model, self.val_set, split="val", loss=self.loss_fn,
                           batch_size=max(self.config.batch_size, 256), graph=self.graph, name=self.config.dataset)
            record["val"] = {"loss": val.loss, "accuracy": val.accuracy}
            if val.environments:
                record["val"]["env"] = val.environments
            record["firing_rates"] = val.firing_rates
        record["seconds"] = time.perf_counter() - start
        return record

    def _interrupt(self, epoch: int, index: int) -> None:
        self._emit("on_checkpoint", False)
        self._emit("on_interrupt")
        spec = self.spec_ref if isinstance(self.spec_ref, (str, Path)) and len(str(self.spec_ref)) < 300 else "SPEC"
        raise TrainingInterrupted(
            f"interrupted at epoch {epoch}, after batch {index}/{self.steps_per_epoch}; saved {self.run.last} (resumable: "
            f"training continues from that step with the same result). Resume with: snnc train {spec} --resume "
            f"--run-dir {self.run.path}")

    def best_model(self) -> Optional[nn.Module]:
        """The model of ``best.pt`` (None before one is written), built once and shared by the test evaluation and
        the plots: from the weights kept in memory when it was written, or read from the file once (a resumed
        run whose best epoch came before)."""
        if self._best_model is None and self.run.best.is_file():
            source = self.run.best if self._best_state is None else \
                dataclasses.replace(artifact_of(self.model), state_dict=self._best_state)
            self._best_model = build(None, self.target, source, where=str(self.run.best))
        return self._best_model

    def _test(self) -> None:
        if self.test_set is None or not self.run.best.is_file() or not self.strategy.is_main:
            return
        best = self.best_model()
        progress = self._progress_bar()
        self.test = evaluate(best, self.test_set, loss=self.loss_fn, batch_size=max(self.config.batch_size, 256),
                             graph=self.graph, name=self.config.dataset, progress=progress is not None,
                             console=progress.console if progress is not None else None,
                             device=self.strategy.device)
        if progress is not None:
            progress.line(f"test accuracy {self.test.accuracy:.2%} on {self.test.samples} samples of "
                          f"{self.config.dataset} (best.pt, epoch {self.best['epoch']})")


def _targets():
    from snnc.compiler.targets.registry import TARGETS

    return TARGETS.items()


def default_callbacks(*, progress: bool = True, console: Any = None, plots: bool = True) -> list[Callback]:
    """Progress bar (when ``progress``), checkpoints, metrics files, health warnings and plots (when ``plots``)."""
    from .callbacks import Checkpointer, HealthCheck, MetricsWriter, Plotter, ProgressBar

    callbacks: list[Callback] = [Checkpointer(), MetricsWriter(), HealthCheck()]
    if progress:
        callbacks.insert(0, ProgressBar(console))
    if plots:
        callbacks.append(Plotter())
    return callbacks


__all__ = ["CHECKPOINT_MINUTES", "OPTIMIZERS", "RESUME_IGNORED", "SCHEDULES", "TrainConfig", "Trainer",
           "default_callbacks", "epoch_seed", "make_config", "seed_everything"]
