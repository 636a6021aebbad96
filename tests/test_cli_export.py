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
