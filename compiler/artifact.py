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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

FORMAT = "snnc.artifact"
VERSION = 1


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``/proc/self/status``).

    Why: ``tempfile.mkstemp`` creates files with mode 0600 whatever the umask, so a file renamed into place
    would stay private; the atomic writers give it the mode ``open()`` would have given (0666 & ~umask).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def temp_file_beside(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` (for an atomic rename onto it), with the mode ``open()`` would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except (OSError, AttributeError):  # a file system without modes (or Windows): keep mkstemp's
        pass
    return fd, tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename).

    The file gets the mode a plain ``open(path, "w")`` would give under the user's umask (0644 at umask 022).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path)
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
        # Why not torch's message: it advises weights_only=False, which is unsafe for a file of unknown origin.
        import zipfile

        with open(p, "rb") as f:
            head = f.read(2)
        saved_by_torch = zipfile.is_zipfile(p) or head[:1] == b"\x80"
        what = ("it holds Python objects that a safe load refuses (it was written by another program than snnc)"
                if saved_by_torch and "Unsupported global" in str(exc) else
                "it is not a readable checkpoint (neither a torch.save file nor complete)")
        raise DataError(f"'{path}' is not an snnc checkpoint or artifact: {what}. snnc reads checkpoints "
                        "written by 'snnc train', 'snnc compile -o' or snnc.save") from None


@dataclass(frozen=True)
class Artifact:
    """A compiled model on disk: the spec it was built from, the target and its options, and the weights.

    Attributes:
        target: the target's name.
        spec: the self-contained YAML text of the spec.
        params: spec parameter overrides.
        options: the target's options, as plain values (what ``snnc.compile`` takes again).
        state_dict: the weights.
        extra: free-form plain metadata (for example the burst conversion record).
        training: what resuming a training run needs (training checkpoints only), else None.
    """

    target: str
    spec: str
    params: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    state_dict: dict = field(default_factory=dict, repr=False)
    extra: dict = field(default_factory=dict)
    training: Optional[dict] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The plain dict written to disk (``torch.load(..., weights_only=True)`` reads it back)."""
        out = {"format": FORMAT, "version": VERSION, "target": self.target, "spec": self.spec,
               "params": dict(self.params), "options": dict(self.options), "state_dict": self.state_dict,
               "extra": dict(self.extra)}
        if self.training is not None:
            out["training"] = self.training
        return out

    @classmethod
    def from_dict(cls, obj: Any, where: str = "the file") -> "Artifact":
        """Check and wrap a dict read from disk.

        Raises:
            DataError: not an snnc artifact, or one written by a newer snnc.
        """
        from .errors import DataError

        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise DataError(f"{where} is not an snnc checkpoint or artifact (expected a file written by "
                            "'snnc train', 'snnc compile -o' or snnc.save)")
        if obj.get("version", 0) > VERSION:
            raise DataError(f"{where} was written by a newer snnc (artifact version {obj['version']})")
        missing = [k for k in ("target", "spec", "state_dict") if k not in obj]
        if missing:
            raise DataError(f"{where} is a damaged snnc artifact: it lacks {', '.join(missing)}")
        training = obj.get("training")
        return cls(str(obj["target"]), str(obj["spec"]), dict(obj.get("params") or {}),
                   dict(obj.get("options") or {}), obj["state_dict"], dict(obj.get("extra") or {}),
                   training if isinstance(training, dict) else None)

    def save(self, path: str | Path) -> Path:
        """Write atomically; returns ``path``."""
        atomic_torch_save(self.to_dict(), path)
        return Path(path)

    @property
    def spec_name(self) -> str:
        """The ``name:`` of the embedded spec (read without validating it), or ``"?"``."""
        import yaml

        try:
            data = yaml.safe_load(self.spec)
        except Exception:  # a damaged spec is reported when it is built
            return "?"
        return str(data.get("name", "?")) if isinstance(data, dict) else "?"


def read_artifact(path: str | Path) -> Artifact:
    """Read and check an artifact or training checkpoint (``weights_only=True``: the file cannot run code).

    Raises:
        DataError: missing, unreadable, not an snnc artifact, or a newer version.
    """
    return Artifact.from_dict(safe_torch_load(path), f"'{path}'")
