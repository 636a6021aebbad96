"""Training strategies, by name (see :class:`~snnc.runtime.strategies.base.Strategy`)."""

from snnc.compiler.registry import Registry

from .base import SingleProcess, Strategy

STRATEGIES: Registry = Registry("training strategy", {
    "single": "snnc.runtime.strategies.base:SingleProcess",
    "ddp": "snnc.runtime.strategies.distributed:Distributed",
})
"""Strategy name → :class:`Strategy` subclass, imported on first use."""

__all__ = ["STRATEGIES", "SingleProcess", "Strategy"]
