"""mnn options: defaults are MemTorch's tutorial settings; every bad value is a located error (no MemTorch needed)."""

from __future__ import annotations

import pytest

import snnc
from snnc.compiler.errors import SpecError, format_path
from snnc.compiler.targets.mnn import MnnOptions, resolve_options

from .conftest import TINY


def test_defaults_are_the_memtorch_tutorial_settings():
    o = MnnOptions()
    assert (o.device, o.cell, o.tile_shape, o.adc_bits, o.max_input_voltage) == ("VTEAM", "1T1R", (128, 128), 8, 0.3)
    assert o.quantization == "linear" and o.adc_overflow_rate == 0.0 and o.nonidealities.enabled() == []
    assert o.resistances == (50.0, 1000.0)


@pytest.mark.parametrize("override, path, message", [
    ({"adc_bits": 1}, "adc_bits", "must be 2..16 bits"),
    ({"adc_overflow_rate": 1.5}, "adc_overflow_rate", "must be in 0..1"),
    ({"tile_shape": [0, 128]}, "tile_shape", "each 1..4096"),
    ({"r_on": 5000}, "", "r_off (1000 ohms) must be larger than r_on (5000 ohms)"),
    ({"cell": "1R"}, "", "needs source_resistance and line_resistance"),
    ({"device": "VTEM"}, "device", "Input should be 'VTEAM'"),
    ({"device_params": {"k_of": 1.0}}, "", "k_of not parameters of VTEAM"),
    ({"nonidealities": {"device_faults": {"lrs_proportion": 0.7, "hrs_proportion": 0.5}}},
     "nonidealities.device_faults", "must not exceed 1"),
    ({"nonidealities": {"finite_conductance_states": {"states": 1}}},
     "nonidealities.finite_conductance_states.states", "states must be 2..65536"),
    ({"nonidealities": {"retention": {"time": 0.5}}}, "nonidealities.retention", "must be later than initial_time"),
    ({"layers": {"fc1": {"adc_bits": 40}}}, "", "layers.fc1.adc_bits: must be 2..16 bits"),
    ({"layers": {"fc1": {"seed": 1}}}, "", "seed cannot be set per layer"),
    ({"adc_bit": 4}, "adc_bit", "Extra inputs are not permitted"),
])
def test_bad_option_is_a_located_error(override, path, message):
    with pytest.raises(SpecError) as info:
        resolve_options(None, override)
    d = info.value.diagnostics[0]
    assert message in d.message
    assert format_path(d.path) == (path or "<root>")


def test_overrides_merge_into_the_spec_section():
    spec = snnc.load_spec(TINY + "memristor: {adc_bits: 6, nonidealities: {device_faults: {lrs_proportion: 0.1}}}\n")
    o = resolve_options(spec.spec.memristor, {"nonidealities": {"device_faults": {"hrs_proportion": 0.2}}})
    assert o.adc_bits == 6
    assert (o.nonidealities.device_faults.lrs_proportion, o.nonidealities.device_faults.hrs_proportion) == (0.1, 0.2)


def test_per_layer_override():
    o = MnnOptions(adc_bits=8, layers={"fc1": {"adc_bits": 4, "nonidealities": {"finite_conductance_states": {}}}})
    assert o.for_layer("conv1").adc_bits == 8
    assert o.for_layer("fc1").adc_bits == 4
    assert o.for_layer("fc1").nonidealities.finite_conductance_states.states == 16


def test_nonidealities_apply_in_a_fixed_order():
    o = MnnOptions(nonidealities={"retention": {}, "device_faults": {}, "finite_conductance_states": {}})
    assert [k for k, _ in o.nonidealities.enabled()] == ["finite_conductance_states", "device_faults", "retention"]


def test_spec_section_error_is_located_in_the_file():
    with pytest.raises(SpecError) as info:
        snnc.load_spec(TINY + "memristor:\n  adc_bits: 20\n")
    d = info.value.diagnostics[0]
    assert format_path(d.path) == "memristor.adc_bits" and d.line == TINY.count("\n") + 2
