"""The export formats snnc writes, by name: the only place a format is chosen by its name.

Each entry is an :class:`~snnc.compiler.export.base.ExportFormat` object, imported on first lookup (so
``nir``, ``onnx`` and ``jinja2`` are imported only when their format is used). Adding a format is a module with a
``FORMAT`` object and one entry here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from .base import ExportFormat

FORMATS: "Registry[ExportFormat]" = Registry("export format", {
    "onnx": "snnc.compiler.export.onnx:FORMAT",
    "nir": "snnc.compiler.export.nir:FORMAT",
    "python": "snnc.compiler.export.python:FORMAT",
})
"""Format name → :class:`~snnc.compiler.export.base.ExportFormat`."""


def get_format(name: "str | ExportFormat") -> "ExportFormat":
    """The format object for a name (an :class:`ExportFormat` is returned as is).

    Raises:
        UnsupportedError: an unknown name (with did-you-mean and the list of formats).
    """
    from .base import ExportFormat

    return name if isinstance(name, ExportFormat) else FORMATS.get(name)
