"""Compiled-model artifacts: the spec text beside the weights, written atomically, read without pickle code.

An artifact is a ``torch.save`` of a plain dict: ``format``, ``version``, ``target``, ``spec`` (the YAML text the
model was compiled from), ``params`` (spec parameter overrides), ``options`` (target options such as timesteps),
``state_dict`` and ``extra`` (free-form metadata, plain types only). It is loaded with
``torch.load(..., weights_only=True)``, so an untrusted file cannot run code, and the model is rebuilt from
the embedded spec — the spec is the architecture, the state dict the weights.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT = "snnc.artifact"
VERSION = 1


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically: a crash leaves the old file or the new one, never half of one."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def safe_torch_load(path: str | Path) -> Any:
    """``torch.load`` with ``weights_only=True`` on CPU.

    Raises:
        DataError: missing or unreadable file.
    """
    import torch

    from .errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"no file at '{path}'")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise DataError(f"cannot read '{path}' as a checkpoint: {str(exc).splitlines()[0]}") from None


def make_artifact(module, spec_text: str, target: str, params: dict | None = None, options: dict | None = None,
                  extra: dict | None = None) -> dict:
    """The artifact dict for ``module`` compiled from ``spec_text``."""
    return {"format": FORMAT, "version": VERSION, "target": target, "spec": spec_text, "params": dict(params or {}),
            "options": dict(options or {}), "state_dict": module.state_dict(), "extra": dict(extra or {})}


def read_artifact(path: str | Path) -> dict:
    """Read and check an artifact written by :func:`make_artifact` + :func:`atomic_torch_save`.

    Raises:
        DataError: not an snnc artifact, or a newer version.
    """
    from .errors import DataError

    obj = safe_torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DataError(f"'{path}' is not an snnc artifact (expected a file written by 'snnc compile -o' "
                        "or 'snnc train')")
    if obj.get("version", 0) > VERSION:
        raise DataError(f"'{path}' was written by a newer snnc (artifact version {obj['version']})")
    return obj
