"""Crossbar costs are pure arithmetic over layer geometry (no MemTorch needed)."""

from __future__ import annotations

import pytest

import snnc
from snnc.compiler.targets.mnn import MnnOptions
from snnc.compiler.targets.mnn.cost import CrossbarGeometry, CrossbarEnergy, crossbar_cost, geometry_from_graph


def _graph(path="specs/mnist_conv.yaml"):
    g = snnc.build_graph(path)
    return getattr(g, "graph", g)


def test_mnist_conv_geometry_and_counts(repo):
    geo = geometry_from_graph(_graph(repo / "specs/mnist_conv.yaml"), MnnOptions())
    assert [(g.name, g.rows, g.columns, g.reads) for g in geo] == [
        ("conv1", 25, 12, 24 * 24), ("conv2", 300, 64, 8 * 8), ("fc1", 1024, 10, 1)]
    c = crossbar_cost(geo)
    tiles = [r["tiles"] for r in c["layers"]]
    assert tiles == [1, 3, 8]
    assert c["totals"]["devices"] == 2 * 12 * 128 * 128
    assert c["totals"]["devices_used"] == 2 * (25 * 12 + 300 * 64 + 1024 * 10)
    # conversions: one per used column per tile row, per read
    assert [r["adc_conversions"] for r in c["layers"]] == [576 * 1 * 12, 64 * 3 * 64, 1 * 8 * 10]
    assert c["totals"]["analog_macs"] == 576 * 25 * 12 + 64 * 300 * 64 + 1024 * 10


def test_adc_energy_doubles_per_bit_and_scales_with_timesteps():
    g8 = CrossbarGeometry("fc", "linear", 256, 10, 1, (128, 128), 2, 8)
    g6 = CrossbarGeometry("fc", "linear", 256, 10, 1, (128, 128), 2, 6)
    e = CrossbarEnergy()
    a8 = crossbar_cost([g8], e)["totals"]["energy_pj"]["adc"]
    a6 = crossbar_cost([g6], e)["totals"]["energy_pj"]["adc"]
    assert a8 == pytest.approx(4 * a6) and a8 == pytest.approx(2 * 10 * e.adc_8bit_pj)
    t25 = crossbar_cost([g8], e, timesteps=25)["totals"]
    assert t25["adc_conversions"] == 25 * 2 * 10 and t25["energy_uj"] == pytest.approx(
        25 * crossbar_cost([g8], e)["totals"]["energy_uj"])


def test_untiled_and_ideal_adc():
    g = CrossbarGeometry("fc", "linear", 300, 7, 2, None, 1, None)
    r = crossbar_cost([g])["layers"][0]
    assert (r["tiles"], r["devices"], r["adc_conversions"], r["energy_pj"]["adc"]) == (1, 300 * 7, 0, 0.0)


def test_per_layer_options_change_the_geometry(repo):
    o = MnnOptions(scheme="single_column", layers={"fc1": {"tile_shape": [256, 16], "adc_bits": 4}})
    geo = {g.name: g for g in geometry_from_graph(_graph(repo / "specs/mnist_conv.yaml"), o)}
    assert geo["fc1"].tile_shape == (256, 16) and geo["fc1"].adc_bits == 4 and geo["fc1"].crossbars == 1
    assert geo["conv1"].tile_shape == (128, 128)
