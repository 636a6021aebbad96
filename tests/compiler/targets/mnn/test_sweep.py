"""The option plan of a robustness sweep: axes checked before any work, each point's options one change away
from the base, the ideal-device reference without non-idealities or ADC (no torch, no MemTorch)."""

from __future__ import annotations

import pytest

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.targets.mnn import resolve_options
from snnc.compiler.targets.mnn.sweep import AXES, axis_override, plan_sweep


def test_plan_lists_every_point_axis_by_axis():
    plan = plan_sweep({"tile_shape": [8, 4]}, {"adc_bits": [2, 8], "fault_proportion": (0.0, 0.3)})
    assert plan.points() == [("adc_bits", 2), ("adc_bits", 8), ("fault_proportion", 0.0), ("fault_proportion", 0.3)]
    assert plan.axes == {"adc_bits": [2, 8], "fault_proportion": [0.0, 0.3]}
    assert plan.base.tile_shape == (8, 4)


def test_axis_names_take_the_default_points_and_none_takes_all():
    assert plan_sweep(None, ["adc_bits"]).axes == {"adc_bits": list(AXES["adc_bits"])}
    assert list(plan_sweep().axes) == list(AXES)


def test_each_point_changes_one_setting_of_the_base():
    plan = plan_sweep({"adc_bits": 6}, ["adc_bits", "fault_proportion", "on_off_ratio", "conductance_states"])
    assert plan.options_at("adc_bits", 3).adc_bits == 3
    faults = plan.options_at("fault_proportion", 0.2)
    assert faults.adc_bits == 6
    assert faults.model_dump()["nonidealities"]["device_faults"]["lrs_proportion"] == pytest.approx(0.1)
    r_on = plan.base.resistances[0]
    ratio = plan.options_at("on_off_ratio", 20)
    assert ratio.resistances[0] == pytest.approx(r_on) and ratio.resistances[1] == pytest.approx(20 * r_on)
    assert axis_override("conductance_states", 16.0, plan.base) == \
        {"nonidealities": {"finite_conductance_states": {"states": 16}}}


def test_the_ideal_reference_has_no_nonidealities_and_no_adc():
    plan = plan_sweep({"adc_bits": 6, "nonidealities": {"device_faults": {"lrs_proportion": 0.1}}}, ["adc_bits"])
    assert plan.ideal.adc_bits is None and plan.ideal.model_dump()["nonidealities"] == \
        resolve_options({}).model_dump()["nonidealities"]


@pytest.mark.parametrize("axes", [["adc_bit"], {"adc_bit": [2]}])
def test_unknown_axis_is_refused_with_a_did_you_mean(axes):
    with pytest.raises(UnsupportedError, match="unknown sweep axis 'adc_bit'.*Did you mean 'adc_bits'.*Axes: "
                                               "fault_proportion"):
        plan_sweep(None, axes)
