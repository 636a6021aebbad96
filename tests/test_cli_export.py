"""``snnc export`` / ``snnc import`` through typer's test runner: every target and format from the command line,
``--check`` in onnxruntime, and the messages for what cannot be exported."""

from __future__ import annotations

import re
from pathlib import Path

import nir
import onnx
import pytest
import torch
import yaml
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.export.onnx import read_metadata

runner = CliRunner()
SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture(scope="module")
def ann_artifact(tmp_path_factory):
    """A mnist_fc ann artifact whose weights fire as an snn (scaled), as 'snnc compile -o' writes it."""
    folder = tmp_path_factory.mktemp("cli_export")
    torch.manual_seed(0)
    ann = snnc.compile(SPECS / "mnist_fc.yaml", "ann")
    with torch.no_grad():
        for name, p in ann.named_parameters():
            if name.endswith("weight"):
                p.mul_(4.0)
    return snnc.save(ann, folder / "fc_ann.pt")


@pytest.mark.parametrize("target,form", [("ann", "unrolled"), ("snn", "unrolled"), ("snn", "step"),
                                         ("burst", "unrolled"), ("burst", "step")])
def test_export_every_target_with_check(target, form, ann_artifact, tmp_path):
    out = tmp_path / "m.onnx"
    args = ["export", str(SPECS / "mnist_fc.yaml"), "-t", target, "-c", str(ann_artifact), "-o", str(out),
            "--form", form, "-T", "6", "--check"]
    if target == "burst":
        args += ["--calibration", "mnist-sample:64"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "max abs diff" in result.output
    if target != "ann":
        assert re.search(r"spikes identical\s*│\s*True", result.output)
    onnx.checker.check_model(onnx.load(str(out)))
    assert read_metadata(out)["snnc.target"] == target


@pytest.mark.mnn
def test_export_mnn_is_refused_with_the_alternative(tmp_path):
    pytest.importorskip("memtorch", reason="the mnn target needs MemTorch (the 'mnn' extra)")
    import snnc

    snnc.save(snnc.compile(SPECS / "mnist_fc.yaml"), tmp_path / "ann.pt")
    result = runner.invoke(app, ["export", str(SPECS / "mnist_fc.yaml"), "-t", "mnn", "-c", str(tmp_path / "ann.pt"),
                                 "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1
    assert "layer 'fc1'" in result.output and "MemTorch" in result.output and "--target ann" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_export_nir_names_every_blocker_in_one_error(tmp_path):
    result = runner.invoke(app, ["export", str(SPECS / "mnist_conv.yaml"), "-t", "snn", "-f", "nir",
                                 "-o", str(tmp_path / "m.nir")])
    assert result.exit_code == 1
    assert result.output.count("error:") == 1 and "Traceback" not in result.output
    assert "error: cannot export mnist_conv to NIR: 5 nodes block it, for 2 reasons:" in result.output
    assert "  maxpool2d, 2 nodes (pool1, pool2): " in result.output and "fix: kind: avgpool2d" in result.output
    assert "  spike (reset: subtract), 3 nodes (lif1, lif2, lif3): " in result.output
    assert "fix: neuron: {reset: zero}" in result.output
    assert not (tmp_path / "m.nir").exists()


def test_export_nir_then_import_gives_a_valid_spec(tmp_path):
    data = yaml.safe_load((SPECS / "mnist_fc.yaml").read_text())
    data["neuron"]["reset"] = "zero"
    spec = tmp_path / "fc_zero.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["export", str(spec), "-t", "snn", "-f", "nir", "-o", str(tmp_path / "fc.nir")])
    assert result.exit_code == 0, result.output
    assert type(nir.read(str(tmp_path / "fc.nir")).nodes["lif1"]).__name__ == "LIF"
    result = runner.invoke(app, ["import", str(tmp_path / "fc.nir"), "-o", str(tmp_path / "back.yaml"), "-T", "9"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["validate", str(tmp_path / "back.yaml")]).exit_code == 0
    back = snnc.load(tmp_path / "back.pt")
    assert back.timesteps == 9 and torch.equal(back.fc1.weight, snnc.compile(spec, "snn").fc1.weight) is False


def test_unknown_format_and_target_suggest_the_right_one(tmp_path):
    result = runner.invoke(app, ["export", str(SPECS / "mnist_fc.yaml"), "-f", "onxx", "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "Did you mean 'onnx'" in result.output
    result = runner.invoke(app, ["export", str(SPECS / "mnist_fc.yaml"), "-t", "snnn", "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "Did you mean 'snn'" in result.output


def test_export_nir_explain_lists_every_node_and_writes_nothing(tmp_path):
    args = ["export", str(SPECS / "vgg16.yaml"), "-t", "snn", "-f", "nir", "--explain", "-p", "size=16",
            "-p", "widths=[4, 4, 4, 4, 4]"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and not list(tmp_path.iterdir())
    assert lines[0] == f"vgg16 → NIR, node by node ({SPECS / 'vgg16.yaml'}):"
    assert lines[1].split() == ["node", "op", "NIR"]
    assert any(line.startswith("features.0.layer.0.bn") and line.endswith("folded into features.0.layer.0.conv")
               for line in lines)
    assert "fix: --param reset=zero (this spec's switch), and retrain" in " ".join(" ".join(lines).split())
    assert lines[-1] == "29 of 47 nodes export; 18 block it (fix those, or export ONNX)"
    result = runner.invoke(app, [*args, "-p", "reset=zero", "-p", "pool=avg"])
    assert result.exit_code == 0 and result.output.splitlines()[-1] == "47 of 47 nodes export; the graph exports"
    assert any(line.startswith("features.0.pool") and "SumPool2d" in line for line in result.output.splitlines())


def test_export_nir_explain_needs_the_snn_target_and_export_needs_an_output():
    result = runner.invoke(app, ["export", str(SPECS / "vgg16.yaml"), "-f", "nir", "--explain"])
    assert result.exit_code == 1 and "give -t snn -f nir (got -t ann -f nir)" in result.output
    result = runner.invoke(app, ["export", str(SPECS / "vgg16.yaml"), "-t", "snn", "-f", "nir"])
    assert result.exit_code == 1 and "missing --output/-o" in result.output


def test_export_nir_of_a_switched_spec_checks_in_snntorch(tmp_path):
    out = tmp_path / "r.nir"
    result = runner.invoke(app, ["export", str(SPECS / "resnet18.yaml"), "-t", "snn", "-f", "nir", "-o", str(out),
                                 "--check", "-T", "2", "-p", "reset=zero", "-p", "stem=cifar", "-p", "size=8",
                                 "-p", "width=4", "-p", "classes=10", "-p", "depths=[1, 1, 1, 1]"])
    assert result.exit_code == 0, result.output
    assert re.search(r"spikes identical\s*│\s*True", result.output) and "batchnorms folded" in result.output
    assert {("layer1_conv2", "layer1_sn2"), ("sn1", "layer1_sn2")} <= set(nir.read(str(out)).edges)
