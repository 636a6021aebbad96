"""The ``python`` export format: a standalone PyTorch (and snnTorch) source file of the ann and snn targets.

The rendering and its check live in :mod:`.source` (:func:`~.source.export_python`); this module is the
format object the registry finds, so the source module stays about rendering. It takes the common options
(``timesteps``, ``check``, ``check_inputs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .base import ExportFormat, ExportOptions


class PythonFormat(ExportFormat):
    """Python source (ann, snn): one readable ``nn.Module`` class plus ``load()``, and its weights beside it."""

    name = "python"
    description = "standalone Python source (ann, snn), checked by importing it"
    suffix = ".py"
    check_title = "the generated module against the model"
    Options = ExportOptions

    def export(self, model: Any, path: str | Path, options: ExportOptions) -> Optional[dict]:
        """:func:`~.source.export_python` with the validated options."""
        from .source import export_python

        return export_python(model, path, **self.options(options).model_dump())


FORMAT = PythonFormat()
"""The ``python`` entry of :data:`snnc.compiler.export.registry.FORMATS`."""
