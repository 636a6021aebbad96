"""Cost reports: static costs against counting on the lowered module, published figures, SOPs against hand
computations (snn and burst), energy arithmetic, the Python API and ``snnc report``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import DataError, SnncError
from snnc.compiler.ir.costs import graph_costs
from snnc.runtime.cost import (FANOUT, TECHNOLOGIES, Technology, build_report, energy_uj, load_technology,
                               measure_activity, report)

from ..conftest import SPECS, TEST_SPECS

ALL_SPECS = sorted(SPECS.glob("*.yaml")) + sorted((TEST_SPECS / "valid").glob("*.yaml"))

# Three layers whose firing is forced by the weights set in the tests: conv1 → IF → conv2 → IF → fc → IF.
TINY = """
name: tiny
input: {shape: [1, 4, 4]}
task: {kind: classification, classes: 5}
timesteps: 4
encoding: ENCODING
neuron: {model: if, threshold: 1.0, reset: subtract}
layers:
  - {name: conv1, kind: conv2d, out_channels: 2, kernel_size: 3, padding: PAD, bias: false}
  - {name: lif1, kind: spike}
  - {name: conv2, kind: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  - {name: lif2, kind: spike}
  - {name: flatten, kind: flatten}
  - {name: fc, kind: linear, out_features: 5}
  - {name: lif3, kind: spike}
"""
T = 4
# Fan-out of a 3×3, padding-1 convolution over a 4×4 map, summed over the map: corners feed 2×2 output
# positions, edges 2×3, the inner four 3×3 → 4·4 + 8·6 + 4·9 = 100 (per output channel).
COVER_4X4 = 100


def tiny(encoding: str = "direct", pad: int = 1) -> str:
    return TINY.replace("ENCODING", encoding).replace("PAD", str(pad))


def _zero_then(module, **values) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
        module.conv1.weight[0, 0, 1, 1] = values.get("w1", 2.0)
        module.conv2.bias[0] = values.get("b2", 2.0)


# --- static costs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.stem)
def test_static_costs_match_the_lowered_module(path):
    """Params counted on the torch module and MACs = FlopCounterMode flops / 2 (conv and linear only), per node."""
    graph = snnc.build_graph(path)
    costs = graph_costs(graph)
    with torch.device("meta"):  # no weights allocated, no arithmetic done: size does not matter
        ann = snnc.compile(path).eval()  # eval: a batch of one through batch-norm on 1×1 maps (ghostnet at 32)
    with FlopCounterMode(display=False) as counter:
        ann(torch.empty(1, *graph.input.shape, device="meta"))
    flops = counter.get_flop_counts()
    prefix = type(ann).__name__
    assert sum(p.numel() for p in ann.parameters()) == sum(c.params for c in costs.values())
    assert sum(flops["Global"].values()) // 2 == sum(c.macs for c in costs.values())
    for node in graph.nodes:
        if node.kind in ("conv2d", "linear", "batchnorm"):
            module = ann.get_submodule(node.name)
            assert sum(p.numel() for p in module.parameters()) == costs[node.name].params, node.name
        if node.kind in FANOUT:
            assert sum(flops[f"{prefix}.{node.name}"].values()) // 2 == costs[node.name].macs, node.name


def _zoo_or_local(zoo: str, local: str) -> Path:
    return SPECS / zoo if (SPECS / zoo).exists() else TEST_SPECS / "valid" / local


def test_vgg16_cifar_against_published_figures():
    """≈14.7 M params, 313.2 M MACs; the seed table's 14.79 M / 317.0 M "FLOPs" (which include extra head and
    element-wise work) are within 1.5 %."""
    costs = graph_costs(snnc.build_graph(_zoo_or_local("vgg16.yaml", "cost_vgg16_cifar.yaml")))
    params, macs = sum(c.params for c in costs.values()), sum(c.macs for c in costs.values())
    assert 14_700_000 <= params <= 14_750_000 and abs(params / 14.79e6 - 1) < 0.01
    assert macs == 313_196_544 + 5_120  # 13 convs + the 512→10 classifier
    assert abs(macs / 317.0e6 - 1) < 0.015


def test_resnet18_imagenet_against_torchvision():
    costs = graph_costs(snnc.build_graph(_zoo_or_local("resnet18.yaml", "cost_resnet18_imagenet.yaml")))
    assert sum(c.params for c in costs.values()) == 11_689_512
    macs = sum(c.macs for c in costs.values())
    assert macs == 1_814_073_344 and abs(macs / 1.82e9 - 1) < 0.01


# --- SOPs on known spikes -----------------------------------------------------------------------------------


def test_snn_sops_by_hand():
    """conv1 drives channel 0 of lif1 at 2 per step (IF, θ = 1): it fires every step at all 16 positions,
    channel 1 never; conv2's bias does the same to channel 0 of lif2."""
    spec = tiny()
    module = snnc.compile(spec, "snn")
    _zero_then(module)
    graph = snnc.build_graph(spec)
    rep = build_report(graph, target="snn", activity=measure_activity(module, graph, torch.ones(3, 1, 4, 4)))
    assert rep.layer("lif1").spikes == 16 * T and rep.layer("lif1").firing_rate == 0.5
    assert rep.layer("conv2").input_spikes == 16 * T and rep.layer("conv2").input_rate == 0.5
    assert rep.layer("conv2").sops == 3 * COVER_4X4 * T  # 3 output channels
    assert rep.layer("fc").sops == 16 * 5 * T  # every spike reaches 5 outputs
    assert rep.layer("lif3").spikes == 0
    assert [rep.layer(n).charged_as for n in ("conv1", "conv2", "fc")] == ["MAC", "AC", "AC"]
    conv1 = rep.layer("conv1")
    assert conv1.runs == 1 and conv1.charged_macs == 2 * 16 * 9 and "direct encoding" in conv1.reason
    assert rep.totals["sops"] == 1520 and rep.totals["charged_macs"] == 288
    assert rep.totals["energy_uj"] == pytest.approx((288 * 4.6 + 1520 * 0.9) * 1e-6)
    assert rep.totals["ann_energy_uj"] == pytest.approx(rep.totals["macs"] * 4.6e-6)
    # The usual approximation MACs × rate × T charges the padding taps too: 864 × 0.5 × 4 > 1200.
    assert rep.layer("conv2").macs * 0.5 * T > rep.layer("conv2").sops
    same = report(spec, target="snn", model=module, data=[(torch.ones(2, 1, 4, 4), torch.zeros(2).long())])
    assert same.totals == rep.totals and same.weights == "trained" and same.accuracy == 1.0


