"""Training checkpoints: an snnc artifact plus what resuming needs, loadable with ``weights_only=True``.

A checkpoint is an :class:`~snnc.compiler.artifact.Artifact` (spec, target, options, weights) whose ``training``
holds what resuming needs, so ``snnc.load("run/best.pt")`` rebuilds the trained model::

    {"epoch": 3,                          # epochs finished
     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() or None,
     "rng": {"torch": ByteTensor, "python": (version, (ints...), gauss), "numpy": {...}},
     "best": {"epoch": 2, "val_accuracy": 0.91}, "history": [...per-epoch records...], "config": {...}}

Everything in it is a tensor or a plain Python value (RNG states included: NumPy's key array is stored as an
int64 tensor), so ``torch.load(..., weights_only=True)`` reads it and an untrusted file cannot run code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnc.compiler.artifact import Artifact, read_artifact
from snnc.compiler.errors import DataError, SnncError
from snnc.compiler.pipeline import artifact_of


def capture_rng() -> dict[str, Any]:
    """The state of torch's, Python's and NumPy's global random generators, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back generator states taken by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))


def make_checkpoint(model: nn.Module, *, training: dict[str, Any], extra: dict | None = None) -> Artifact:
    """The checkpoint of a model built by snnc: its artifact plus the ``training`` state.

    Args:
        model: the model being trained (built by :func:`snnc.compiler.pipeline.compile`).
        training: epoch, optimizer, scheduler, RNG, best and history (plain types and tensors only).
        extra: free-form plain metadata.
    """
    return artifact_of(model, extra=extra, training=training)


def load_checkpoint(path: str | Path, *, require_training: bool = False) -> Artifact:
    """Read a checkpoint or a plain artifact with ``weights_only=True``.

    Args:
        path: the ``.pt`` file.
        require_training: insist on the training state (for resuming).

    Raises:
        DataError: missing, unreadable or not an snnc artifact; no training state when required.
    """
    art = read_artifact(path)
    if require_training and art.training is None:
        raise DataError(f"'{path}' is a model artifact without training state; only checkpoints written by "
                        "'snnc train' (last.pt, best.pt) can be resumed")
    return art


def check_resumable(stored: dict[str, Any], current: dict[str, Any], run: str | Path) -> None:
    """Refuse to resume ``run`` when a setting differs from the one it was started with (``config.json``).

    Args:
        stored: the run's settings, as its checkpoint records them.
        current: the settings now.
        run: the run directory, for the message.

    Raises:
        SnncError: the settings that differ (all but :data:`~snnc.runtime.config.RESUME_IGNORED`; ``epochs`` too
            when the run has a schedule).
    """
    from .config import RESUME_IGNORED, TrainConfig

    defaults = TrainConfig().model_dump(mode="json")
    diffs = [f"{k}={stored.get(k, defaults.get(k))!r} (now {v!r})" for k, v in current.items()
             if k not in RESUME_IGNORED and stored.get(k, defaults.get(k)) != v]
    if current.get("schedule") is not None and stored.get("epochs") != current.get("epochs"):
        # Why: the schedule's length is fixed when it starts; stretching it midway is not the same run.
        diffs.append(f"epochs={stored.get('epochs')!r} (now {current.get('epochs')!r}; with a schedule the "
                     "number of epochs cannot change)")
    if diffs:
        raise SnncError(f"cannot resume {run}: it was started with " + ", ".join(diffs) +
                        ". Resume with the run's settings (the CLI reads them from config.json) or start a new "
                        "--run-dir.")
