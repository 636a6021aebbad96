"""Evaluate a trained model (or a checkpoint) on a dataset: accuracy, confusion matrix, spikes.

:func:`evaluate` runs the model over a dataset split without gradients and returns an :class:`EvalResult`:
accuracy under the spec's decoding (see :mod:`snnc.runtime.metrics`), the mean loss, the confusion matrix, and
for spiking models the firing rate of every neuron layer (spikes per neuron per step) and the spikes each
sample costs, per layer and in total. ``result.to_dict()`` is plain JSON.

:func:`run_batches` is the one evaluation loop (eval mode, no gradients, batches where the model is); the burst
and mnn sweeps of :mod:`snnc.runtime.sweep` score through it too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn
from torch.utils.data import Dataset

from snnc.compiler.errors import DataError, InternalError, UnsupportedError
from snnc.compiler.pipeline import graph_of, load, provenance
from snnc.compiler.targets.base import is_spiking

from .data import load_for, make_loader
from .device import module_device, resolve_device
from .losses import RECORDING, SCORES, LossFn, resolve_loss
from .methods import Batch
from .metrics import ConfusionMatrix, RunningMean, count_correct, predictions, scores


@dataclass
class ModelInfo:
    """What evaluation needs to know about a model (asked of the model, never of a target name).

    Attributes:
        target: the target's name, for the record (``"module"`` for a module snnc did not build).
        form: the output form, :data:`~snnc.runtime.losses.RECORDING` or :data:`~snnc.runtime.losses.SCORES`.
        spiking: whether the model keeps the spiking-network contract (spike counts are read).
        decoding: the decoding kind of a recording output, else None.
        timesteps: steps per call of a spiking model, else None.
        graph: the IR graph when known (input range and shape, task), else None.
    """

    target: str
    form: str
    spiking: bool
    decoding: Optional[str]
    timesteps: Optional[int]
    graph: Any = None


def describe_model(model: nn.Module, graph: Any = None) -> ModelInfo:
    """What a model is: its target, output form, decoding and graph.

    Args:
        model: a module built by snnc, or any module returning logits.
        graph: the IR graph if the caller has it.
    """
    graph = graph if graph is not None else graph_of(model)
    prov = provenance(model)
    name = prov.target if prov is not None else "module"
    if not is_spiking(model):
        return ModelInfo(name, SCORES, False, None, None, graph)
    form = model.output_form
    decoding = getattr(getattr(model, "decoding", None), "kind", None) if form == RECORDING else None
    return ModelInfo(name, form, True, decoding, int(model.timesteps), graph)


def class_names_of(dataset: Dataset, classes: int) -> list[str]:
    """The dataset's class names (``classes`` attribute, through subsets), else ``"0"``, ``"1"``..."""
    inner = dataset
    while not hasattr(inner, "classes") and hasattr(inner, "dataset"):
        inner = inner.dataset
    names = list(getattr(inner, "classes", ()) or ())
    return [str(n) for n in names] if len(names) == classes else [str(i) for i in range(classes)]


@dataclass
class EvalResult:
    """The outcome of :func:`evaluate`.

    Attributes:
        dataset: the dataset's name.
        split: ``test``, ``train`` or ``val``.
        samples: samples evaluated.
        target: ``snn`` or ``ann``.
        decoding: the snn decoding used for predictions (None for ann).
        timesteps: steps per sample (snn), else None.
        accuracy: share of correct predictions.
        loss: mean loss per sample (None when no loss was computed).
        loss_name: the loss used.
        class_names: label names, index = label.
        confusion: ``confusion[true][predicted]`` counts.
        per_class_accuracy: recall of each class.
        firing_rates: neuron layer → spikes per neuron per step (snn only).
        spikes_per_sample: neuron layer → spikes per sample (snn only).
        total_spikes_per_sample: the sum over layers.
        neurons: neuron layer → neurons per sample.
        environments: environment → ``{"accuracy", "samples"}`` when the data labels environments.
        seconds: wall time of the evaluation.
    """

    dataset: str
    split: str
    samples: int
    target: str
    decoding: Optional[str]
    timesteps: Optional[int]
    accuracy: float
    loss: Optional[float]
    loss_name: Optional[str]
    class_names: list[str]
    confusion: list[list[int]]
    per_class_accuracy: list[float]
    firing_rates: dict[str, float] = field(default_factory=dict)
    spikes_per_sample: dict[str, float] = field(default_factory=dict)
    total_spikes_per_sample: float = 0.0
    neurons: dict[str, int] = field(default_factory=dict)
    environments: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)


