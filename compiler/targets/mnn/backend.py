"""MemTorch, as the mnn build talks to it: the import (with the install command when it is missing), the keyword
arguments of ``patch_model`` and ``apply_nonidealities`` for one layer's options, the device factory that makes
patching fast, and the CPU fix of FiniteConductanceStates.

Why a module of its own: these follow MemTorch's API and its quirks (memtorch-cpu 1.1.6), while :mod:`.build`
follows snnc's phases (check, patch, tune, degrade, replace); hardware-aware training reads the same kwargs.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from typing import Any

import numpy as np

from ...errors import BackendUnavailable, UnsupportedError
from .mapping import naive_map
from .options import CrossbarOptions

INSTALL_COMMAND = "SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True pip install --no-build-isolation memtorch-cpu"
"""How to install MemTorch (after torch; it compiles against the installed torch)."""


def require_memtorch():
    """Import MemTorch.

    Returns:
        the ``memtorch`` package, with its ``mn``, ``map`` and ``bh.nonideality`` modules loaded.

    Raises:
        BackendUnavailable: MemTorch is not installed (the message carries :data:`INSTALL_COMMAND`).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import memtorch
            import memtorch.bh.nonideality.NonIdeality  # noqa: F401
            import memtorch.map.Input  # noqa: F401
            import memtorch.map.Parameter  # noqa: F401
            import memtorch.mn.Module  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(f"the mnn target needs MemTorch ({exc}). Install it after torch with:\n"
                                 f"  {INSTALL_COMMAND}") from None
    return memtorch


_IMMUTABLE = (int, float, bool, str, type(None), tuple, frozenset)


class DeviceFactory:
    """The ``memristor_model`` snnc hands to MemTorch: builds each device by copying one prototype.

    Why: MemTorch constructs one device object per crossbar cell (393,216 for ``mnist_conv`` with 128×128 tiles),
    and each constructor call runs ``unpack_parameters``, which deep-copies its ``locals()``; that is about 90 %
    of MemTorch's patching time. With deterministic parameters every cell's device is identical when built, so
    a shallow copy of one properly constructed device (all of whose attributes are immutable numbers) is the
    same object state, about 50× faster. Calls with other arguments — MemTorch's reference device
    (``reference=True``) and its no-argument call for the model's defaults — construct the real class.

    Attributes:
        model: the MemTorch device class (e.g. ``memtorch.bh.memristor.VTEAM``).
        params: the keyword parameters every cell is built with.
    """

    def __init__(self, model, params: dict[str, Any]):
        self.model = model
        self.params = dict(params)
        self._prototype = model(**self.params)
        self._state = dict(vars(self._prototype))
        self._shallow = all(isinstance(v, _IMMUTABLE) for v in self._state.values())

    def __call__(self, **kwargs):
        if kwargs == self.params:
            if not self._shallow:
                return copy.deepcopy(self._prototype)
            device = self.model.__new__(self.model)  # a shallow copy without copy's reduce protocol
            device.__dict__.update(self._state)
            return device
        return self.model(**kwargs)

    def __getattr__(self, name: str):  # class attributes MemTorch may look up on the model
        return getattr(self.model, name)


def patch_kwargs(memtorch, opts: CrossbarOptions) -> dict[str, Any]:
    """The keyword arguments of ``memtorch.mn.Module.patch_model`` for one layer's options."""
    params: dict[str, Any] = dict(opts.device_params)
    if opts.r_on is not None:
        params["r_on"] = opts.r_on
    if opts.r_off is not None:
        params["r_off"] = opts.r_off
    passive = opts.cell == "1R"
    return dict(
        memristor_model=DeviceFactory(getattr(memtorch.bh.memristor, opts.device), params),
        memristor_model_params=params,
        mapping_routine=naive_map,  # MemTorch's naive_map, in the form hardware-aware training shares
        transistor=not passive,
        programming_routine=memtorch.bh.crossbar.Program.naive_program if passive else None,
        programming_routine_params={"rel_tol": 0.1},
        p_l=opts.p_l,
        scheme=(memtorch.bh.Scheme.DoubleColumn if opts.scheme == "double_column"
                else memtorch.bh.Scheme.SingleColumn),
        tile_shape=None if opts.tile_shape is None else tuple(opts.tile_shape),
        max_input_voltage=opts.max_input_voltage,
        scaling_routine=memtorch.map.Input.naive_scale,
        source_resistance=opts.source_resistance,
        line_resistance=opts.line_resistance,
        ADC_resolution=opts.adc_bits,
        ADC_overflow_rate=opts.adc_overflow_rate,
        quant_method=opts.quantization if opts.adc_bits is not None else None,
        verbose=False,
    )


