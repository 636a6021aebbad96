"""The options of a robustness sweep: which mnn options each point of each non-ideality axis builds.

A sweep evaluates one trained network on crossbars once per point of every axis, each point changing one setting
of the base options; :func:`plan_sweep` checks the axes and gives a :class:`SweepPlan` (the base options, the
ideal-device options and each point's options). Running the networks and scoring them is the runtime's job
(:func:`snnc.runtime.sweep.mnn_sweep`); this module needs neither torch nor MemTorch.

Axes (:data:`AXES`): ``fault_proportion`` (stuck devices, half at LRS and half at HRS), ``conductance_states``,
``adc_bits`` and ``on_off_ratio`` (``r_off / r_on`` with ``r_on`` at the device model's value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ...errors import UnsupportedError, did_you_mean
from .options import MnnOptions, _merge, resolve_options

AXES: dict[str, Sequence[float]] = {
    "fault_proportion": (0.0, 0.05, 0.1, 0.2, 0.3),
    "conductance_states": (2, 4, 8, 16, 32, 64, 128, 256),
    "adc_bits": (2, 3, 4, 5, 6, 7, 8),
    "on_off_ratio": (2, 5, 10, 20, 50, 100),
}
"""The default axes and their points."""


def _check_axis(axis: str) -> None:
    if axis not in AXES:
        raise UnsupportedError(f"unknown sweep axis '{axis}'.{did_you_mean(axis, AXES)} Axes: {', '.join(AXES)}")


def axis_override(axis: str, value: float, base: MnnOptions) -> dict[str, Any]:
    """The options change for one point of one axis.

    Raises:
        UnsupportedError: unknown axis (with a did-you-mean).
    """
    _check_axis(axis)
    if axis == "fault_proportion":
        return {"nonidealities": {"device_faults": {"lrs_proportion": value / 2, "hrs_proportion": value / 2}}}
    if axis == "conductance_states":
        return {"nonidealities": {"finite_conductance_states": {"states": int(value)}}}
    if axis == "adc_bits":
        return {"adc_bits": int(value)}
    r_on = base.resistances[0]  # on_off_ratio
    return {"r_on": r_on, "r_off": r_on * float(value)}


@dataclass(frozen=True)
class SweepPlan:
    """The options of every network a sweep builds.

    Attributes:
        base: the options every point starts from.
        ideal: the base options without non-idealities and without an ADC (the ideal-device reference).
        axes: axis → its points, in order.
    """

    base: MnnOptions
    ideal: MnnOptions
    axes: dict[str, list[float]]

    def points(self) -> list[tuple[str, float]]:
        """Every ``(axis, value)``, axis by axis."""
        return [(a, v) for a, values in self.axes.items() for v in values]

    def options_at(self, axis: str, value: float) -> MnnOptions:
        """The options of one point: the base with that axis's setting changed.

        Raises:
            UnsupportedError, OptionsError: see :func:`axis_override` and :func:`resolve_options`.
        """
        return resolve_options(_merge(self.base.model_dump(), axis_override(axis, value, self.base)))


def plan_sweep(options: MnnOptions | Mapping[str, Any] | None = None,
               axes: Mapping[str, Sequence[float]] | Iterable[str] | None = None) -> SweepPlan:
    """Check the axes and resolve the options a sweep starts from.

    Args:
        options: the base mnn options.
        axes: axis → points, or axis names (default points), or None for all of :data:`AXES`.

    Returns:
        The :class:`SweepPlan`.

    Raises:
        UnsupportedError: an unknown axis (with a did-you-mean), before any work.
    """
    base = options if isinstance(options, MnnOptions) else resolve_options(options)
    if axes is None:
        axes = dict(AXES)
    elif not isinstance(axes, Mapping):
        names = list(axes)
        for a in names:
            _check_axis(a)
        axes = {a: AXES[a] for a in names}
    for a in axes:
        _check_axis(a)
    ideal = resolve_options({**base.model_dump(), "adc_bits": None, "nonidealities": {}})
    return SweepPlan(base, ideal, {a: list(values) for a, values in axes.items()})


LABELS = {"fault_proportion": "stuck devices (proportion, half LRS half HRS)",
          "conductance_states": "conductance states per device", "adc_bits": "ADC bits",
          "on_off_ratio": "r_off / r_on"}
"""Axis → what its values are, for a plot's axis label."""
