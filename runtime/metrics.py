"""Accuracy, confusion matrices and spike recordings, read the way the spec's decoding reads the output.

A model's output is what it returned: ``(spk, mem)`` each ``[T, B, classes]`` for the snn target, logits
``[B, classes]`` for the ann target. Predictions follow the decoding:

* ``rate`` and ``count``: the class with the most output spikes — ``snntorch.functional.accuracy_rate``;
* ``membrane``: the class with the highest mean membrane over time;
* ann logits: the largest logit.

Ties go to the lowest class index (torch's ``max`` returns the first maximum), as in snnTorch.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import snntorch.functional as SF
import torch
from torch import Tensor, nn


def scores(output: Any, decoding: str | None) -> Tensor:
    """Class scores ``[B, classes, ...]`` from a model output.

    Args:
        output: ``(spk, mem)`` (snn) or a logits tensor (ann).
        decoding: the snn decoding kind (``rate``, ``count``, ``membrane``); ignored for logits.

    Returns:
        The scores: mean spikes, total spikes, mean membrane or the logits.

    Raises:
        ValueError: an unknown decoding for a spiking output.
    """
    if isinstance(output, Tensor):
        return output
    spk, mem = output
    if decoding == "rate":
        return spk.mean(0)
    if decoding == "count":
        return spk.sum(0)
    if decoding == "membrane":
        return mem.mean(0)
    raise ValueError(f"unknown decoding '{decoding}' (expected rate, count or membrane)")


def predictions(output: Any, decoding: str | None) -> Tensor:
    """Predicted classes ``[B, ...]`` (argmax of :func:`scores` over the class dimension)."""
    return scores(output, decoding).argmax(1)


def predict_masks(model: Any, images: Any) -> Any:
    """Class masks ``[N, H, W]`` of a segmentation network on ``images`` ``[N, C, H, W]``: the argmax of its class
    scores (``scores(x)`` of a spiking network, the logits of any other), or ``score > 0`` for one logit."""
    from snnc.compiler.targets.base import is_spiking

    model.eval()
    with torch.no_grad():
        out = model.scores(images) if is_spiking(model) else model(images)
    return (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(1)


def first_samples(dataset: Any, count: int) -> tuple[Tensor, Tensor]:
    """The first ``count`` items of a dataset as ``(images [N, C, H, W], labels [N, ...])``."""
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    return torch.stack([item[0] for item in items]), torch.stack([torch.as_tensor(item[1]) for item in items])


def count_correct(output: Any, targets: Tensor, decoding: str | None) -> int:
    """How many predictions match ``targets`` (every element counts for dense outputs).

    Args:
        output: the model output.
        targets: labels ``[B]`` (or ``[B, H, W]`` for segmentation).
        decoding: the snn decoding kind, or None for logits.

    Returns:
        The number of correct predictions.
    """
    if not isinstance(output, Tensor) and decoding in ("rate", "count") and output[0].dim() == 3:
        # Why: snnTorch's own accuracy for spike-count decoding; rate and count share the argmax.
        return round(float(SF.accuracy_rate(output[0], targets)) * targets.numel())
    return int((predictions(output, decoding) == targets).sum())


class ConfusionMatrix:
    """Counts of (true class, predicted class) pairs.

    Attributes:
        matrix: int64 ``[classes, classes]``; row = true class, column = predicted class.
    """

    def __init__(self, classes: int):
        """Start from zero counts for ``classes`` classes."""
        self.matrix = torch.zeros(classes, classes, dtype=torch.int64)

    def update(self, predicted: Tensor, targets: Tensor) -> None:
        """Add a batch of predictions (any shape; ``targets`` of the same shape)."""
        n = self.matrix.shape[0]
        idx = targets.reshape(-1).long() * n + predicted.reshape(-1).long()
        self.matrix += torch.bincount(idx, minlength=n * n).reshape(n, n)

    @property
    def total(self) -> int:
        """Number of predictions counted."""
        return int(self.matrix.sum())

    @property
    def accuracy(self) -> float:
        """Share of correct predictions (0.0 when empty)."""
        return float(self.matrix.diag().sum()) / self.total if self.total else 0.0

    def per_class_accuracy(self) -> list[float]:
        """Recall of each class (0.0 for a class with no samples)."""
        support = self.matrix.sum(1).clamp(min=1)
        return (self.matrix.diag().double() / support).tolist()

    def tolist(self) -> list[list[int]]:
        """The matrix as nested lists of ints."""
        return self.matrix.tolist()


class RunningMean:
    """A weighted running mean (e.g. the loss over batches of different sizes)."""

    def __init__(self) -> None:
        """Start empty."""
        self.total = 0.0
        self.count = 0

    def add(self, value: float, weight: int = 1) -> None:
        """Add ``value`` with ``weight`` (usually the batch size)."""
        self.total += value * weight
        self.count += weight

    @property
    def mean(self) -> float:
        """The mean so far (NaN when empty)."""
        return self.total / self.count if self.count else float("nan")


def neuron_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The neuron layers of a spiking module by node name (empty for the ann target)."""
    return dict(getattr(model, "neurons", {}) or {})


@contextlib.contextmanager
def record_layer_spikes(model: nn.Module, batch: int) -> Iterator[dict[str, list[Tensor]]]:
    """Record the spikes each neuron layer emits during the calls inside the ``with`` block.

    Why hooks: the spiking module reports only counts; a raster needs the spike trains, which the neuron
    layers return (time folded into the batch, one call per chunk of steps).

    Args:
        model: a spiking module (layers from its ``neurons`` property).
        batch: the batch size of the calls (to unfold ``[k * B, ...]`` into ``[k, B, ...]``).

    Yields:
        layer name → list of chunks ``[k, B, ...]``; concatenate along dim 0 for ``[T, B, ...]``.
    """
    found: dict[str, list[Tensor]] = {name: [] for name in neuron_layers(model)}
    handles = []
    for name, layer in neuron_layers(model).items():
        def hook(module, args, kwargs, output, _name=name):
            spk = output[0] if isinstance(output, tuple) else output
            found[_name].append(spk.detach().unflatten(0, (-1, batch)).clone())

        handles.append(layer.register_forward_hook(hook, with_kwargs=True))
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


def layer_spike_trains(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Every neuron layer's spike trains for one input batch.

    Args:
        model: a spiking module.
        x: the input batch ``[B, ...]``.

    Returns:
        layer name → spikes ``[T, B, neurons]`` (neurons flattened).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), record_layer_spikes(model, x.shape[0]) as found:
            model(x)
    finally:
        model.train(was_training)
    return {name: torch.cat(chunks).flatten(2) for name, chunks in found.items() if chunks}


def firing_rates_from_trains(trains: dict[str, Tensor]) -> dict[str, float]:
    """Spikes per neuron per step of each layer in recorded spike trains ``[T, B, N]``."""
    return {name: float(spk.float().mean()) for name, spk in trains.items()}


def format_rates(rates: dict[str, float], names: Sequence[str] | None = None) -> str:
    """``lif1 0.123 · lif2 0.045`` for a log line."""
    keys = list(names) if names is not None else list(rates)
    return " · ".join(f"{k} {rates[k]:.3f}" for k in keys)
