"""The optimizers and learning-rate schedules a :class:`~snnc.runtime.config.TrainConfig` names, as tables.

Why tables: the config's ``optimizer`` and ``schedule`` are names; each maps to a factory here, so a new one is an
entry, not an ``if`` in the trainer.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch

if TYPE_CHECKING:  # pragma: no cover
    from .config import TrainConfig

SGD_MOMENTUM = 0.9
"""Momentum of the ``sgd`` optimizer."""
STEP_GAMMA = 0.1
"""The ``step`` schedule multiplies the learning rate by this every third of the run."""


def _adam(params, cfg: "TrainConfig") -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def _sgd(params, cfg: "TrainConfig") -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=SGD_MOMENTUM, weight_decay=cfg.weight_decay)


OPTIMIZERS: Mapping[str, Callable[..., torch.optim.Optimizer]] = MappingProxyType({"adam": _adam, "sgd": _sgd})
"""Optimizer name → factory ``(params, config)``: Adam, or SGD with momentum 0.9."""


def _cosine(opt: torch.optim.Optimizer, epochs: int, steps: int):
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps))


def _step(opt: torch.optim.Optimizer, epochs: int, steps: int):
    return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps * max(1, epochs // 3)), gamma=STEP_GAMMA)


SCHEDULES: Mapping[str, Callable[..., Any]] = MappingProxyType({"cosine": _cosine, "step": _step})
"""Schedule name → factory ``(optimizer, epochs, batches_per_epoch)``; schedulers advance once per batch.
``cosine`` anneals to zero over the whole run; ``step`` multiplies by 0.1 after each third of the run."""


__all__ = ["OPTIMIZERS", "SCHEDULES", "SGD_MOMENTUM", "STEP_GAMMA"]
