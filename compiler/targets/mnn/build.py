"""Lowering to mnn: a trained network's conv and linear layers patched, programmed and degraded by MemTorch.

:func:`build_mnn` (and its shorthand :func:`to_mnn`) takes a trained torch module — an ann ``GraphModule`` or a
spiking module whose synapses are ordinary ``nn.Conv2d``/``nn.Linear`` submodules — and, on a deep copy:

1. checks every conv and linear layer is one MemTorch can patch (it matches layers by their exact class name and
   silently skips the rest) and raises :class:`UnsupportedError` naming those it cannot;
2. patches each with ``memtorch.mn.Module.patch_model`` using that layer's options (per-layer overrides apply),
   which maps the weights onto conductances and programs the devices of every tile;
3. tunes each layer (MemTorch's ``naive_tune`` read-out correction), with the fast engine unless
   ``engine: memtorch`` (same random input, same fit);
4. applies the configured non-idealities with ``apply_nonidealities``, in :data:`NONIDEALITY_ORDER`;
5. replaces each MemTorch layer by its fast equivalent (:mod:`.engine`) unless ``engine: memtorch``, and puts the
   new layers wherever the old ones were referenced — including a spiking module's fx programs, so the spiking
   network really runs through the crossbars.

Every random draw (tuning inputs, stuck-device choice) comes from generators seeded with ``options.seed`` inside
the call; the caller's global random state is left as it was.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

import numpy as np
import torch
from torch import nn

from ...errors import BackendUnavailable, UnsupportedError, did_you_mean
from .engine import _Crossbar, fast_tune, from_memtorch, supports
from .mapping import naive_map
from .rebind import reachable_modules, replace_modules
from .options import CrossbarOptions, MnnOptions, resolve_options

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


# ------------------------------------------------------------------------------------------------ checks


def _why_unpatchable(module: nn.Module) -> Optional[str]:
    """Why MemTorch cannot patch this weighted layer faithfully, or None when it can."""
    if type(module) is nn.Linear:
        return None
    if type(module) is nn.Conv2d:
        m = module
        if m.groups != 1:
            return f"groups={m.groups}: MemTorch maps only dense convolutions (groups=1)"
        if tuple(m.dilation) != (1, 1):
            return f"dilation={tuple(m.dilation)}: MemTorch's convolution ignores dilation"
        if m.kernel_size[0] != m.kernel_size[1] or m.stride[0] != m.stride[1]:
            return (f"kernel_size={tuple(m.kernel_size)}, stride={tuple(m.stride)}: MemTorch unfolds with the first "
                    "size and stride for both axes (use square kernels and equal strides)")
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            return f"padding={m.padding!r} ({m.padding_mode}): MemTorch pads with zeros by explicit amounts only"
        return None
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        return (f"its class {type(module).__qualname__} is a subclass of {type(module).__mro__[1].__name__}; MemTorch "
                "patches layers by exact class name only")
    return f"{type(module).__name__} layers are not supported by the mnn target (only Conv2d and Linear)"


_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
             nn.Bilinear)


def crossbar_layers(module: nn.Module) -> dict[str, nn.Module]:
    """The layers to put on crossbars, by qualified name: every ``Conv2d`` and ``Linear`` (in module order).

    Raises:
        UnsupportedError: some weighted layers cannot be patched (all of them are named, each with the reason).
    """
    found, bad = {}, []
    for name, m in module.named_modules():
        if isinstance(m, _WEIGHTED):
            why = _why_unpatchable(m)
            if why:
                bad.append(f"'{name}': {why}")
            else:
                found[name] = m
    if bad:
        raise UnsupportedError("cannot put these layers on memristive crossbars:\n  " + "\n  ".join(bad))
    if not found:
        raise UnsupportedError("the network has no Conv2d or Linear layer to put on crossbars")
    return found


# ------------------------------------------------------------------------------------------------ seeding


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch, NumPy and Python's generators (MemTorch draws from all three's globals); restore them after."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


# ------------------------------------------------------------------------------------------------ MemTorch kwargs

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


def _check_sweep_size(memtorch, name: str, opts: CrossbarOptions) -> None:
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


# ------------------------------------------------------------------------------------------------ the build


@dataclass
class LayerReport:
    """What was built for one layer.

    Attributes:
        name: qualified module name.
        kind: ``conv2d`` or ``linear``.
        rows, columns: crossbar rows (inputs: in_features or in_channels·kh·kw) and columns (outputs).
        tile_shape: tile rows × columns, or None.
        tiles: tiles per crossbar.
        crossbars: crossbars per tile position (2 for double column).
        transform: MemTorch's read-out correction ``(coef, intercept)``.
        engine: ``fast`` or ``memtorch`` (a layer the fast engine does not cover keeps MemTorch's forward).
        options: the layer's crossbar options.
    """

    name: str
    kind: str
    rows: int
    columns: int
    tile_shape: Optional[tuple[int, int]]
    tiles: int
    crossbars: int
    transform: tuple[float, float]
    engine: str
    options: CrossbarOptions

    @property
    def devices(self) -> int:
        """Memristive devices programmed for this layer (tile padding included)."""
        if self.tile_shape is None:
            return self.crossbars * self.rows * self.columns
        return self.crossbars * self.tiles * self.tile_shape[0] * self.tile_shape[1]


@dataclass
class MnnBuild:
    """The result of :func:`build_mnn`.

    Attributes:
        network: the memristive network (a deep copy of the input with its layers replaced).
        layers: per-layer reports, in module order.
        seconds: wall time of each phase (``patch``, ``tune``, ``nonidealities``, ``engine``).
        options: the options used.
    """

    network: nn.Module
    layers: list[LayerReport]
    seconds: dict[str, float] = field(default_factory=dict)
    options: Optional[MnnOptions] = None


def _tiles(layer) -> int:
    c = layer.crossbars[0]
    if layer.tile_shape is None:
        return 1
    return int(np.ceil(c.rows / layer.tile_shape[0]) * np.ceil(c.columns / layer.tile_shape[1]))


def _tune(layer, engine: str, scaling: str) -> None:
    layer.transform_output = lambda y: y  # Why: MemTorch fits on the current correction but replaces it
    if engine == "memtorch" or supports(layer):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer.tune()
    else:
        fast_tune(layer, from_memtorch(layer, scaling))


def build_mnn(module: nn.Module, options: MnnOptions | Mapping[str, Any] | None = None) -> MnnBuild:
    """Put a trained network's conv and linear layers on simulated memristive crossbars.

    Args:
        module: the trained network (ann ``GraphModule``, snn ``SpikingModule`` or any module whose synapses are
            ``nn.Conv2d``/``nn.Linear``); it is not modified.
        options: :class:`MnnOptions` (or plain data for it); None for MemTorch's tutorial defaults.

    Returns:
        :class:`MnnBuild`: the network, per-layer reports and timings.

    Raises:
        BackendUnavailable: MemTorch is not installed.
        UnsupportedError: a layer cannot be put on crossbars (all such layers are named), or ``options.layers``
            names a layer that is not a conv or linear layer of the network.
        SpecError: invalid options.
    """
    opts = options if isinstance(options, MnnOptions) else resolve_options(options)
    memtorch = require_memtorch()
    model = copy.deepcopy(module)
    targets = crossbar_layers(model)
    unknown = sorted(set(opts.layers) - set(targets))
    if unknown:
        raise UnsupportedError("memristor.layers names layers that are not conv or linear layers of the network: "
                               + ", ".join(f"'{n}'.{did_you_mean(n, targets)}" for n in unknown)
                               + f" Crossbar layers: {', '.join(targets)}")
    restored = [n for n in targets if opts.for_layer(n).scaling == "restore"]
    if restored and opts.engine == "memtorch":
        raise UnsupportedError(f"scaling: restore is a fast-engine feature (layers {', '.join(restored)}); use "
                               "engine: fast, or scaling: naive with engine: memtorch")
    apply_nonidealities = importlib.import_module("memtorch.bh.nonideality.NonIdeality").apply_nonidealities
    seconds = {"patch": 0.0, "tune": 0.0, "nonidealities": 0.0, "engine": 0.0}
    patched: dict[str, nn.Module] = {}
    per_layer = {name: opts.for_layer(name) for name in targets}
    for name in targets:
        _check_sweep_size(memtorch, name, per_layer[name])
    with seeded(opts.seed), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="memtorch")
        t0 = time.perf_counter()
        for name, layer in targets.items():
            holder = nn.Sequential(layer)
            memtorch.mn.Module.patch_model(holder, module_parameters_to_patch=[type(layer)],
                                           **patch_kwargs(memtorch, per_layer[name]))
            new = holder[0]
            if type(new) not in memtorch.mn.Module.supported_module_parameters.values():
                raise UnsupportedError(f"MemTorch did not patch layer '{name}' ({layer}); it patches only "
                                       "torch.nn.Linear and torch.nn.Conv2d by exact class")
            patched[name] = new
        seconds["patch"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if opts.tune:
            for name, layer in patched.items():
                _tune(layer, opts.engine, per_layer[name].scaling)
        seconds["tune"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name, layer in patched.items():
            for kind, params in per_layer[name].nonidealities.enabled():
                if kind == "finite_conductance_states":
                    finite_conductance_states(memtorch, layer, params.states)
                    continue
                which, kwargs = nonideality_kwargs(memtorch, kind, params)
                holder = nn.Sequential(layer)
                apply_nonidealities(holder, non_idealities=[which], **kwargs)
                layer = patched[name] = holder[0]
        seconds["nonidealities"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if opts.retune:
            for name, layer in patched.items():
                _tune(layer, opts.engine, per_layer[name].scaling)
        seconds["tune"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    final: dict[str, nn.Module] = {}
    reports = []
    for name, layer in patched.items():
        why = supports(layer)
        engine = "memtorch" if opts.engine == "memtorch" or why else "fast"
        if opts.engine == "fast" and why:
            warnings.warn(f"mnn layer '{name}' runs on MemTorch's own (slow) forward: {why}", stacklevel=2)
        final[name] = layer if engine == "memtorch" else from_memtorch(layer, per_layer[name].scaling)
        reports.append(LayerReport(
            name=name, kind="conv2d" if isinstance(layer, nn.Conv2d) else "linear",
            rows=layer.crossbars[0].rows, columns=layer.crossbars[0].columns,
            tile_shape=None if layer.tile_shape is None else tuple(layer.tile_shape), tiles=_tiles(layer),
            crossbars=len(layer.crossbars), transform=_transform(layer), engine=engine, options=per_layer[name]))
    replace_modules(model, {id(targets[n]): final[n] for n in targets})
    _check_replaced(model, targets)
    seconds["engine"] = time.perf_counter() - t0
    return MnnBuild(network=model, layers=reports, seconds=seconds, options=opts)


def _transform(layer) -> tuple[float, float]:
    from .engine import _transform_of

    return _transform_of(layer)


def _check_replaced(model: nn.Module, targets: dict[str, nn.Module]) -> None:
    """Every original layer is gone from everything the network runs (children and fx programs)."""
    originals = {id(m): n for n, m in targets.items()}
    left = sorted({originals[id(m)] for _, m in reachable_modules(model) if id(m) in originals})
    plain = sorted(n for n, m in reachable_modules(model) if type(m) in (nn.Linear, nn.Conv2d))
    if left or plain:
        raise UnsupportedError("these layers were not put on crossbars (still referenced as float layers): "
                               + ", ".join(left or plain))


def to_mnn(module: nn.Module, options: MnnOptions | Mapping[str, Any] | None = None) -> nn.Module:
    """:func:`build_mnn`'s network only (same arguments and errors)."""
    return build_mnn(module, options).network


def crossbar_modules(network: nn.Module) -> dict[str, nn.Module]:
    """The crossbar layers of a built network by name: fast layers and MemTorch layers."""
    out = {}
    for name, m in network.named_modules():
        if isinstance(m, _Crossbar) or hasattr(m, "crossbars"):
            out[name] = m
    return out