@pytest.mark.parametrize("pad, expected", [(1, 2 * COVER_4X4 * T), (0, 2 * 2 * 2 * 9 * T)])
def test_rate_encoded_input_is_charged_as_ac(pad, expected):
    """Rate coding with gain 1 of an all-ones image spikes at every pixel and step; without padding every tap
    sees a spike, so SOPs = MACs × T exactly."""
    spec = tiny("rate", pad)
    module = snnc.compile(spec, "snn")
    graph = snnc.build_graph(spec)
    rep = build_report(graph, target="snn", activity=measure_activity(module, graph, torch.ones(2, 1, 4, 4)))
    conv1 = rep.layer("conv1")
    assert conv1.charged_as == "AC" and conv1.input_rate == 1.0 and conv1.sops == expected
    if pad == 0:
        assert conv1.sops == conv1.macs * T
    assert any("rate encoding" in n for n in rep.notes)


def test_burst_counts_multiplicity():
    """With θ = 0.5 and a current of 2 (v_init = θ/2), lif1 fires a burst of 4 every step; with θ = 0.5 and a
    bias of 1, lif2 fires bursts of 2. Each spike of a burst counts."""
    from snnc.compiler.targets.burst import convert

    spec = tiny()
    ann = snnc.compile(spec).eval()
    _zero_then(ann, b2=1.0)
    x = torch.ones(3, 1, 4, 4)
    burst = convert(ann, x, timesteps=T)
    for name in ("lif1", "lif2"):
        burst.neurons()[name].threshold.fill_(0.5)
    graph = snnc.build_graph(spec)
    rep = build_report(graph, target="burst", activity=measure_activity(burst, graph, x, target="burst"))
    assert rep.layer("lif1").spikes == 4 * 16 * T and rep.layer("lif1").firing_rate == 2.0
    assert rep.layer("conv2").input_spikes == 4 * 16 * T
    assert rep.layer("conv2").sops == 4 * 3 * COVER_4X4 * T
    assert rep.layer("fc").sops == 2 * 16 * 5 * T
    assert any("burst of k spikes counts k" in n for n in rep.notes)