def _progress(enabled: bool, console: Any, total: int, label: str):
    if not enabled or console is None or not console.is_terminal:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
                    transient=True)


def _load_model(source: nn.Module | str | Path, spec: Any, params: dict | None, timesteps: int | None
                ) -> nn.Module:
    if isinstance(source, nn.Module):
        return source
    return load(source, spec=spec, params=params, options={"timesteps": timesteps} if timesteps else None)


def evaluate(
    model_or_checkpoint: nn.Module | str | Path,
    dataset: str | Dataset = "mnist-sample",
    *,
    split: str = "test",
    data_dir: str | Path | None = None,
    batch_size: int = 256,
    limit: int | None = None,
    timesteps: int | None = None,
    loss: str | LossFn | None = None,
    spec: Any = None,
    params: dict | None = None,
    graph: Any = None,
    name: str | None = None,
    progress: bool = False,
    console: Any = None,
    device: str | torch.device | None = None,
) -> EvalResult:
    """Evaluate a model on a dataset split.

    Args:
        model_or_checkpoint: a module from ``snnc.compile`` (trained), or a checkpoint/artifact path
            (``run/best.pt``) whose embedded spec rebuilds the model.
        dataset: a dataset name (see :func:`snnc.runtime.data.load_dataset`) or a dataset object.
        split: the split of a named dataset (for a dataset object, only its label in the result).
        data_dir: where the dataset's files are.
        batch_size: samples per forward pass.
        limit: evaluate only the first ``limit`` samples of a named dataset.
        timesteps: override the spiking model's steps.
        loss: the loss to report (a name, a callable, or None for the model's default loss).
        spec: build the model from this spec instead of the checkpoint's (the weights must fit).
        params: spec parameter overrides for ``spec``.
        graph: the model's IR graph when the caller has it (input normalisation, dataset checks).
        name: the dataset's name to report for a dataset object (default: its ``name`` attribute or type).
        progress: show a progress bar.
        console: the rich console for the progress bar.
        device: where to run: ``"cpu"``, ``"cuda"``, ``"auto"`` (cuda when available) or a ``torch.device``
            (see :func:`~snnc.runtime.device.resolve_device`); None: where the model is. A module of the
            caller's is moved back afterwards.

    Returns:
        The :class:`EvalResult`.

    Raises:
        DataError: a missing or unfitting dataset or checkpoint. SpecError: the spec does not validate.
        UnsupportedError: an unknown loss, or ``timesteps`` for a non-spiking model. SnncError: a bad
        ``device``, or cuda where torch sees no GPU.
    """
    where = resolve_device(device) if device is not None else None
    model = _load_model(model_or_checkpoint, spec, params, timesteps)
    home = module_device(model)
    info = describe_model(model, graph)
    if timesteps is not None:
        if not is_spiking(model):
            raise UnsupportedError("timesteps applies to spiking models only")
        # Why an argument, not the attribute: the caller's module keeps its own number of steps
        info = dataclasses.replace(info, timesteps=int(timesteps))
    try:
        if where is not None and where != home:
            model.to(where)
        return _evaluate(model, info, dataset, split=split, data_dir=data_dir, batch_size=batch_size, limit=limit,
                         loss=loss, name=name, progress=progress, console=console, timesteps=timesteps)
    finally:
        if where is not None and where != home:
            model.to(home)


OnBatch = Callable[[int], None]
"""Progress callback: called after each evaluated batch with the number of samples in it."""


def run_batches(model: nn.Module, loader: Iterable, update: Callable[[Any, Batch], None], *,
                forward: Callable[[torch.Tensor], Any] | None = None, max_batches: int | None = None,
                on_batch: OnBatch | None = None) -> None:
    """The one evaluation loop: ``model`` in eval mode, without gradients, over ``loader``'s batches.

    Each batch is moved to where the model is, run through ``forward`` (default: the model), and handed to
    ``update(output, batch)``; the model's training mode is restored afterwards. ``snnc eval``, the burst sweeps
    and the mnn sweeps all score through it, so their accuracies agree.

    Args:
        model: the module (its mode is set and restored; its device receives the batches).
        loader: ``(x, y)``, ``(x, y, env)`` ... batches (see :class:`~snnc.runtime.methods.Batch`).
        update: called with the output and the batch (on the model's device).
        forward: input → output (e.g. a spiking network's ``accumulate``); None: ``model(x)``.
        max_batches: stop after this many batches (None: all).
        on_batch: progress callback, after ``update``.

    Raises:
        UnsupportedError: a batch of another form.
    """
    forward = model if forward is None else forward
    device = module_device(model)
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i, raw in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                batch = Batch.of(raw).to(device)
                update(forward(batch.x), batch)
                if on_batch is not None:
                    on_batch(len(batch))
    finally:
        model.train(training)


