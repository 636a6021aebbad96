"""Training losses by name: snnTorch's spiking losses for the snn target, cross-entropy for the ann target.

Each entry of :data:`LOSSES` says which output form it serves, which recording it reads (output spikes ``spk`` or
membrane ``mem``, both ``[T, B, classes]``; or the ann's logits ``[B, classes]``) and how to build it. A built
loss is a callable ``loss(output, targets) -> scalar`` where ``output`` is what the model returned: ``(spk, mem)``
for the snn target, logits for the ann target.

The snn losses are ``snntorch.functional``'s own (their results are reshaped to a scalar) plus
``ce_membrane_per_step``, the loss of snnTorch tutorial 5:

.. math:: L = \\sum_{t=1}^{T} \\mathrm{CE}(\\mathrm{mem}[t], y)

(cross-entropy of the output membrane at every step, averaged over the batch and summed over time).

The spec's decoding picks the default (:func:`default_loss`): ``rate`` → ``ce_rate_loss``, ``count`` →
``ce_count_loss``, ``membrane`` → ``ce_membrane_per_step``; scores (an ann's logits) use ``cross_entropy``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import snntorch.functional as SF
import torch
import torch.nn.functional as F
from torch import Tensor

from snnc.compiler.errors import UnsupportedError, did_you_mean

RECORDING = "recording"
"""The output form ``(spk, mem)``, each ``[T, B, classes]`` (see the spiking-network contract)."""
SCORES = "scores"
"""The output form of scores ``[B, classes]``: an ann's logits, a converted network's averaged output."""

LossFn = Callable[[Any, Tensor], Tensor]
"""A built loss: ``loss(model_output, targets) -> scalar tensor``."""


@dataclass(frozen=True)
class LossInfo:
    """One named loss.

    Attributes:
        name: the name ``--loss`` takes.
        form: the model output it reads: ``recording`` (``(spk, mem)`` of a trainable spiking network) or
            ``scores`` (logits, or the decoded output of a converted network).
        reads: ``spk`` (output spikes), ``mem`` (output membrane) or ``logits``.
        description: one line for ``--help`` and error messages.
        factory: builds the criterion from keyword options (the options are the factory's keyword arguments).
    """

    name: str
    form: str
    reads: str
    description: str
    factory: Callable[..., Callable[[Tensor, Tensor], Tensor]]

    def options(self) -> dict[str, Any]:
        """The options this loss takes, with their defaults."""
        params = inspect.signature(self.factory).parameters.values()
        return {p.name: p.default for p in params}


def _check_recording(name: str, rec: Tensor) -> None:
    if rec.dim() != 3:
        raise UnsupportedError(
            f"loss '{name}' reads a recording [T, B, classes], got shape {list(rec.shape)}; for dense outputs "
            "(e.g. segmentation) use --loss ce_membrane_per_step"
        )


def _snntorch(name: str, criterion: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(rec: Tensor, targets: Tensor) -> Tensor:
        _check_recording(name, rec)
        # Why reshape: several snnTorch losses accumulate into a tensor of shape [1].
        return criterion(rec, targets).reshape(())

    return loss


def _ce_rate() -> Callable[[Tensor, Tensor], Tensor]:
    return _snntorch("ce_rate_loss", SF.ce_rate_loss())


def _ce_count() -> Callable[[Tensor, Tensor], Tensor]:
    return _snntorch("ce_count_loss", SF.ce_count_loss())


def _mse_count(correct_rate: float = 0.8, incorrect_rate: float = 0.2) -> Callable[[Tensor, Tensor], Tensor]:
    return _snntorch("mse_count_loss", SF.mse_count_loss(correct_rate=correct_rate, incorrect_rate=incorrect_rate))


def _ce_max_membrane() -> Callable[[Tensor, Tensor], Tensor]:
    return _snntorch("ce_max_membrane_loss", SF.ce_max_membrane_loss())


def _mse_membrane(on_target: float = 1.0, off_target: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
    return _snntorch("mse_membrane_loss", SF.mse_membrane_loss(on_target=on_target, off_target=off_target))


def _ce_membrane_per_step() -> Callable[[Tensor, Tensor], Tensor]:
    def loss(mem: Tensor, targets: Tensor) -> Tensor:
        steps, batch = mem.shape[0], mem.shape[1]
        # Why one call: the sum over steps of the batch-mean CE equals the summed CE over all T*B rows / B.
        flat_targets = targets.unsqueeze(0).expand(steps, *targets.shape).flatten(0, 1)
        return F.cross_entropy(mem.flatten(0, 1), flat_targets, reduction="sum") / batch

    return loss


def _cross_entropy(label_smoothing: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)

    return loss


LOSSES: Mapping[str, LossInfo] = MappingProxyType({
    "ce_rate_loss": LossInfo("ce_rate_loss", RECORDING, "spk", "cross-entropy of the output spikes at every step, "
                             "averaged over time (snntorch.functional)", _ce_rate),
    "ce_count_loss": LossInfo("ce_count_loss", RECORDING, "spk", "cross-entropy of the total output spike counts "
                              "(snntorch.functional)", _ce_count),
    "mse_count_loss": LossInfo("mse_count_loss", RECORDING, "spk", "squared error of spike counts against "
                               "correct_rate/incorrect_rate × T (snntorch.functional)", _mse_count),
    "ce_max_membrane_loss": LossInfo("ce_max_membrane_loss", RECORDING, "mem", "cross-entropy of the maximum output "
                                     "membrane over time (snntorch.functional)", _ce_max_membrane),
    "mse_membrane_loss": LossInfo("mse_membrane_loss", RECORDING, "mem", "squared error of the output membrane against "
                                  "on_target/off_target at every step (snntorch.functional)", _mse_membrane),
    "ce_membrane_per_step": LossInfo("ce_membrane_per_step", RECORDING, "mem", "sum over steps of the cross-entropy of "
                                     "the output membrane (snnTorch tutorial 5)", _ce_membrane_per_step),
    "cross_entropy": LossInfo("cross_entropy", SCORES, "logits", "cross-entropy of the logits",
                              _cross_entropy),
})
"""Loss name → :class:`LossInfo`."""

DEFAULT_LOSS: Mapping[str, str] = MappingProxyType({
    "rate": "ce_rate_loss",
    "count": "ce_count_loss",
    "membrane": "ce_membrane_per_step",
})
"""The spec's decoding kind → the snn target's default loss."""


def default_loss(form: str, decoding: str | None) -> str:
    """The default loss name for a model output form and an output decoding.

    Args:
        form: :data:`RECORDING` or :data:`SCORES`.
        decoding: the spec's decoding kind (``rate``, ``count`` or ``membrane``).

    Returns:
        ``cross_entropy`` for scores; for recordings the entry of :data:`DEFAULT_LOSS`.

    Raises:
        UnsupportedError: a decoding without a default loss.
    """
    if form != RECORDING:
        return "cross_entropy"
    if decoding not in DEFAULT_LOSS:
        raise UnsupportedError(f"no default loss for decoding '{decoding}'; pass --loss "
                               f"({', '.join(n for n, i in LOSSES.items() if i.form == RECORDING)})")
    return DEFAULT_LOSS[decoding]


def loss_info(name: str) -> LossInfo:
    """The :class:`LossInfo` called ``name``.

    Raises:
        UnsupportedError: unknown name (with a did-you-mean and the list of losses).
    """
    info = LOSSES.get(name)
    if info is None:
        raise UnsupportedError(f"unknown loss '{name}'.{did_you_mean(name, LOSSES)} Losses: {', '.join(LOSSES)}")
    return info


def make_loss(name: str, form: str, **options: Any) -> LossFn:
    """Build a named loss for a model output form.

    Args:
        name: a key of :data:`LOSSES`.
        form: :data:`RECORDING` (the model returns ``(spk, mem)``) or :data:`SCORES` (logits).
        **options: the loss's options (e.g. ``correct_rate`` for ``mse_count_loss``).

    Returns:
        ``loss(output, targets) -> scalar``.

    Raises:
        UnsupportedError: unknown loss, a loss of the other output form, or an option the loss does not take.
    """
    info = loss_info(name)
    if info.form != form:
        fitting = ", ".join(n for n, i in LOSSES.items() if i.form == form)
        what = {RECORDING: "spiking networks trained through time (snn)", SCORES: "scores or logits (ann)"}
        raise UnsupportedError(f"loss '{name}' is for {what[info.form]}; losses for {what[form]}: {fitting}")
    allowed = info.options()
    for key in options:
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise UnsupportedError(f"loss '{name}' has no option '{key}'.{did_you_mean(key, allowed)} "
                                   f"Its options: {known}")
    criterion = info.factory(**options)
    if info.reads == "spk":
        return lambda output, targets: criterion(output[0], targets)
    if info.reads == "mem":
        return lambda output, targets: criterion(output[1], targets)
    return criterion


def resolve_loss(loss: str | LossFn | None, form: str, decoding: str | None, options: dict[str, Any] | None = None
                 ) -> tuple[str, LossFn]:
    """Turn the ``loss`` argument of :func:`~snnc.runtime.train.train` into a name and a callable.

    Args:
        loss: a loss name, a callable ``loss(output, targets)``, or None for :func:`default_loss`.
        form: the model's output form (:data:`RECORDING` or :data:`SCORES`).
        decoding: the spec's decoding kind.
        options: options of a named loss.

    Returns:
        ``(name, loss)``; a callable's name is its ``__name__``.

    Raises:
        UnsupportedError: see :func:`make_loss`; options given with a callable.
    """
    if callable(loss):
        if options:
            raise UnsupportedError("loss options apply to named losses only, not to a loss function")
        return getattr(loss, "__name__", type(loss).__name__), loss
    name = loss or default_loss(form, decoding)
    return name, make_loss(name, form, **(options or {}))


def is_finite(value: Tensor) -> bool:
    """Whether a loss value is finite (no NaN, no infinity)."""
    return bool(torch.isfinite(value).all())
