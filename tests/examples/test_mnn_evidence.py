"""The mnn evidence script: its table and recovery arithmetic, and a smoke run (``--quick``) on the real MNIST
with the real MemTorch (its accuracies mean nothing; the point is the whole pipeline)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from snnc.runtime.data import repository_data_root

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MNIST = repository_data_root() / "mnist"


def _example():
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("mnn_evidence", EXAMPLES / "mnn_evidence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recovery_is_the_share_of_the_realistic_loss_hwa_wins_back():
    ev = _example()
    rows = [{"network": "ANN", "training": "plain", "float": 0.99, "ideal": 0.988, "realistic": 0.69,
             "realistic_seeds": [0.68, 0.70], "samples": 10000},
            {"network": "ANN", "training": "hwa", "float": 0.98, "ideal": 0.98, "realistic": 0.93,
             "realistic_seeds": [0.93, 0.93], "samples": 10000}]
    (s,) = ev.summarize(rows)
    assert s["realistic_loss_points"] == pytest.approx(30.0) and s["hwa_gain_points"] == pytest.approx(24.0)
    assert s["recovered"] == pytest.approx(0.8) and s["ideal_gap_points"] == pytest.approx(0.2)
    table = ev.markdown({"rows": rows, "summary": [s]})
    assert "| ANN | hwa | 98.00 | 98.00 | **93.00** (93.00, 93.00) | 10,000 |" in table
    assert "80 % of the loss recovered" in table


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.mnn
@pytest.mark.skipif(not MNIST.is_dir(), reason=f"real dataset not present at {MNIST}")
def test_quick_run_writes_the_table_json_and_plots(tmp_path):
    pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")
    ev = _example()
    result = ev.main(["--quick", "--quiet", "--data-dir", str(MNIST), "--out", str(tmp_path / "ev"),
                      "--plots", str(tmp_path / "img")])
    control = "plain, fine-tuned as hwa is (control)"
    assert [(r["network"], r["training"]) for r in result["rows"]] == [
        ("ANN", "plain"), ("ANN", control), ("ANN", "hwa"), ("SNN (T=3)", "plain"), ("SNN (T=3)", control),
        ("SNN (T=3)", "hwa")]
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    assert (tmp_path / "ev" / "results.md").read_text().startswith("| network | training | float |")
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["mnn_faults_plain_vs_hwa.png",
                                                                   "mnn_sweep_ann.png"]
    config = json.loads((tmp_path / "ev" / "ann_hwa" / "config.json").read_text())
    assert config["method"] == "hwa" and config["init"].endswith("ann/best.pt")
