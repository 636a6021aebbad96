"""Exports of compiled models: ONNX (every target, checked in onnxruntime), NIR (snn) and standalone Python.

``export(model, path, format=...)`` is the one entry point. Each format is an
:class:`~snnc.compiler.export.base.ExportFormat` object (its name, suffix, validated options and ``export``) in
its own module, looked up in :data:`FORMATS` on use (so ``nir`` and ``jinja2`` are imported only when needed);
what formats share is in :mod:`.base`. ``docs/export.md`` shows what exports for each bundled spec and target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .registry import FORMATS, get_format


def export(model: Any, path: str | Path, format: str = "onnx", *, timesteps: Optional[int] = None,
           check: bool = False, **options: Any) -> Any:
    """Export a compiled model to a file.

    Args:
        model: a module from ``snnc.compile`` / ``snnc.load`` / ``snnc.convert`` (ann, snn or burst).
        path: the file to write (atomically).
        format: a name in :data:`FORMATS`: ``onnx``, ``nir`` (snn target) or ``python`` (ann and snn targets).
        timesteps: ``T`` of the unrolled form and of the checks (default: the model's).
        check: compare the exported file with the model (onnxruntime for ONNX; snnTorch for NIR; the imported
            module for Python) and raise if it differs. ONNX: the check runs before the file is written, and a
            file that fails it is not written; burst spike counts that differ only at threshold ties within
            float rounding pass, and the report says how many and where (see :func:`~.onnx.check_onnx`).
        **options: the format's options (its ``Options`` model): ``form`` (``unrolled`` over a fixed ``T``, or
            ``step``), ``spikes``, ``example``, ``opset``, ``tie_tolerance`` (ONNX); ``check_inputs`` (all).

    Returns:
        The check report (a :class:`~.onnx.CheckReport` or a dict) with ``check``, else None.

    Raises:
        UnsupportedError: unknown format (with did-you-mean), or something the format cannot express (names
            the node).
        OptionsError: an option the format does not take, or a bad value.
    """
    fmt = get_format(format)
    if options.get("form") == "unrolled" and "form" not in fmt.Options.model_fields:
        # Why: the only form of a format without forms; callers that pass the same keywords to every format keep
        # working (form="step" is still refused where there is no step form)
        options.pop("form")
    return fmt.export(model, path, fmt.options({"timesteps": timesteps, "check": check, **options}))


__all__ = ["FORMATS", "export", "get_format"]
