"""Where a command runs: ``--device cpu|cuda|auto`` as a torch device, and the device a module lives on."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from snnc.compiler.errors import SnncError

DEVICES = ("cpu", "cuda", "auto")
"""The names ``--device`` takes (``cuda:N`` picks one GPU)."""


def resolve_device(device: str | torch.device | None = None, *, default: str = "cpu") -> torch.device:
    """The torch device for a ``--device`` value.

    Args:
        device: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), ``"auto"`` (cuda when torch sees a GPU, else cpu), a
            ``torch.device``, or None for ``default``.
        default: the value used for None.

    Returns:
        The device.

    Raises:
        SnncError: an unknown name, or cuda asked for where torch sees no GPU (or not that many).
    """
    name = str(default if device is None else device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SnncError(f"--device {name}: no CUDA device is visible to torch (use --device cpu or auto)")
        try:
            resolved = torch.device(name)
        except RuntimeError:
            raise SnncError(f"--device {name}: not a device; use cuda or cuda:N") from None
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise SnncError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s), numbered "
                            f"from 0")
        return resolved
    raise SnncError(f"--device must be one of {', '.join(DEVICES)} (or cuda:N), got '{device}'")


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (cpu for a module that has none)."""
    first = next(itertools.chain(module.parameters(), module.buffers()), None)
    return first.device if first is not None else torch.device("cpu")
