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

The MemTorch side of each step (its import, the keyword arguments of its calls, the device factory) is
:mod:`.backend`; this module keeps the phases and their order.
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

from ...errors import UnsupportedError, did_you_mean
from .backend import (INSTALL_COMMAND, MAX_SWEEP_SAMPLES, DeviceFactory, check_sweep_size, finite_conductance_states,
                      nonideality_kwargs, patch_kwargs, require_memtorch)
from .engine import _Crossbar, fast_tune, from_memtorch, supports
from .options import CrossbarOptions, MnnOptions, resolve_options
from .rebind import reachable_modules, replace_modules

__all__ = ["DeviceFactory", "INSTALL_COMMAND", "LayerReport", "MAX_SWEEP_SAMPLES", "MnnBuild", "build_mnn",
           "crossbar_layers", "crossbar_modules", "finite_conductance_states", "nonideality_kwargs", "patch_kwargs",
           "require_memtorch", "seeded", "to_mnn"]

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
    _check_layer_options(opts, targets)
    seconds = {"patch": 0.0, "tune": 0.0, "nonidealities": 0.0, "engine": 0.0}
    per_layer = {name: opts.for_layer(name) for name in targets}
    for name in targets:
        check_sweep_size(memtorch, name, per_layer[name])
    with seeded(opts.seed), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="memtorch")
        patched = _program(memtorch, targets, per_layer, opts, seconds)
    t0 = time.perf_counter()
    final, reports = _engines(patched, per_layer, opts.engine)
    replace_modules(model, {id(targets[n]): final[n] for n in targets})
    _check_replaced(model, targets)
    seconds["engine"] = time.perf_counter() - t0
    return MnnBuild(network=model, layers=reports, seconds=seconds, options=opts)


def _check_layer_options(opts: MnnOptions, targets: dict[str, nn.Module]) -> None:
    """Refuse per-layer options naming no crossbar layer, and ``scaling: restore`` on MemTorch's engine."""
    unknown = sorted(set(opts.layers) - set(targets))
    if unknown:
        raise UnsupportedError("memristor.layers names layers that are not conv or linear layers of the network: "
                               + ", ".join(f"'{n}'.{did_you_mean(n, targets)}" for n in unknown)
                               + f" Crossbar layers: {', '.join(targets)}")
    restored = [n for n in targets if opts.for_layer(n).scaling == "restore"]
    if restored and opts.engine == "memtorch":
        raise UnsupportedError(f"scaling: restore is a fast-engine feature (layers {', '.join(restored)}); use "
                               "engine: fast, or scaling: naive with engine: memtorch")


def _program(memtorch, targets: dict[str, nn.Module], per_layer: dict[str, CrossbarOptions], opts: MnnOptions,
             seconds: dict[str, float]) -> dict[str, nn.Module]:
    """Patch, tune, degrade (non-idealities) and re-tune every layer, adding each phase's wall time to
    ``seconds``; returns the MemTorch layers by name. Runs inside the caller's seeded block."""
    t0 = time.perf_counter()
    patched = {name: _patch(memtorch, name, layer, per_layer[name]) for name, layer in targets.items()}
    seconds["patch"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if opts.tune:
        for name, layer in patched.items():
            _tune(layer, opts.engine, per_layer[name].scaling)
    seconds["tune"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in patched:
        patched[name] = _degrade(memtorch, patched[name], per_layer[name])
    seconds["nonidealities"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if opts.retune:
        for name, layer in patched.items():
            _tune(layer, opts.engine, per_layer[name].scaling)
    seconds["tune"] += time.perf_counter() - t0
    return patched


def _patch(memtorch, name: str, layer: nn.Module, opts: CrossbarOptions) -> nn.Module:
    """One layer patched by ``memtorch.mn.Module.patch_model`` with its options (weights mapped, devices
    programmed).

    Raises:
        UnsupportedError: MemTorch left the layer as it was.
    """
    holder = nn.Sequential(layer)
    memtorch.mn.Module.patch_model(holder, module_parameters_to_patch=[type(layer)], **patch_kwargs(memtorch, opts))
    new = holder[0]
    if type(new) not in memtorch.mn.Module.supported_module_parameters.values():
        raise UnsupportedError(f"MemTorch did not patch layer '{name}' ({layer}); it patches only "
                               "torch.nn.Linear and torch.nn.Conv2d by exact class")
    return new


def _degrade(memtorch, layer: nn.Module, opts: CrossbarOptions) -> nn.Module:
    """The layer with its configured non-idealities applied, in order; returns the (possibly new) layer."""
    apply_nonidealities = importlib.import_module("memtorch.bh.nonideality.NonIdeality").apply_nonidealities
    for kind, params in opts.nonidealities.enabled():
        if kind == "finite_conductance_states":
            finite_conductance_states(memtorch, layer, params.states)
            continue
        which, kwargs = nonideality_kwargs(memtorch, kind, params)
        holder = nn.Sequential(layer)
        apply_nonidealities(holder, non_idealities=[which], **kwargs)
        layer = holder[0]
    return layer


def _engines(patched: dict[str, nn.Module], per_layer: dict[str, CrossbarOptions],
             engine_option: str) -> tuple[dict[str, nn.Module], list[LayerReport]]:
    """Each MemTorch layer's replacement (its fast equivalent unless ``engine: memtorch`` or the fast engine
    does not cover it, with a warning) and its report."""
    final: dict[str, nn.Module] = {}
    reports = []
    for name, layer in patched.items():
        why = supports(layer)
        engine = "memtorch" if engine_option == "memtorch" or why else "fast"
        if engine_option == "fast" and why:
            # stacklevel 3: the warning points at build_mnn's caller
            warnings.warn(f"mnn layer '{name}' runs on MemTorch's own (slow) forward: {why}", stacklevel=3)
        final[name] = layer if engine == "memtorch" else from_memtorch(layer, per_layer[name].scaling)
        reports.append(LayerReport(
            name=name, kind="conv2d" if isinstance(layer, nn.Conv2d) else "linear",
            rows=layer.crossbars[0].rows, columns=layer.crossbars[0].columns,
            tile_shape=None if layer.tile_shape is None else tuple(layer.tile_shape), tiles=_tiles(layer),
            crossbars=len(layer.crossbars), transform=_transform(layer), engine=engine, options=per_layer[name]))
    return final, reports


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
