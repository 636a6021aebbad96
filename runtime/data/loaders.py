"""Seeded train/validation splits and deterministic DataLoaders.

Determinism: with the same seed, :func:`split_train_val` picks the same indices and :func:`make_loader` yields the
same batches in the same order on every run, with or without worker processes (each worker seeds Python's
``random`` and NumPy from its torch seed, which the loader derives from its own seeded generator).
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset


def split_train_val(dataset: Dataset, val_fraction: float, seed: int = 0) -> tuple[Subset, Subset]:
    """Split a dataset at random into train and validation parts, the same way for the same seed.

    Args:
        dataset: a map-style dataset with ``len``.
        val_fraction: the validation share, in (0, 1); ``round(n * val_fraction)`` samples, at least 1 each side.
        seed: the permutation's seed.

    Returns:
        ``(train, val)`` subsets; both keep the permutation's order, and ``val`` is the permutation's tail.

    Raises:
        ValueError: ``val_fraction`` outside (0, 1) or too few samples to give each side one.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n = len(dataset)
    if n < 2:
        raise ValueError(f"cannot split a dataset of {n} sample(s) into train and validation")
    n_val = min(max(round(n * val_fraction), 1), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, order[: n - n_val]), Subset(dataset, order[n - n_val:])


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int = 0, *, num_workers: int = 0,
                drop_last: bool = False, pin_memory: bool = False,
                collate_fn: Callable | None = None, sampler: Sampler | None = None,
                persistent_workers: bool = False) -> DataLoader:
    """A DataLoader whose order (and workers' random state) is fixed by ``seed``.

    Args:
        dataset: the dataset.
        batch_size: samples per batch.
        shuffle: reshuffle every epoch (the sequence of epochs is the same for the same seed).
        seed: seeds the loader's ``torch.Generator``.
        num_workers: worker processes (0: load in the main process).
        drop_last: drop a last, smaller batch.
        pin_memory: pin batches in page-locked memory (useful only with a GPU).
        collate_fn: how to build a batch (torch's default when None).
        sampler: the order of the indices (for example a rank's shard); it replaces ``shuffle``.
        persistent_workers: keep the worker processes between epochs (saves their start-up every epoch).

    Returns:
        The loader.

    Raises:
        ValueError: ``batch_size`` < 1 or ``num_workers`` < 0.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else None,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=_seed_worker if num_workers else None,
        persistent_workers=persistent_workers and num_workers > 0,
    )
