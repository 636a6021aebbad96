"""The check tables of ``snnc export --check``: titled by what each compares, with only the rows that apply."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from snnc.cli import app

runner = CliRunner()
SPECS = Path(__file__).resolve().parents[1] / "specs"


def _flat(text: str) -> str:
    """The output with whitespace collapsed (rich wraps a title wider than its table)."""
    return " ".join(text.split())


def _rows(text: str) -> dict[str, str]:
    """The table's rows that start a check: ``{check: result}`` (in order)."""
    cells = [line.split("│")[1:3] for line in text.splitlines() if line.count("│") == 3]
    return {check.strip(): result.strip() for check, result in cells if check.strip()}


def test_ann_onnx_check_shows_no_spike_rows(tmp_path):
    result = runner.invoke(app, ["export", str(SPECS / "mnist_fc.yaml"), "-t", "ann", "-o", str(tmp_path / "m.onnx"),
                                 "--check"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime against PyTorch" in _flat(result.output)
    assert list(_rows(result.output)) == ["target", "form", "samples", "max abs diff"]


def test_burst_onnx_check_shows_the_spike_rows(tmp_path):
    import snnc

    snnc.save(snnc.compile(SPECS / "mnist_fc.yaml"), tmp_path / "ann.pt")
    result = runner.invoke(app, ["export", str(SPECS / "mnist_fc.yaml"), "-t", "burst", "-c", str(tmp_path / "ann.pt"),
                                 "--calibration", "mnist-sample:64", "-T", "6", "-o", str(tmp_path / "m.onnx"),
                                 "--check"])
    assert result.exit_code == 0, result.output
    assert "onnxruntime against PyTorch" in _flat(result.output)
    rows = _rows(result.output)
    assert rows["target"] == "burst" and rows["timesteps"] == "6"
    assert (rows["spikes identical"], rows["spike mismatches"], rows["spike mismatch fraction"]) == ("True", "0", "0")


def test_nir_check_is_titled_by_what_it_compares(tmp_path):
    data = yaml.safe_load((SPECS / "mnist_fc.yaml").read_text())
    data["neuron"]["reset"] = "zero"
    spec = tmp_path / "fc_zero.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["export", str(spec), "-t", "snn", "-f", "nir", "-o", str(tmp_path / "fc.nir"),
                                 "--check"])
    assert result.exit_code == 0, result.output
    assert "snnTorch's import_from_nir against the model" in _flat(result.output)
    assert "onnxruntime" not in result.output
