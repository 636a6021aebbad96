"""``snnc study run|plan|report`` through typer's test runner, with studies/quick.yaml end to end."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from snnc.cli import app

from ...conftest import REPO

runner = CliRunner()
QUICK = REPO / "studies" / "quick.yaml"
INVALID = REPO / "tests" / "studies" / "invalid"


def test_an_invalid_study_is_located_without_a_traceback(tmp_path: Path):
    bad = INVALID / "unknown_target.yaml"
    result = runner.invoke(app, ["study", "run", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    out = result.output
    assert "error: 1 problem in the study" in out
    assert f"{bad}:5:18: grid.targets[1]: unknown target 'snnn'. Did you mean 'snn'?" in out
    assert "  targets: [ann, snnn]\n" in out and "fix: targets: ann, snn, burst, mnn" in out
    assert "Traceback" not in out
    assert not (tmp_path / "out").exists()
    plan = runner.invoke(app, ["study", "plan", str(bad), "-o", str(tmp_path / "out")])
    assert plan.exit_code == 1 and "1 problem in the study" in plan.output


def test_plan_prints_one_command_per_cell(tmp_path: Path):
    out = tmp_path / "my out"
    result = runner.invoke(app, ["study", "plan", str(QUICK), "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    ids = [f"tiny_fc-{t}-mnist-sample-quick-s{s}" for t in ("ann", "snn") for s in (0, 1)]
    assert lines == [f"snnc study run {QUICK} -o '{out}' --cell {i}" for i in ids]
    assert shlex.split(lines[0])[-3:] == [str(out), "--cell", ids[0]]
    assert not out.exists()


def test_an_unknown_cell_is_refused(tmp_path: Path):
    result = runner.invoke(app, ["study", "run", str(QUICK), "-o", str(tmp_path), "--cell",
                                 "tiny_fc-ann-mnist-sample-quick-s3"])
    assert result.exit_code == 1
    assert "no cell 'tiny_fc-ann-mnist-sample-quick-s3' in the study quick. Did you mean" in result.output


def test_the_quick_study_end_to_end(tmp_path: Path):
    out = tmp_path / "q"
    result = runner.invoke(app, ["study", "run", str(QUICK), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "4 cells of quick: 4 run now, 0 already done, 0 failed" in result.output
    ann = json.loads((out / "cells" / "tiny_fc-ann-mnist-sample-quick-s0" / "results.json").read_text())["metrics"]
    snn = json.loads((out / "cells" / "tiny_fc-snn-mnist-sample-quick-s1" / "results.json").read_text())["metrics"]
    assert ann["params"] == snn["params"] == 784 * 64 + 64 + 64 * 10 + 10
    assert ann["sops"] == 0 and snn["sops"] > 0 and snn["energy_uj"] > 0
    assert {"burst_T2", "burst_T4", "burst_T8"} <= set(ann) and "burst_T2" not in snn
    assert 0 <= ann["accuracy"] <= 1 and ann["epochs_to_0.5"] in (1, None)
    again = runner.invoke(app, ["study", "run", str(QUICK), "-o", str(out), "--quiet"])
    assert "0 run now, 4 already done, 0 failed" in again.output
    report = runner.invoke(app, ["study", "report", str(out)], env={"COLUMNS": "250"})
    assert report.exit_code == 0, report.output
    lines = report.output.splitlines()
    assert lines[0] == "study quick: mean ± std over seeds"
    assert lines[1].startswith("| spec    | target | dataset      | recipe | seeds | accuracy (%) | params |")
    assert lines[3].startswith("| tiny_fc | ann    | mnist-sample | quick  | 0,1   |")
    assert lines[4].startswith("| tiny_fc | snn    | mnist-sample | quick  | 0,1   |")
    assert lines[3].endswith("| 2/2 done |") and "—" in lines[4]
    assert lines[1:5] == (out / "report" / "results.md").read_text().splitlines()[4:8]
    narrow = runner.invoke(app, ["study", "report", str(out)], env={"COLUMNS": "80"}).output.splitlines()
    assert max(len(line) for line in narrow) <= 80
    assert narrow[1] == "tiny_fc · ann · mnist-sample · quick · seeds 0,1"
    assert narrow[2].startswith("  accuracy (%)   ") and narrow[12] == "  status         2/2 done"
    for name in ("results.md", "results.json", "cells.csv", "summary.csv", "accuracy.png", "pareto.png",
                 "burst.png"):
        assert (out / "report" / name).is_file(), name


def test_help_needs_no_torch_and_shows_no_bool_placeholder():
    code = ("import sys\nfrom snnc.cli import app\n"
            "try:\n    app(['study', 'run', '--help'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    for command in (["study"], ["study", "run"], ["study", "plan"], ["study", "report"]):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0 and "--help" in result.output, command
        assert "<bool>" not in result.output, command
