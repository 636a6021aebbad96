"""``balanced``: backdoor adjustment by resampling, so that within each label every colour is equally frequent.

Report A's derivation: with the colour ``c`` a confounder of image and label, the interventional prediction is
``P(y | do(x)) = Σ_c P(y | x, c) P(c)``. Training on data in which ``P(c | y)`` is uniform makes colour carry no
information about the label, so the plain loss then estimates the adjusted one. :meth:`Balanced.prepare_dataset`
resamples the training set once, before the loaders are built: for each label ``y`` and each colour ``c`` seen
with it, the group ``(y, c)`` is cut to the size of the smallest group of that label (``undersample``, no
repeats) or drawn with repeats up to the largest (``oversample``). Steps are then plain ERM.

The colour is read from the dataset's ``colors`` attribute (``irm-colored-mnist``, ``colored-mnist``), or the
attribute named by ``attribute``, through ``Subset`` wrappers.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import Subset

from .envs import attribute_of
from .erm import ERM

__all__ = ["Balanced", "BalancedOptions", "attribute_of", "balanced_indices"]


class BalancedOptions(BaseModel):
    """Options of ``balanced``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["undersample", "oversample"] = Field("undersample", description="cut groups to the smallest of "
                                                       "their label, or repeat up to the largest")
    attribute: str = Field("colors", description="the dataset attribute holding each sample's spurious feature")
    seed: int = Field(0, description="seed of the resampling")


def balanced_indices(targets: torch.Tensor, attribute: torch.Tensor, mode: str = "undersample",
                     seed: int = 0) -> list[int]:
    """Sample indices in which, within each label, every attribute value seen with it is equally frequent.

    Args:
        targets: labels ``[N]``.
        attribute: the spurious feature ``[N]``.
        mode: ``"undersample"`` or ``"oversample"``.
        seed: seed of the draw.

    Returns:
        Indices into the dataset, shuffled.

    Raises:
        ValueError: unknown mode or lengths that disagree.
    """
    if mode not in ("undersample", "oversample"):
        raise ValueError(f"mode must be 'undersample' or 'oversample', got {mode!r}")
    if len(targets) != len(attribute):
        raise ValueError(f"{len(targets)} targets but {len(attribute)} attribute values")
    rng = np.random.Generator(np.random.PCG64(seed))
    y, a = targets.numpy(), attribute.numpy()
    chosen: list[np.ndarray] = []
    for label in np.unique(y):
        groups = [np.flatnonzero((y == label) & (a == value)) for value in np.unique(a[y == label])]
        sizes = [len(g) for g in groups]
        size = min(sizes) if mode == "undersample" else max(sizes)
        for group in groups:
            if size <= len(group):
                chosen.append(rng.choice(group, size, replace=False))
            else:
                chosen.append(np.concatenate([group, rng.choice(group, size - len(group), replace=True)]))
    out = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    return rng.permutation(out).tolist()


class Balanced(ERM):
    """Resample the training set so colour is independent of the label, then train with the plain loss."""

    name = "balanced"
    description = "backdoor adjustment: resample so that within each label the colours are equally frequent"
    Options = BalancedOptions

    def prepare_dataset(self, dataset: Any) -> Subset:
        targets, values = attribute_of(dataset, self.options.attribute, self.name)
        return Subset(dataset, balanced_indices(targets, values, self.options.mode, self.options.seed))
