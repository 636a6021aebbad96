"""Shared pieces of the burst-conversion examples: seeding, in-memory batches, a small ANN trainer, timing
and reports.

The examples train plain PyTorch networks (not spec-built) and convert them with :func:`snnc.convert`; the
sweeps and tables come from :mod:`snnc.runtime.convert`. Everything here is CPU-friendly: data sits in memory
as tensors, batches are sliced from them, and the thread count is capped.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snnc.compiler.artifact import atomic_torch_save, atomic_write_bytes, safe_torch_load
from snnc.runtime.convert import gamma_label, result_rows


def setup(seed: int, threads: int = 2) -> None:
    """Seed torch, NumPy and Python and cap torch's CPU threads."""
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class TensorBatches:
    """Batches sliced from in-memory tensors, optionally reshuffled (seeded) on every pass.

    Args:
        x: inputs ``[N, ...]``.
        y: targets ``[N, ...]``.
        batch_size: samples per batch.
        shuffle: draw a new order on every iteration.
        seed: seed of the order (pass ``k`` uses ``seed + k``).

    Attributes:
        batch_size: as given (read by :func:`snnc.runtime.convert.sweep` to size its time folding).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256, shuffle: bool = False,
                 seed: int = 0) -> None:
        if len(x) != len(y):
            raise ValueError(f"{len(x)} inputs but {len(y)} targets")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self._passes = 0

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self._passes))
            self._passes += 1
        else:
            order = None
        for start in range(0, n, self.batch_size):
            index = slice(start, start + self.batch_size) if order is None else order[start:start + self.batch_size]
            yield self.x[index], self.y[index]


def image_tensors(dataset: Any, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole of an in-memory image dataset as float32 ``[N, C, H, W]`` inputs and int64 labels.

    Args:
        dataset: an :class:`snnc.runtime.data.ImageDataset` (``images`` uint8, ``targets``, ``mean``, ``std``).
        normalize: standardise with the dataset's mean and std.
    """
    x = dataset.images.float().div_(255.0)
    if normalize:
        mean = torch.tensor(dataset.mean).view(1, -1, 1, 1)
        std = torch.tensor(dataset.std).view(1, -1, 1, 1)
        x = (x - mean) / std
    return x, dataset.targets.clone()


def train_ann(model: nn.Module, batches: Iterable, *, epochs: int, lr: float = 3e-3, weight_decay: float = 1e-4,
              class_weight: torch.Tensor | None = None,
              on_epoch: Callable[[int, float, float], None] | None = None) -> list[dict[str, float]]:
    """Train a classifier (or per-pixel classifier) with Adam, a one-cycle learning rate and cross-entropy.

    Args:
        model: the network (scores ``[B, C]`` or ``[B, C, H, W]``).
        batches: re-iterable ``(x, y)`` batches, one pass per epoch, with ``len``.
        epochs: passes over ``batches``.
        lr: the peak learning rate.
        weight_decay: Adam's L2 penalty.
        class_weight: cross-entropy class weights (e.g. for unbalanced segmentation masks).
        on_epoch: called with ``(epoch, mean loss, seconds)`` after each epoch.

    Returns:
        One record per epoch: ``{"epoch", "loss", "seconds"}``.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, epochs * len(batches)))
    history = []
    model.train()
    for epoch in range(1, epochs + 1):
        start, total, count = time.perf_counter(), 0.0, 0
        for x, y in batches:
            loss = F.cross_entropy(model(x), y, weight=class_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(x)
            count += len(x)
        record = {"epoch": epoch, "loss": total / max(count, 1), "seconds": round(time.perf_counter() - start, 2)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch, record["loss"], record["seconds"])
    model.eval()
    return history


def trained(model: nn.Module, path: Path, train: Callable[[nn.Module], Any], retrain: bool = False) -> bool:
    """Load ``model``'s weights from ``path`` if it exists (and not ``retrain``), else train and save them.

    Returns:
        True when the model was trained now, False when the checkpoint was reused.
    """
    if path.is_file() and not retrain:
        model.load_state_dict(safe_torch_load(path))
        model.eval()
        return False
    train(model)
    atomic_torch_save(model.state_dict(), path)
    return True


class Log:
    """Prints lines with the elapsed time and keeps them for the report."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.lines: list[str] = []

    def elapsed(self) -> float:
        """Seconds since creation."""
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        line = f"[{self.elapsed():7.1f} s] {message}"
        self.lines.append(line)
        print(line, flush=True)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8), atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass of one sample through conv and linear layers."""
    total = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * per_output
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for handle in handles:
            handle.remove()
    return total


def comparison_table(name: str, results: Mapping[str, Any], baseline: Mapping[int, Any] | None,
                     if_percentile: float, key: str = "accuracy") -> str:
    """A markdown table of one sweep: ``T`` rows; a column per ``Γ``, the IF baseline (when given) and the
    ANN. ``key`` is a metric (shown in percent, with the ANN column) or ``"spikes_per_sample"``.

    Args:
        name: the network's name (top-left cell, with the sweep's percentile).
        results: a :func:`snnc.runtime.convert.sweep` result.
        baseline: ``{T: {key: value}}`` of the IF baseline, or None.
        if_percentile: the baseline's percentile, for its header.
        key: what to show.
    """
    gammas = results["gammas"]
    by_gamma = {g: result_rows(results, g) for g in gammas}
    metric = key in results["ann"]
    heads = [gamma_label(g) for g in gammas]
    if baseline is not None:
        heads.append(f"IF @ p{if_percentile:g}")
    if metric:
        heads.append("ANN")
    pct = results["settings"]["percentile"]
    lines = [f"| {name}, p{pct:g} | " + " | ".join(heads) + " |", "|" + " ---: |" * (len(heads) + 1)]

    def fmt(value: float) -> str:
        return f"{100 * value:.2f}" if metric else f"{value:,.0f}"

    for t in results["timesteps"]:
        cells = [fmt(by_gamma[g][t][key]) for g in gammas]
        if baseline is not None:
            cells.append(fmt(baseline[t][key]))
        if metric:
            cells.append(fmt(results["ann"][key]))
        lines.append(f"| T={t} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