def nonideality_kwargs(memtorch, kind: str, p) -> tuple[Any, dict[str, Any]]:
    """``(NonIdeality member, keyword arguments)`` of ``apply_nonidealities`` for one configured non-ideality."""
    NI = importlib.import_module("memtorch.bh.nonideality.NonIdeality").NonIdeality
    models = importlib.import_module("memtorch.bh.nonideality.endurance_retention_models")
    if kind == "finite_conductance_states":
        return NI.FiniteConductanceStates, {"conductance_states": p.states}
    if kind == "device_faults":
        return NI.DeviceFaults, {"lrs_proportion": p.lrs_proportion, "hrs_proportion": p.hrs_proportion,
                                 "electroform_proportion": p.electroform_proportion}
    if kind == "non_linear":
        if p.simulate:
            return NI.NonLinear, {"simulate": True}
        return NI.NonLinear, {"sweep_duration": p.sweep_duration,
                              "sweep_voltage_signal_amplitude": p.sweep_voltage_signal_amplitude,
                              "sweep_voltage_signal_frequency": p.sweep_voltage_signal_frequency}
    if kind == "endurance":
        mode = getattr(models.OperationMode, p.operation_mode)
        return NI.Endurance, {"x": p.x, "endurance_model": models.model_endurance_retention,
                              "endurance_model_kwargs": {
                                  "operation_mode": mode, "p_lrs": list(p.p_lrs),
                                  "stable_resistance_lrs": p.stable_resistance_lrs, "p_hrs": list(p.p_hrs),
                                  "stable_resistance_hrs": p.stable_resistance_hrs, "cell_size": p.cell_size,
                                  "temperature": p.temperature, "temperature_threshold": p.temperature_threshold}}
    if kind == "retention":
        return NI.Retention, {"time": p.time, "retention_model": models.model_conductance_drift,
                              "retention_model_kwargs": {"initial_time": p.initial_time,
                                                         "drift_coefficient": p.drift_coefficient}}
    raise UnsupportedError(f"unknown non-ideality '{kind}'")


MAX_SWEEP_SAMPLES = 1_000_000
"""Largest I–V sweep (samples per device) the non_linear model may simulate."""


def check_sweep_size(memtorch, name: str, opts: CrossbarOptions) -> None:
    """Refuse a non_linear sweep that would allocate ``sweep_duration / time_series_resolution`` samples per device
    beyond :data:`MAX_SWEEP_SAMPLES` (VTEAM's default resolution of 0.1 ns makes a 1 s sweep 10^10 samples)."""
    p = opts.nonidealities.non_linear
    if p is None or p.simulate:
        return
    model = getattr(memtorch.bh.memristor, opts.device)
    resolution = opts.device_params.get("time_series_resolution")
    if resolution is None:
        resolution = model().time_series_resolution
    samples = p.sweep_duration / resolution
    if samples > MAX_SWEEP_SAMPLES:
        raise UnsupportedError(
            f"layer '{name}': a non_linear sweep of {p.sweep_duration:g} s at the device's time_series_resolution of "
            f"{resolution:g} s is {samples:.3g} samples per device (limit {MAX_SWEEP_SAMPLES:,}); shorten "
            f"sweep_duration or set device_params: {{time_series_resolution: {p.sweep_duration / 1e4:g}}}")


def finite_conductance_states(memtorch, layer, states: int) -> None:
    """MemTorch's FiniteConductanceStates, made to work on CPU: every device's conductance to the nearest of
    ``states`` levels evenly spaced in ``[1/r_off, 1/r_on]``.

    Why not ``apply_nonidealities``: in memtorch-cpu 1.1.6 it calls ``quantize`` with per-device min/max
    tensors, an overload the CPU bindings lack; the TypeError is swallowed and the conductances are left
    unchanged, silently. This does what it intends with MemTorch's own ``quantize`` and scalar bounds (all devices
    of a crossbar share r_on and r_off here), after the same ``crossbar.update()`` re-read of the devices.
    """
    for crossbar in layer.crossbars:
        crossbar.update()
        r_on = np.unique(np.vectorize(lambda d: d.r_on)(crossbar.devices))
        r_off = np.unique(np.vectorize(lambda d: d.r_off)(crossbar.devices))
        if r_on.size != 1 or r_off.size != 1:
            raise UnsupportedError("finite_conductance_states needs devices that share r_on and r_off")
        shape = crossbar.conductance_matrix.shape
        g = memtorch.bh.Quantize.quantize(crossbar.conductance_matrix.reshape(-1).double(), states,
                                          min=float(1 / r_off[0]), max=float(1 / r_on[0]), override_original=True)
        crossbar.conductance_matrix = g.reshape(shape).float()
