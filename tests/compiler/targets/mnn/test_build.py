"""Lowering to mnn with the real MemTorch: ideal devices, each non-ideality, seeds, spiking networks, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

memtorch = pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")

import snnc  # noqa: E402
from snnc.compiler.errors import BackendUnavailable, SpecError, UnsupportedError  # noqa: E402
from snnc.compiler.targets.mnn.build import build_mnn, crossbar_modules, seeded, to_mnn  # noqa: E402
from snnc.compiler.targets.mnn.engine import (CrossbarConv2d, CrossbarLinear, crossbar_state,  # noqa: E402
                                              load_crossbars)

from .conftest import TINY, trained_like  # noqa: E402

pytestmark = pytest.mark.mnn
TILES = {"tile_shape": [8, 4]}
RAW = {"tile_shape": [8, 4], "engine": "memtorch", "tune": False}
"""Conductance-level tests: MemTorch's layers kept, no tuning (MemTorch's own tune is slow)."""
R_ON, R_OFF = 50.0, 1000.0  # VTEAM defaults


def _conductances(network, name):
    return [c.conductance_matrix.clone() for c in crossbar_modules(network)[name].crossbars]


def test_ideal_devices_give_the_float_outputs(ann, images):
    """No ADC, unbounded inputs, no non-idealities: the tuned crossbars reproduce the float network (rtol 1e-4)."""
    net = to_mnn(ann, {**TILES, "adc_bits": None, "max_input_voltage": None})
    with torch.no_grad():
        ref, out = ann(images), net(images)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_ideal_devices_with_voltage_scaling_restored(ann, images):
    """With 0.3 V inputs and an 8-bit ADC the outputs stay close; ``restore`` undoes MemTorch's input scaling."""
    net = to_mnn(ann, {**TILES, "adc_bits": None, "scaling": "restore"})
    with torch.no_grad():
        ref, out = ann(images), net(images)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    net8 = to_mnn(ann, {**TILES, "scaling": "restore"})
    with torch.no_grad():
        out8 = net8(images)
    assert float((out8 - ref).abs().max()) < 0.05 * float(ref.abs().max())


def test_every_layer_is_replaced_and_the_caller_module_is_untouched(ann):
    before = {k: v.clone() for k, v in ann.state_dict().items()}
    built = build_mnn(ann, TILES)
    assert isinstance(built.network.conv1, CrossbarConv2d) and isinstance(built.network.fc1, CrossbarLinear)
    assert type(ann.conv1) is nn.Conv2d and all(torch.equal(before[k], v) for k, v in ann.state_dict().items())
    rep = {r.name: r for r in built.layers}
    assert (rep["conv1"].rows, rep["conv1"].columns, rep["conv1"].tiles) == (9, 3, 2)
    assert (rep["fc1"].rows, rep["fc1"].columns, rep["fc1"].tiles) == (48, 5, 12)
    assert rep["fc1"].devices == 2 * 12 * 8 * 4
    assert set(built.seconds) == {"patch", "tune", "nonidealities", "engine"}


def test_spiking_network_runs_through_the_crossbars(snn, images):
    net = to_mnn(snn, {**TILES, "adc_bits": None, "max_input_voltage": None})
    prefix, body = net._programs
    assert prefix.get_submodule("conv1") is net.conv1 or body.get_submodule("conv1") is net.conv1
    calls = []
    for m in (net.conv1, net.fc1):
        m.register_forward_hook(lambda mod, a, o: calls.append(type(mod).__name__))
    with torch.no_grad():
        spk, mem = net(images)
        ref_spk, ref_mem = snn(images)
    assert "CrossbarConv2d" in calls and "CrossbarLinear" in calls
    assert spk.shape == ref_spk.shape
    assert torch.allclose(mem, ref_mem, rtol=1e-3, atol=1e-3)  # ideal devices: the same spiking network
    assert net.neurons.keys() == snn.neurons.keys()


def test_fixed_seed_gives_identical_results(ann, images):
    opts = {**TILES, "seed": 7, "nonidealities": {"device_faults": {"lrs_proportion": 0.2, "hrs_proportion": 0.1}}}
    a, b = to_mnn(ann, opts), to_mnn(ann, opts)
    c = to_mnn(ann, {**opts, "seed": 8})
    with torch.no_grad():
        assert torch.equal(a(images), b(images))
        assert not torch.equal(a(images), c(images))
    assert torch.equal(a.fc1.conductance, b.fc1.conductance)
    state = np.random.get_state()[1].copy()
    to_mnn(ann, opts)
    assert np.array_equal(np.random.get_state()[1], state)  # the caller's random state is left alone