class _Tally:
    """What :func:`evaluate` sums over batches: the loss, correct predictions, the confusion matrix and the
    accuracy of each environment."""

    def __init__(self, loss_fn: LossFn, decoding: str | None, classes: int | None) -> None:
        self.loss_fn, self.decoding = loss_fn, decoding
        self.mean_loss = RunningMean()
        self.confusion: ConfusionMatrix | None = ConfusionMatrix(classes) if classes else None
        self.correct = self.seen = 0
        self.per_env: dict[str, list] = {}

    def update(self, output: Any, batch: Batch) -> None:
        """Add one batch."""
        y = batch.y
        self.mean_loss.add(float(self.loss_fn(output, y)), len(y))
        self.correct += count_correct(output, y, self.decoding)
        self.seen += y.numel()
        pred = predictions(output, self.decoding)
        if self.confusion is None:
            self.confusion = ConfusionMatrix(int(scores(output, self.decoding).shape[1]))
        self.confusion.update(pred.cpu(), y.cpu())
        if batch.env is not None:
            hits = (pred == y).reshape(len(y), -1).float().mean(1)
            for env in batch.env.unique().tolist():
                mask = batch.env == env
                slot = self.per_env.setdefault(str(env), [0.0, 0])
                slot[0] += float(hits[mask].sum())
                slot[1] += int(mask.sum())

    def environments(self) -> dict[str, dict[str, float]]:
        """Environment → ``{"accuracy", "samples"}``."""
        return {k: {"accuracy": c / n if n else 0.0, "samples": n} for k, (c, n) in sorted(self.per_env.items())}


def _evaluate(model: nn.Module, info: ModelInfo, dataset: str | Dataset, *, split: str, data_dir: Any,
              batch_size: int, limit: int | None, loss: Any, name: str | None, progress: bool, console: Any,
              timesteps: int | None = None) -> EvalResult:
    if isinstance(dataset, str):
        name = name or dataset
        data = load_for(info.graph, dataset, split, data_dir, limit=limit)
    else:
        name, data = name or getattr(dataset, "name", type(dataset).__name__), dataset
    if len(data) == 0:
        raise DataError(f"the {split} split of '{name}' is empty (limit={limit})")
    loss_name, loss_fn = resolve_loss(loss, info.form, info.decoding)
    tally = _Tally(loss_fn, info.decoding, int(info.graph.task.classes) if info.graph is not None else None)
    loader = make_loader(data, batch_size, shuffle=False)
    recording = model.recording() if info.spiking else contextlib.nullcontext()
    start = time.perf_counter()
    with recording, _progress(progress, console, len(loader), f"eval {name}/{split}") as bar:
        task = bar.add_task("eval", total=len(loader)) if bar is not None else None
        forward = (lambda x: model(x, timesteps=timesteps)) if timesteps is not None else None
        run_batches(model, loader, tally.update, forward=forward,
                    on_batch=(lambda _: bar.advance(task)) if bar is not None else None)
    seconds = time.perf_counter() - start
    samples = len(data)
    rates, spikes, neurons = {}, {}, {}
    if info.spiking:
        rates = dict(model.firing_rates())
        spikes = {k: v / samples for k, v in model.spike_counts().items()}
        neurons = dict(model.neuron_counts())
    confusion = tally.confusion
    if confusion is None:  # pragma: no cover - the dataset is not empty
        raise InternalError("evaluation saw no batch")
    return EvalResult(
        dataset=str(name), split=split, samples=samples, target=info.target, decoding=info.decoding,
        timesteps=info.timesteps, accuracy=tally.correct / tally.seen if tally.seen else 0.0,
        loss=tally.mean_loss.mean, loss_name=loss_name,
        class_names=class_names_of(data, confusion.matrix.shape[0]), confusion=confusion.tolist(),
        per_class_accuracy=confusion.per_class_accuracy(), firing_rates=rates, spikes_per_sample=spikes,
        total_spikes_per_sample=float(sum(spikes.values())), neurons=neurons, seconds=seconds,
        environments=tally.environments(),
    )
