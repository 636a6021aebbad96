"""Training checkpoints: an snnc artifact plus what resuming needs, loadable with ``weights_only=True``.

A checkpoint is the artifact dict of :mod:`snnc.compiler.artifact` (``format``, ``spec``, ``target``, ``params``,
``options``, ``state_dict``, ``extra``), so ``snnc.load("run/best.pt")`` rebuilds the trained model, plus one key,
``training``::

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

from snnc.compiler.artifact import atomic_torch_save, make_artifact, read_artifact
from snnc.compiler.errors import DataError


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


def make_checkpoint(model: nn.Module, *, spec_text: str, target: str, params: dict | None, options: dict | None,
                    training: dict[str, Any], extra: dict | None = None) -> dict[str, Any]:
    """The checkpoint dict: an artifact of ``model`` plus the ``training`` state.

    Args:
        model: the model being trained (its ``state_dict`` is stored).
        spec_text: the spec text it was compiled from.
        target: the compile target.
        params: spec parameter overrides.
        options: target options (e.g. ``{"timesteps": 25}``), as ``snnc.compile`` takes them.
        training: epoch, optimizer, scheduler, RNG, best and history (plain types and tensors only).
        extra: free-form plain metadata for the artifact.

    Returns:
        The dict to save.
    """
    art = make_artifact(model, spec_text, target, params, options, extra)
    art["training"] = training
    return art


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Write a checkpoint atomically (a temporary file in the same folder, then a rename).

    Returns:
        The path written.
    """
    atomic_torch_save(checkpoint, path)
    return Path(path)


def load_checkpoint(path: str | Path, *, require_training: bool = False) -> dict[str, Any]:
    """Read a checkpoint or a plain artifact with ``weights_only=True``.

    Args:
        path: the ``.pt`` file.
        require_training: insist on the ``training`` state (for resuming).

    Returns:
        The dict.

    Raises:
        DataError: missing, unreadable or not an snnc artifact; no training state when required.
    """
    art = read_artifact(path)
    if require_training and not isinstance(art.get("training"), dict):
        raise DataError(f"'{path}' is a model artifact without training state; only checkpoints written by "
                        "'snnc train' (last.pt, best.pt) can be resumed")
    return art


def model_from_artifact(art: dict[str, Any], *, timesteps: int | None = None) -> nn.Module:
    """Rebuild the model of an artifact and load its weights.

    Args:
        art: a dict from :func:`load_checkpoint`.
        timesteps: override the stored number of steps (snn target).

    Returns:
        The module, in eval mode.

    Raises:
        SpecError: the embedded spec no longer validates. DataError: the weights do not fit the spec.
    """
    import snnc

    options = dict(art.get("options") or {})
    if timesteps is not None and art["target"] != "ann":
        options["timesteps"] = timesteps
    model = snnc.compile(art["spec"], art["target"], params=art.get("params") or None, **options)
    load_weights(model, art["state_dict"], where="the checkpoint")
    return model.eval()


def load_weights(model: nn.Module, state_dict: dict[str, Any], *, where: str) -> None:
    """``model.load_state_dict(state_dict)`` with a clear error when they do not fit.

    Raises:
        DataError: missing or unexpected keys, or shapes that differ (the first few are named).
    """
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:4]
        raise DataError(f"the weights in {where} do not fit this model: " + " ".join(lines)) from None