def test_device_faults_stick_the_devices_memtorch_draws(ann):
    """MemTorch's DeviceFaults: per crossbar, int(n·hrs) cells (np.random.choice) to 1/r_off, then int(n·lrs) to 1/r_on."""
    base = _conductances(build_mnn(ann, RAW).network, "conv1")
    faulty = build_mnn(ann, {**RAW, "seed": 3,
                             "nonidealities": {"device_faults": {"lrs_proportion": 0.25, "hrs_proportion": 0.1}}})
    got = _conductances(faulty.network, "conv1")
    with seeded(3):  # conv1 is the first layer: its two crossbars take the first draws
        for b, g in zip(base, got):
            n = b.numel()
            hrs = np.random.choice(np.arange(n), replace=False, size=int(n * 0.1))
            lrs = np.random.choice(np.arange(n), replace=False, size=int(n * 0.25))
            want = b.reshape(-1).clone()
            want[hrs] = 1 / R_OFF
            want[lrs] = 1 / R_ON
            assert torch.allclose(g.reshape(-1), want.float())


def test_finite_conductance_states_round_to_evenly_spaced_levels(ann):
    built = build_mnn(ann, {**RAW, "nonidealities": {"finite_conductance_states": {"states": 4}}})
    base = _conductances(build_mnn(ann, RAW).network, "fc1")
    levels = torch.linspace(1 / R_OFF, 1 / R_ON, 4)
    for b, g in zip(base, _conductances(built.network, "fc1")):
        nearest = levels[(b.reshape(-1, 1) - levels).abs().argmin(1)]
        assert torch.allclose(g.reshape(-1), nearest, rtol=1e-5)
        assert len(torch.unique(g)) <= 4


def test_retention_drifts_every_conductance(ann):
    base = _conductances(build_mnn(ann, RAW).network, "fc1")
    drift = build_mnn(ann, {**RAW,
                            "nonidealities": {"retention": {"time": 1e3, "initial_time": 1.0, "drift_coefficient": 0.1}}})
    for b, g in zip(base, _conductances(drift.network, "fc1")):
        assert torch.allclose(g, b * (1e3 / 1.0) ** -0.1, rtol=1e-5)


def test_endurance_sudden_failure_sets_the_stable_resistances(ann):
    built = build_mnn(ann, {**RAW, "nonidealities": {"endurance": {}}})
    for g in _conductances(built.network, "fc1"):
        assert set(torch.unique((1 / g).round()).tolist()) <= {100.0, 1000.0}


def test_non_linear_devices_fall_back_to_memtorch(ann, images):
    with pytest.raises(UnsupportedError, match="1e\\+10 samples per device"):
        build_mnn(ann, {"nonidealities": {"non_linear": {}}})
    with pytest.warns(UserWarning, match="MemTorch's own"):
        built = build_mnn(ann, {"tile_shape": [16, 16], "adc_bits": None, "tune": False,
                                "device_params": {"time_series_resolution": 1e-3},
                                "layers": {"conv1": {"nonidealities": {"non_linear": {}}}}})
    rep = {r.name: r.engine for r in built.layers}
    assert rep == {"conv1": "memtorch", "fc1": "fast"}
    with torch.no_grad():
        assert built.network(images[:1]).shape == (1, 5)


def test_nonidealities_reduce_agreement_with_the_float_network(ann, images):
    ideal = to_mnn(ann, {**TILES, "scaling": "restore"})
    bad = to_mnn(ann, {**TILES, "scaling": "restore", "adc_bits": 3,
                       "nonidealities": {"device_faults": {"lrs_proportion": 0.3}}})
    with torch.no_grad():
        ref = ann(images)
        assert float((bad(images) - ref).abs().mean()) > 2 * float((ideal(images) - ref).abs().mean())


def test_save_and_load_round_trip(ann, images, tmp_path):
    net = to_mnn(ann, {**TILES, "nonidealities": {"device_faults": {"lrs_proportion": 0.1}}})
    path = tmp_path / "mnn.pt"
    torch.save(crossbar_state(net), path)
    again = load_crossbars(snnc.compile(TINY, target="ann"), torch.load(path, weights_only=True))
    with torch.no_grad():
        assert torch.equal(again(images), net(images))


def test_unpatchable_layers_are_named():
    class MyLinear(nn.Linear):
        pass

    model = nn.Sequential(nn.Conv2d(1, 4, 3, groups=1), nn.Conv2d(4, 4, 3, groups=2), nn.Flatten(), MyLinear(4, 2),
                          nn.Conv1d(1, 1, 3))
    with pytest.raises(UnsupportedError) as info:
        to_mnn(model)
    text = str(info.value)
    assert "'1': groups=2" in text and "'3': its class" in text and "'4': Conv1d" in text and "'0'" not in text


def test_unknown_layer_override_and_bad_options(ann):
    with pytest.raises(UnsupportedError, match="'fc2'. Did you mean 'fc1'"):
        to_mnn(ann, {"layers": {"fc2": {"adc_bits": 4}}})
    with pytest.raises(SpecError, match="adc_bits: must be 2..16 bits"):
        to_mnn(ann, {"adc_bits": 17})
    with pytest.raises(UnsupportedError, match="restore is a fast-engine feature"):
        to_mnn(ann, {"engine": "memtorch", "scaling": "restore"})


def test_missing_memtorch_names_the_install_command(ann, monkeypatch):
    monkeypatch.setitem(sys.modules, "memtorch", None)
    with pytest.raises(BackendUnavailable, match="pip install --no-build-isolation memtorch-cpu"):
        to_mnn(ann)
