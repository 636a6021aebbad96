"""The calibration data a conversion takes: batches of inputs, and where they came from.

Why a compiler-side type: the burst target records where its thresholds were calibrated (``"mnist:2048"``) in
its settings; it asks this type for the label instead of reading an attribute of a runtime class. The runtime's
:func:`snnc.runtime.calibration.calibration_data` draws the batches and returns one.
"""

from __future__ import annotations

from typing import Any, Iterable


class Calibration(list):
    """Calibration input batches that remember where they came from.

    Args:
        batches: the input batches (tensors ``[B, ...]``).
        label: where they came from, e.g. ``"mnist:2048"`` (dataset and samples); a conversion records it.
    """

    def __init__(self, batches: Iterable[Any], label: str):
        super().__init__(batches)
        self.label = str(label)


def calibration_label(calibration: Any) -> str | None:
    """The label of :class:`Calibration` data, else None (plain tensors or loaders carry none)."""
    return calibration.label or None if isinstance(calibration, Calibration) else None


__all__ = ["Calibration", "calibration_label"]
