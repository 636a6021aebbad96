"""Scorers of a sweep and the spikes a burst network emits at each step.

* scorers (:data:`SCORERS`): accuracy for classification; pixel accuracy, IoU and F1 of the positive class for
  binary segmentation. Each has ``update(output, target)``, ``result() -> {metric: value}`` and ``metrics``;
* :class:`StepSpikeMeter`: spikes per sample after each time step of a
  :class:`~snnc.compiler.targets.burst.BurstSNN` run.

Why accuracy counts through :func:`~snnc.runtime.metrics.count_correct`: one definition of a correct prediction
for ``snnc eval``, the sweeps and the mnn sweeps.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

import torch
from torch import nn

from snnc.compiler.errors import SnncError

from .metrics import count_correct


class Accuracy:
    """Top-1 accuracy of class scores ``[B, classes]`` against labels ``[B]``."""

    metrics = ("accuracy",)

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch."""
        self.correct += count_correct(output, target, None)
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
