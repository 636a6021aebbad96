"""Helpers the out-of-distribution methods share: slicing a model output by sample, per-environment risks.

A model output is logits ``[B, classes]`` (ann) or ``(spk, mem)`` each ``[T, B, classes]`` (snn); the helpers
here treat both alike, so each method is written once for every target.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from snnc.compiler.errors import UnsupportedError

from .base import Batch


def select(output: Any, index: Tensor) -> Any:
    """The output of the samples ``index`` (a long index or a bool mask over the batch).

    Args:
        output: logits ``[B, ...]`` or ``(spk, mem)`` each ``[T, B, ...]``.
        index: which samples.

    Returns:
        The same kind of output for those samples only.
    """
    if isinstance(output, Tensor):
        return output[index]
    return tuple(part[:, index] for part in output)


def scaled(output: Any, scale: Tensor) -> Any:
    """The output times a scalar (IRM's dummy classifier ``w``): logits, or both spike and membrane traces."""
    if isinstance(output, Tensor):
        return output * scale
    return tuple(part * scale for part in output)


def require_env(batch: Batch, method: str) -> Tensor:
    """The batch's environment labels.

    Raises:
        UnsupportedError: the batch carries none (the dataset's items are ``(x, y)``).
    """
    if batch.env is None:
        raise UnsupportedError(f"method '{method}' needs environment-labelled batches (x, y, env): train on a "
                               "dataset whose items carry an environment, e.g. --dataset irm-colored-mnist")
    return batch.env


def env_risks(loss_fn: Any, output: Any, y: Tensor, env: Tensor) -> tuple[list[int], Tensor]:
    """The run's loss on each environment present in the batch.

    Args:
        loss_fn: ``loss(output, targets) -> scalar``.
        output: the batch's model output.
        y: targets ``[B]``.
        env: environment labels ``[B]``.

    Returns:
        ``(env ids in increasing order, risks [E])`` (with gradients).
    """
    ids = sorted(int(e) for e in torch.unique(env))
    risks = [loss_fn(select(output, env == e), y[env == e]) for e in ids]
    return ids, torch.stack(risks)


def l2_norm(model: nn.Module) -> Tensor:
    """``sum ||w||^2`` over the model's trainable parameters (the IRM code's explicit L2 term)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.stack([p.pow(2).sum() for p in params]).sum() if params else torch.zeros(())


def risk_metrics(ids: list[int], risks: Tensor) -> dict[str, float]:
    """``risk_env<i>`` for each environment of the batch."""
    return {f"risk_env{e}": float(r) for e, r in zip(ids, risks.detach())}


def time_major(t: Tensor, node_rank: int) -> bool:
    """Whether a tapped output ``t`` of a node with ``node_rank`` dimensions (without batch) is ``[T, B, ...]``."""
    return t.dim() == node_rank + 2


def mean_features(t: Tensor, node_rank: int) -> Tensor:
    """A tapped output averaged over time (firing rates for a spike layer) and flattened: ``[B, features]``."""
    if time_major(t, node_rank):
        t = t.mean(0)
    return t.flatten(1)


def attribute_of(dataset: Any, name: str, method: str = "balanced") -> tuple[Tensor, Tensor]:
    """``(targets, attribute)`` of every sample of a dataset, looking through ``Subset`` wrappers.

    Raises:
        UnsupportedError: the dataset (or the one under its subsets) has no ``targets`` or no such attribute.
    """
    if isinstance(dataset, Subset):
        targets, values = attribute_of(dataset.dataset, name, method)
        index = torch.as_tensor(list(dataset.indices), dtype=torch.long)
        return targets[index], values[index]
    if not hasattr(dataset, name) or not hasattr(dataset, "targets"):
        datasets = "irm-colored-mnist or colored-mnist" if method == "balanced" else "irm-colored-mnist"
        raise UnsupportedError(f"method '{method}' needs a dataset whose samples carry a '{name}' attribute (the "
                               f"spurious feature) and 'targets'; {type(dataset).__name__} has none: use "
                               f"{datasets}, or --method-option attribute=NAME")
    return torch.as_tensor(dataset.targets).long(), torch.as_tensor(getattr(dataset, name)).long()


def environments_of(dataset: Any, method: str = "dann") -> Tensor:
    """The environment index of every sample: the dataset's ``envs`` (through ``Subset`` wrappers, as
    :func:`attribute_of` reads it), else the third element of each item."""
    try:
        return attribute_of(dataset, "envs", method)[1]
    except UnsupportedError:
        return torch.tensor([int(dataset[i][2]) for i in range(len(dataset))], dtype=torch.long)


class WithAttribute(Dataset):
    """A dataset whose items ``(x, y, env)`` gain the sample's spurious attribute: ``(x, y, env, attr)``.

    For methods that need each sample's colour in the batch (:attr:`Batch.attr`); built by their
    :meth:`~snnc.runtime.methods.base.Method.prepare_dataset` from the attribute :func:`attribute_of` reads.
    """

    def __init__(self, dataset: Any, name: str = "colors", method: str = "spike_similarity"):
        self.dataset = dataset
        self.targets, self.attribute = attribute_of(dataset, name, method)
        first = dataset[0] if len(dataset) else None
        if first is not None and (not isinstance(first, (tuple, list)) or len(first) != 3):
            raise UnsupportedError(f"method '{method}' needs environment-labelled items (x, y, env) to add each "
                                   f"sample's '{name}' to; {type(dataset).__name__} gives "
                                   f"{len(first) if isinstance(first, (tuple, list)) else 1} items: train on a "
                                   "dataset whose items carry an environment, e.g. --dataset irm-colored-mnist")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return (*self.dataset[index], int(self.attribute[index]))