def test_measuring_leaves_the_module_as_it_was():
    spec = tiny()
    module = snnc.compile(spec, "snn").train()
    measure_activity(module, snnc.build_graph(spec), [torch.ones(2, 1, 4, 4)], timesteps=2)
    assert module.training and module.timesteps == T and not module.record
    assert not module.conv2._forward_pre_hooks and not module.fc._forward_pre_hooks


def test_real_inputs_are_charged_as_macs_every_step():
    """resnet_tiny: the stem sees the image (once), fc sees a global average of spikes (every step)."""
    rep = build_report(snnc.build_graph(TEST_SPECS / "valid" / "resnet_tiny.yaml"), target="snn",
                       assume_rate=0.1)
    stem, fc = rep.layer("stem"), rep.layer("fc")
    assert (stem.charged_as, stem.runs, fc.charged_as, fc.runs) == ("MAC", 1, "MAC", rep.timesteps)
    assert fc.reason.startswith("real input from global_avgpool")
    assert rep.layer("layer2.0.down").charged_as == "AC"
    conv = rep.layer("layer1.0.conv1")
    assert conv.sops == pytest.approx(conv.macs * 0.1 * rep.timesteps)
    assert rep.assumed_rate == 0.1 and any("ESTIMATE" in n for n in rep.notes)


# --- energy -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, mac, ac", [("45nm-fp32", 4.6, 0.9), ("45nm-int32", 3.2, 0.1),
                                           ("45nm-int8", 0.23, 0.03), ("45nm-fp16", 1.5, 0.4)])
def test_energy_presets(name, mac, ac):
    tech = load_technology(name)
    assert (tech.e_mac_pj, tech.e_ac_pj) == (mac, ac) and "Horowitz" in tech.reference
    assert energy_uj(2_000_000, 3_000_000, tech) == pytest.approx(2 * mac + 3 * ac)
    rep = report(TEST_SPECS / "valid" / "resnet_tiny.yaml", tech=name)
    assert rep.totals["energy_uj"] == pytest.approx(rep.totals["macs"] * mac * 1e-6)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_user_technology_file(tmp_path, suffix):
    table = {"name": "my-chip", "e_mac_pj": 2.0, "e_ac_pj": 0.5, "reference": "datasheet"}
    path = tmp_path / f"chip{suffix}"
    path.write_text(json.dumps(table))  # JSON is YAML too
    assert load_technology(path) == Technology("my-chip", 2.0, 0.5, "datasheet")
    rep = report(tiny(), target="snn", tech=str(path), assume_rate=0.5)
    assert rep.technology.name == "my-chip"
    assert rep.totals["energy_uj"] == pytest.approx((288 * 2.0 + (864 + 240) * 0.5 * T * 0.5) * 1e-6)


def test_bad_technologies(tmp_path):
    with pytest.raises(SnncError, match=r"unknown technology '45nm-fp33'.*Did you mean '45nm-fp32'"):
        load_technology("45nm-fp33")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ne_mac_pj: -1\ne_ac_pj: 0.1\nreference: r\n")
    with pytest.raises(DataError, match="e_mac_pj must be a positive number of picojoules, got -1"):
        load_technology(bad)
    bad.write_text("name: x\ne_mac_pj: 1\n")
    with pytest.raises(DataError, match="missing e_ac_pj, reference"):
        load_technology(bad)


# --- the API ------------------------------------------------------------------------------------------------


