"""Exports of compiled models: ONNX (every target, checked in onnxruntime), NIR (snn) and standalone Python.

``export(model, path, format=...)`` is the one entry point; each format lives in its own module, looked up
in :data:`FORMATS` on use (so ``nir`` and ``jinja2`` are imported only when needed). ``docs/export.md`` shows
what exports for each bundled spec and target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..errors import UnsupportedError, did_you_mean

FORMATS = ("onnx", "nir", "python")
"""Export formats: ``onnx`` (:mod:`.onnx`), ``nir`` (:mod:`.nir`), ``python`` (:mod:`.source`)."""


def export(model: Any, path: str | Path, format: str = "onnx", *, form: str = "unrolled",
           timesteps: Optional[int] = None, check: bool = False, **options: Any) -> Any:
    """Export a compiled model to a file.

    Args:
        model: a module from ``snnc.compile`` / ``snnc.load`` / ``snnc.convert`` (ann, snn or burst).
        path: the file to write (atomically).
        format: ``onnx``, ``nir`` (snn target) or ``python`` (ann and snn targets).
        form: ONNX only: ``unrolled`` over a fixed ``T``, or ``step`` (explicit state in and out).
        timesteps: ``T`` of the unrolled form and of the checks (default: the model's).
        check: compare the exported file with the model (onnxruntime for ONNX; snnTorch for NIR; the imported
            module for Python) and raise if it differs. ONNX: the check runs before the file is written, and a
            file that fails it is not written; burst spike counts that differ only at threshold ties within
            float rounding pass, and the report says how many and where (see :func:`~.onnx.check_onnx`).
        **options: format options: ``spikes``, ``example``, ``opset``, ``check_inputs``, ``tie_tolerance``
            (ONNX); ``check_inputs`` (all).

    Returns:
        The check report (a :class:`~.onnx.CheckReport` or a dict) with ``check``, else None.

    Raises:
        UnsupportedError: unknown format, or something the format cannot express (names the node).
    """
    if format == "onnx":
        from .onnx import export_onnx

        return export_onnx(model, path, form=form, timesteps=timesteps, check=check, **options)
    if format == "nir":
        from .nir import export_nir

        return export_nir(model, path, timesteps=timesteps, check=check, **options)
    if format == "python":
        from .source import export_python

        return export_python(model, path, timesteps=timesteps, check=check, **options)
    raise UnsupportedError(f"unknown export format '{format}'.{did_you_mean(format, FORMATS)} "
                           f"Formats: {', '.join(FORMATS)}")


__all__ = ["FORMATS", "export"]
