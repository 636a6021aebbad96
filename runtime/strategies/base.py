"""Where and on how many processes training runs: a strategy owns devices, processes, samplers and reductions.

The trainer asks its strategy for the model to run (:meth:`Strategy.prepare`: for example a
``DistributedDataParallel`` wrapper), for each epoch's loader (a rank's shard in a fixed, seeded order), and
to sum per-process figures (:meth:`Strategy.reduce_sums`). Only the main process writes files
(:attr:`Strategy.is_main`). As Lightning's ``Strategy``; the single-process one is :class:`SingleProcess`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
from torch import nn


class Strategy:
    """The single-process interface every strategy implements.

    Attributes:
        name: the strategy's name.
        world_size: processes taking part.
        rank: this process's index (0 is the main process).
        device: where tensors of this process live.
    """

    name = "base"
    world_size: int = 1
    rank: int = 0

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory, checkpoints and plots."""
        return self.rank == 0

    def setup(self) -> None:
        """Start (join process groups, pick the device) before the model is built."""

    def prepare(self, model: nn.Module) -> nn.Module:
        """The module the training steps call (the trainer keeps ``model`` itself for checkpoints)."""
        return model

    def loader(self, dataset: Any, batch_size: int, *, shuffle: bool, seed: int) -> Iterable:
        """This process's batches of ``dataset`` (``batch_size`` per process), in an order fixed by ``seed``."""
        raise NotImplementedError

    def reduce_sums(self, values: Mapping[str, float]) -> dict[str, float]:
        """The sums of ``values`` over all processes."""
        return dict(values)

    def share(self, module: nn.Module) -> None:
        """Give every process the first process's parameters and buffers of ``module`` (a module trained
        outside :meth:`prepare`'s wrapper, such as a method's domain discriminator)."""

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Average the gradients of ``parameters`` over all processes (after ``backward``; for modules
        :meth:`prepare` did not wrap)."""

    def barrier(self) -> None:
        """Wait until every process gets here."""

    def teardown(self) -> None:
        """Leave process groups; called once at the end, also after an error."""


class SingleProcess(Strategy):
    """Train in this process on one device."""

    name = "single"

    def loader(self, dataset: Any, batch_size: int, *, shuffle: bool, seed: int) -> Iterable:
        """Batches in the order of a one-process :class:`~.distributed.ShardSampler`. Why: it is the union, step by
        step, of what ``N`` ranks of the ``ddp`` strategy see with ``batch_size / N`` each, so a run on one process
        and a run on several give the same weights."""
        from snnc.runtime.data import make_loader

        from .distributed import ShardSampler

        sampler = ShardSampler(dataset, 1, 0, shuffle=shuffle, seed=seed, pad=False)
        return make_loader(dataset, batch_size, seed=seed, sampler=sampler)
