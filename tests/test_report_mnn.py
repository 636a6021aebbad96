"""``snnc report --target mnn``: crossbar tiles and devices per layer, ADC conversions and the energy estimate, from
the spec, from options, for a spiking source, for a built mnn artifact, and the same figures in --json."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import SpecError
from snnc.compiler.targets.mnn.cost import DEFAULT_ENERGY
from snnc.compiler.targets.registry import get_target
from snnc.runtime.cost import report

from .conftest import TINY_CROSSBARS

WITH_SECTION = TINY_CROSSBARS + """\
memristor:
  tile_shape: [8, 4]
  adc_bits: 6
  layers:
    fc1: {adc_bits: null}
"""


def _layers(rep) -> dict:
    return {r["name"]: r for r in rep.hardware["layers"]}


def test_mnist_conv_crossbar_figures_and_energy():
    rep = report("mnist_conv", target="mnn")
    layers = _layers(rep)
    assert [(n, r["tiles"], r["devices"], r["adc_conversions"]) for n, r in layers.items()] == [
        ("conv1", 1, 2 * 128 * 128, 24 * 24 * 12), ("conv2", 3, 2 * 3 * 128 * 128, 8 * 8 * 3 * 64),
        ("fc1", 8, 2 * 8 * 128 * 128, 8 * 10)]
    t = rep.hardware["totals"]
    assert t["devices_used"] == 2 * (25 * 12 + 300 * 64 + 1024 * 10) and t["tiles"] == 12
    e = DEFAULT_ENERGY
    fc1 = layers["fc1"]["energy_pj"]
    assert fc1["adc"] == pytest.approx(80 * e.adc_8bit_pj)  # the default 8-bit ADC
    assert fc1["cells"] == pytest.approx(2 * 1024 * 10 * e.cell_read_pj)
    assert fc1["dac"] == pytest.approx(1024 * e.dac_pj)  # one tile column of tiles: every row driven once
    assert fc1["digital"] == pytest.approx((7 * 10 + 2 * 10) * e.digital_add_pj + 10 * e.digital_mult_pj)
    assert t["energy_uj"] == pytest.approx(sum(r["energy_pj"]["total"] for r in layers.values()) * 1e-6)
    assert any("ISAAC" in n for n in rep.notes) and any("docs/costs.md" in n for n in rep.notes)
    assert rep.totals["macs"] == report("mnist_conv", target="ann").totals["macs"]  # the carried network's


def test_options_and_the_spec_section_set_the_geometry():
    layers = _layers(report(WITH_SECTION, target="mnn"))
    assert (layers["conv1"]["tiles"], layers["fc1"]["tiles"]) == (2 * 1, 6 * 2)  # 9x3 and 48x5 on 8x4 tiles
    assert layers["fc1"]["adc_conversions"] == 0 and layers["conv1"]["adc_conversions"] == 64 * 2 * 3
    adc6 = layers["conv1"]["energy_pj"]["adc"]
    over = _layers(report(WITH_SECTION, target="mnn", options={"adc_bits": 8, "tile_shape": [16, 8]}))
    # one tile row instead of two (half the conversions), at 8 bits instead of 6 (4x the energy each)
    assert over["conv1"]["tiles"] == 1 and over["conv1"]["energy_pj"]["adc"] == pytest.approx(2 * adc6)
    with pytest.raises(SpecError, match="adc_bits"):
        report(WITH_SECTION, target="mnn", options={"adc_bits": 1})


def test_other_targets_have_no_crossbar_figures():
    assert report("mnist_conv", target="ann").hardware is None
    assert get_target("snn").hardware_costs(snnc.build_graph("mnist_conv"), get_target("snn").options()) is None


def test_spiking_source_reads_every_step_but_the_time_invariant_layer():
    one, ten = report("mnist_conv", target="mnn"), report("mnist_conv", target="mnn", timesteps=10)
    a, b = _layers(one), _layers(ten)
    assert b["conv1"]["reads"] == a["conv1"]["reads"]  # direct encoding: conv1's input is the same every step
    assert b["conv2"]["reads"] == 10 * a["conv2"]["reads"] and b["fc1"]["adc_conversions"] == 10 * 80
    assert ten.hardware["totals"]["timesteps"] == 10 and any("T = 10" in n for n in ten.notes)


def test_cli_table_and_json_give_the_same_figures():
    runner = CliRunner()
    text = runner.invoke(app, ["report", "mnist_conv", "-t", "mnn", "-O", "adc_bits=6"])
    assert text.exit_code == 0, text.output
    assert "crossbars (per inference)" in text.output and "393,216" in text.output
    assert "crossbar energy:" in text.output and "docs/costs.md" in text.output
    out = runner.invoke(app, ["report", "mnist_conv", "-t", "mnn", "-O", "adc_bits=6", "--json"])
    data = json.loads(out.output)
    assert data["hardware"]["totals"]["devices"] == 393_216
    assert data["hardware"]["totals"]["energy_uj"] == pytest.approx(
        report("mnist_conv", target="mnn", options={"adc_bits": 6}).hardware["totals"]["energy_uj"])
    bad = runner.invoke(app, ["report", "mnist_conv", "-t", "mnn", "-O", "adc_bitz=6"])
    assert bad.exit_code != 0 and "adc_bitz" in bad.output and "Traceback" not in bad.output


@pytest.mark.mnn
def test_report_of_a_built_artifact_uses_its_options_and_agrees_with_the_build(tmp_path):
    """An mnn artifact built from an snn: the report takes its options and its source's T, and its tiles and
    devices are those MemTorch allocated."""
    pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")
    from snnc.compiler.targets.mnn.build import build_mnn

    snn = snnc.compile(WITH_SECTION, target="snn")
    snnc.save(snn, tmp_path / "snn.pt")
    net = snnc.compile(WITH_SECTION, target="mnn", checkpoint=tmp_path / "snn.pt", options={"adc_bits": 5})
    snnc.save(net, tmp_path / "mnn.pt")
    rep = report(WITH_SECTION, target="mnn", checkpoint=tmp_path / "mnn.pt")
    layers = _layers(rep)
    assert rep.hardware["source"]["timesteps"] == 4 and layers["conv1"]["runs"] == 1 and layers["fc1"]["runs"] == 4
    assert layers["conv1"]["energy_pj"]["adc"] == pytest.approx(
        64 * 2 * 3 * DEFAULT_ENERGY.adc_8bit_pj * 2.0 ** (5 - 8))
    built = {r.name: r for r in build_mnn(snn, get_target("mnn").options(
        {"adc_bits": 5}, defaults=get_target("mnn").spec_defaults(snnc.load_spec(WITH_SECTION).spec))).layers}
    for name, r in layers.items():
        assert (r["tiles"], r["devices"]) == (built[name].tiles, built[name].devices), name
    cli = CliRunner().invoke(app, ["report", str(_spec(tmp_path)), "-t", "mnn", "-c", str(tmp_path / "mnn.pt"),
                                   "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["hardware"]["totals"] == rep.hardware["totals"]


def _spec(tmp_path):
    path = tmp_path / "tiny_xbar.yaml"
    path.write_text(WITH_SECTION)
    return path


def test_report_from_an_snn_checkpoint_is_the_compile_rule(tmp_path):
    """mnn from an snn checkpoint: what ``compile -t mnn`` accepts, ``report -t mnn`` accepts too, and both give
    the same crossbars (the spiking source reads its later layers every step)."""
    pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")
    snn = snnc.compile(WITH_SECTION, target="snn")
    snnc.save(snn, tmp_path / "snn.pt")
    direct = report(WITH_SECTION, target="mnn", checkpoint=tmp_path / "snn.pt")
    net = snnc.compile(WITH_SECTION, target="mnn", checkpoint=tmp_path / "snn.pt")
    snnc.save(net, tmp_path / "mnn.pt")
    built = report(WITH_SECTION, target="mnn", checkpoint=tmp_path / "mnn.pt")
    assert direct.hardware["source"] == {"kind": "snn", "timesteps": 4}
    assert direct.hardware["totals"] == built.hardware["totals"]
    assert _layers(direct)["fc1"]["runs"] == 4 and _layers(direct)["conv1"]["runs"] == 1
    cli = CliRunner().invoke(app, ["report", str(_spec(tmp_path)), "-t", "mnn", "-c", str(tmp_path / "snn.pt")])
    assert cli.exit_code == 0, cli.output
    assert "an ANN's trained weights are needed" not in cli.output and "crossbars" in cli.output


def test_targets_say_what_each_is_built_from_once():
    """One rule, said once: ``snnc targets`` names each target's source from the target's own flags."""
    import re

    text = " ".join(CliRunner().invoke(app, ["targets"], env={"COLUMNS": "200"}).output.split())  # wrapped or not
    lines = dict(re.findall(r"[✓–] (\w+) (.*?)(?= [✓–] \w+ |$)", text))
    assert "from a trained ann or snn" in lines["mnn"] and "from a trained ANN" not in lines["mnn"]
    assert "from a trained ANN" in lines["burst"] and "from a trained" not in lines["snn"]
    assert get_target("mnn").built_from == "a trained ann or snn" and get_target("ann").built_from == "the spec"