def test_static_spiking_report_says_data_is_needed():
    rep = report(SPECS / "mnist_conv.yaml", target="snn")
    assert not rep.dynamic and rep.totals["energy_uj"] is None and rep.totals["sops"] is None
    assert rep.layer("conv2").energy_uj is None and rep.layer("conv1").energy_uj == pytest.approx(172800 * 4.6e-6)
    assert any("need data" in n for n in rep.notes)
    json.dumps(rep.to_dict())


def test_report_on_a_dataset_from_an_ann_checkpoint(tmp_path):
    torch.manual_seed(0)
    path = snnc.save(snnc.compile(SPECS / "mnist_conv.yaml"), tmp_path / "ann.pt")
    for target in ("snn", "burst"):
        rep = report(SPECS / "mnist_conv.yaml", target=target, checkpoint=path, dataset="mnist-sample",
                     batches=1, batch_size=8, timesteps=4)
        assert rep.dynamic and rep.samples == 8 and rep.weights == "trained" and rep.timesteps == 4
        assert rep.layer("conv2").input_spikes == rep.layer("lif1").spikes  # nothing between them
        assert rep.layer("fc1").input_spikes == rep.layer("lif2").spikes  # through a flatten
        assert rep.totals["energy_uj"] > 0 and 0.0 <= rep.accuracy <= 1.0
        assert json.loads(json.dumps(rep.to_dict()))["totals"]["sops"] == rep.totals["sops"]


# --- the CLI ------------------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_static_json():
    result = runner.invoke(app, ["report", str(SPECS / "mnist_conv.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["target"] == "ann" and data["totals"]["macs"] == 1_411_840 and data["totals"]["params"] == 29_826
    assert data["technology"]["name"] == "45nm-fp32"
    assert [layer["charged_as"] for layer in data["layers"] if layer["macs"]] == ["MAC"] * 3


def test_cli_table_and_dynamic_json(tmp_path):
    result = runner.invoke(app, ["report", str(SPECS / "mnist_conv.yaml"), "-t", "snn"])
    assert result.exit_code == 0, result.output
    assert "total" in result.stdout and "need data" in result.stdout and "ANN energy" in result.stdout
    chip = tmp_path / "chip.yaml"
    chip.write_text("name: chip\ne_mac_pj: 1\ne_ac_pj: 0.1\nreference: test\n")
    result = runner.invoke(app, ["report", str(SPECS / "mnist_conv.yaml"), "-t", "snn", "-d", "mnist-sample",
                                 "-n", "1", "-b", "4", "-T", "3", "--tech", str(chip), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dynamic"] and data["samples"] == 4 and data["timesteps"] == 3 and data["weights"] == "untrained"
    assert data["technology"]["name"] == "chip" and data["totals"]["energy_uj"] is not None
    assert any("UNTRAINED" in n for n in data["notes"])


def test_cli_errors_are_messages():
    result = runner.invoke(app, ["report", str(SPECS / "mnist_conv.yaml"), "--tech", "7nm"])
    assert result.exit_code == 1 and "unknown technology '7nm'" in result.output
    result = runner.invoke(app, ["report", str(SPECS / "mnist_conv.yaml"), "-t", "snn", "-d", "nope"])
    assert result.exit_code == 1 and "unknown dataset 'nope'" in result.output
    result = runner.invoke(app, ["report", str(SPECS / "mnist_conv.yaml"), "-t", "snn", "-d", "cifar10"])
    assert result.exit_code == 1 and "dataset 'cifar10' has 3x32x32 images but the spec" in result.output
    assert math.isfinite(TECHNOLOGIES["45nm-fp32"].e_mac_pj)


def test_the_default_report_samples_enough_images():
    """The default measures up to 1,024 images (the old 128 left SOPs 4 % off the whole test set): on the bundled
    sample's 500 test images that is all of them, and -n/-b still limit it."""
    from snnc.runtime.cost import DEFAULT_BATCHES

    assert DEFAULT_BATCHES * 32 == 1024
    whole = report("mnist_fc", target="snn", dataset="mnist-sample")
    assert whole.samples == 500
    few = report("mnist_fc", target="snn", dataset="mnist-sample", batches=2, batch_size=16)
    assert few.samples == 32
