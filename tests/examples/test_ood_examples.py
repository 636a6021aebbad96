"""Smoke runs of the out-of-distribution reproductions (``--quick``, bundled sample): tables, JSON and plots appear.

The quick runs train for two epochs on 2,000 images, so their accuracies mean nothing; the point is the pipeline
(every method of each table on the ann and snn targets, both selection protocols, the reports).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from snnc.runtime.plots import is_png

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_report_b_quick(tmp_path):
    payload = example("ood_report_b").main(["--quick", "--out", str(tmp_path)])
    assert set(payload["table1"]) == {"None", "IRM", "Similarity 1", "Similarity 2", "None (ann)",
                                      "IRM (ann, paper recipe)"}
    assert set(payload["gaps"]) == {"10/20", "5/25", "2.5/27.5", "0/30"}
    run = payload["table1"]["IRM"][0]
    assert set(run["selection"]) == {"oracle", "val", "last"} and len(run["history"]) == 2
    assert "penalty" in run["history"][-1] and set(run["history"][-1]["train_acc"]) == {0, 1}
    tables = (tmp_path / "tables.md").read_text()
    assert "Similarity 2" in tables and "oracle" in tables and "gap 0/30" in tables
    assert json.loads((tmp_path / "results.json").read_text())["table1"]
    assert is_png(tmp_path / "curves_table1.png") and is_png(tmp_path / "curves_gaps.png")


@pytest.mark.slow
def test_report_a_quick(tmp_path):
    payload = example("ood_report_a").main(["--quick", "--out", str(tmp_path)])
    assert set(payload["results"]) == {"Origin", "Balanced", "SNN", "DANN1", "DANN2"}
    dann = payload["results"]["DANN2"][0]["history"][-1]
    assert {"alpha", "domain_loss_source", "domain_loss_target", "class_loss"} <= set(dann)
    tables = (tmp_path / "tables.md").read_text()
    assert "MNN-noise" in tables and "| 1 |" in tables
    assert is_png(tmp_path / "curves.png")


def test_selection_protocols_on_a_hand_made_history():
    common = example("ood_common")
    history = [
        {"epoch": 1, "train_mean": 0.85, "val_mean": 0.84, "test_mean": 0.10},
        {"epoch": 2, "train_mean": 0.72, "val_mean": 0.70, "test_mean": 0.65},
        {"epoch": 3, "train_mean": 0.65, "val_mean": 0.66, "test_mean": 0.71},
    ]
    sel = common.select(history)
    assert sel["oracle"]["epoch"] == 2 and sel["oracle"]["qualified"]  # epoch 3 is below 70% train
    assert sel["val"]["epoch"] == 1 and sel["val"]["test"] == 0.10     # the honest pick can be the shortcut
    assert sel["last"]["epoch"] == 3
    assert common.fmt([0.7, 0.8]) == "75.0 ± 5.0" and common.fmt([0.8], 0.75).endswith("⚠")
    assert not common.fmt([0.8]).endswith("⚠")
