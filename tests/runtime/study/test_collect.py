"""The collector on hand-made study folders: mean ± sample std over seeds, failed and pending cells, the files and
plots of the report, the Pareto front."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from snnc.compiler.errors import SnncError
from snnc.runtime.plots import PNG_MAGIC
from snnc.runtime.study.collect import collect, columns_of, stats
from snnc.runtime.study.plots import pareto_front
from snnc.runtime.study.table import format_stat, markdown, summary_rows, write_report

MEASURES = [{"kind": "accuracy", "values": []}, {"kind": "params", "values": []},
            {"kind": "energy", "values": []}, {"kind": "epochs_to", "values": [0.9]},
            {"kind": "burst_T", "values": [4]}]


def cell(group: str, seed: int, target: str) -> dict:
    return {"id": f"{group}-s{seed}", "group": group, "spec_label": "net", "params": {"hidden": 8},
            "target_label": target, "dataset_label": "mnist-sample", "recipe": "quick", "seed": seed}


def make_folder(tmp_path: Path, cells: list[tuple[dict, str, dict]]) -> Path:
    """A study folder: study.json and, per cell, cell.json (status) and results.json (metrics)."""
    out = tmp_path / "study"
    plan = {"study": "hand", "description": "made by hand", "measures": MEASURES, "cells": [c for c, _, _ in cells]}
    out.mkdir()
    (out / "study.json").write_text(json.dumps(plan))
    for c, state, metrics in cells:
        run = out / "cells" / c["id"]
        run.mkdir(parents=True)
        if state == "pending":
            continue
        (run / "cell.json").write_text(json.dumps({"id": c["id"], "status": state,
                                                   "error": "DataError: no files" if state == "failed" else ""}))
        if state == "done":
            curve = [{"epoch": 1, "train": 0.5, "val": 0.6, "seconds": 1.0},
                     {"epoch": 2, "train": 0.7, "val": metrics["accuracy"], "seconds": 1.0}]
            (run / "results.json").write_text(json.dumps({"cell": c["id"], "metrics": metrics, "curve": curve}))
    return out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    ann, snn = "net-hidden=8-ann-mnist-sample-quick", "net-hidden=8-snn-mnist-sample-quick"
    return make_folder(tmp_path, [
        (cell(ann, 0, "ann"), "done", {"accuracy": 0.90, "params": 6370, "energy_uj": 0.030, "epochs_to_0.9": 2,
                                       "burst_T4": 0.80, "burst_ann": 0.9}),
        (cell(ann, 1, "ann"), "done", {"accuracy": 0.94, "params": 6370, "energy_uj": 0.030, "epochs_to_0.9": None,
                                       "burst_T4": 0.84, "burst_ann": 0.94}),
        (cell(ann, 2, "ann"), "done", {"accuracy": 0.92, "params": 6370, "energy_uj": 0.030, "epochs_to_0.9": 2,
                                       "burst_T4": 0.82, "burst_ann": 0.92}),
        (cell(snn, 0, "snn"), "done", {"accuracy": 0.80, "params": 6370, "energy_uj": 0.010, "epochs_to_0.9": None}),
        (cell(snn, 1, "snn"), "failed", {}),
        (cell(snn, 2, "snn"), "pending", {}),
    ])


def test_mean_and_sample_std_over_the_seeds(folder: Path):
    results = collect(folder)
    ann, snn = results.groups
    assert ann.stats["accuracy"]["mean"] == pytest.approx(0.92)
    assert ann.stats["accuracy"]["std"] == pytest.approx(0.02)  # sample std of 0.90, 0.94, 0.92
    assert ann.stats["accuracy"]["n"] == 3
    assert ann.stats["epochs_to_0.9"] == {"mean": 2.0, "std": 0.0, "n": 2}
    assert snn.stats["accuracy"] == {"mean": 0.80, "std": None, "n": 1}
    assert snn.stats["burst_T4"]["n"] == 0
    assert ann.status == "3/3 done"
    assert snn.status == "1/3 done, 1 failed: DataError: no files"
    assert [c["status"] for c in snn.cells] == ["done", "failed", "pending"]


def test_the_table_says_mean_std_and_what_is_missing(folder: Path):
    headers, rows = summary_rows(collect(folder))
    assert headers == ["spec", "target", "dataset", "recipe", "seeds", "accuracy (%)", "params", "energy (μJ)",
                       "epochs to 90%", "burst T=4 (%)", "status"]
    assert rows[0] == ["net hidden=8", "ann", "mnist-sample", "quick", "0,1,2", "92.00 ± 2.00", "6,370", "0.03",
                       "2.0 ± 0.0 (2/3 reached)", "82.00 ± 2.00", "3/3 done"]
    assert rows[1][5:] == ["80.00", "6,370", "0.01", "never", "—", "1/3 done, 1 failed: DataError: no files"]


def test_markdown_lists_failed_cells_with_their_error(folder: Path):
    text = markdown(collect(folder))
    assert text.startswith("# Study hand\n\nmade by hand\n\n| spec ")
    assert "| net hidden=8 | ann    |" in text
    assert "## Failed cells\n\n- `net-hidden=8-snn-mnist-sample-quick-s1`: DataError: no files\n" in text


def test_report_files(folder: Path):
    paths = write_report(collect(folder))
    assert {p.name for p in paths.values()} == {"results.json", "cells.csv", "summary.csv", "results.md",
                                               "accuracy.png", "pareto.png", "burst.png"}
    assert all(p.parent == folder / "report" for p in paths.values())
    for key in ("accuracy_plot", "pareto_plot", "burst_plot"):
        assert paths[key].read_bytes().startswith(PNG_MAGIC)
    cells = list(csv.DictReader(io.StringIO(paths["cells_csv"].read_text())))
    assert [c["status"] for c in cells] == ["done"] * 4 + ["failed", "pending"]
    assert cells[1]["accuracy"] == "0.94" and cells[1]["epochs_to_0.9"] == ""
    summary = list(csv.DictReader(io.StringIO(paths["summary_csv"].read_text())))
    assert float(summary[0]["accuracy_std"]) == pytest.approx(0.02)
    assert summary[1]["done"] == "1" and summary[1]["cells"] == "3"
    data = json.loads(paths["json"].read_text())
    assert data["groups"][0]["stats"]["accuracy"]["n"] == 3
    assert len(data["cells"]) == 6


def test_plots_without_their_data_are_not_written(tmp_path: Path):
    c = cell("net-ann", 0, "ann")
    out = make_folder(tmp_path, [(c, "failed", {})])
    paths = write_report(collect(out))
    assert not any(k.endswith("_plot") for k in paths)


def test_not_a_study_folder(tmp_path: Path):
    with pytest.raises(SnncError, match="holds no study"):
        collect(tmp_path)


def test_stats_and_formats():
    assert stats([1, None, 3, float("nan")]) == {"mean": 2.0, "std": math.sqrt(2), "n": 2}
    assert stats([]) == {"mean": None, "std": None, "n": 0}
    [acc, params, energy, epochs, burst] = columns_of(MEASURES)
    assert format_stat(acc, {"mean": 0.5, "std": 0.01, "n": 2}, 2) == "50.00 ± 1.00"
    assert format_stat(params, {"mean": 1234.0, "std": 0.0, "n": 2}, 2) == "1,234"
    assert format_stat(energy, {"mean": 0.123456, "std": 0.001, "n": 2}, 2) == "0.1235 ± 0.001"
    assert format_stat(epochs, {"mean": None, "std": None, "n": 0}, 2) == "never"
    assert format_stat(burst, {"mean": None, "std": None, "n": 0}, 0) == "—"


def test_pareto_front():
    points = [(1.0, 80.0), (2.0, 90.0), (3.0, 85.0), (0.5, 70.0), (2.0, 88.0), (4.0, 95.0)]
    assert pareto_front(points) == [3, 0, 1, 5]
