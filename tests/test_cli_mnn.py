"""snnc mnn-sweep with the real MemTorch: a trained checkpoint swept over one non-ideality writes JSON, a markdown
table and a plot, with the float network's and the ideal devices' accuracy as references."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import snnc
from snnc.cli import app

pytestmark = pytest.mark.mnn

TINY = ("name: tiny_mnn\ninput: {shape: [1, 28, 28]}\nlayers:\n  - {kind: flatten}\n"
        "  - {name: fc1, kind: linear, out_features: 16}\n  - {name: lif1, kind: spike}\n"
        "  - {name: fc2, kind: linear, out_features: 10}\n")


def test_mnn_sweep_writes_results_table_and_plot(tmp_path):
    pytest.importorskip("memtorch", reason="the mnn target needs MemTorch (the 'mnn' extra)")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = snnc.train(spec, target="ann", epochs=1, limit_train=400, limit_test=0, val_fraction=0, progress=False,
                        plots=False, run_dir=tmp_path / "run")
    out = tmp_path / "sweep"
    cli = CliRunner().invoke(app, ["mnn-sweep", str(spec), "-c", str(result.best_checkpoint), "--axis", "adc_bits",
                                   "--limit", "64", "-o", str(out)])
    assert cli.exit_code == 0, cli.output
    data = json.loads((out / "results.json").read_text())
    assert data["axes"]["adc_bits"]["values"] == [2, 3, 4, 5, 6, 7, 8]
    assert len(data["axes"]["adc_bits"]["scores"]) == 7 and 0 <= data["float"] <= 1 and 0 <= data["ideal"] <= 1
    assert "| adc_bits | accuracy |" in (out / "results.md").read_text()
    assert (out / "sweep.png").stat().st_size > 1000
    bad = CliRunner().invoke(app, ["mnn-sweep", str(spec), "-c", str(result.best_checkpoint), "--axis", "adc_bit",
                                   "-o", str(out)])
    assert bad.exit_code == 1 and "adc_bits" in bad.output  # did-you-mean
