"""Running a study: resume after an interruption (finished cells never run again), a cell that continues from
its checkpoint, a failing cell recorded while the others finish, and a changed study file refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnc.compiler.errors import SnncError
from snnc.runtime.study import load_study
from snnc.runtime.study.runner import cell_dir, run_study
from snnc.runtime.train import train

from ...conftest import REPO

RECIPE = "{epochs: 1, batch_size: 32, lr: 5.0e-3, limit_train: 64, limit_test: 32, val_fraction: 0, plots: false}"


def write_study(folder: Path, *, hidden: str = "8", seeds: str = "[0]", datasets: str = "[mnist-sample]",
                recipe: str = RECIPE) -> Path:
    """A study of the tiny spec as an ann, one epoch on 64 images (a cell takes well under a second)."""
    (folder / "tiny_fc.yaml").write_text((REPO / "studies" / "tiny_fc.yaml").read_text())
    path = folder / "study.yaml"
    path.write_text(f"study: t\ngrid:\n  specs: [{{spec: tiny_fc.yaml, params: {{hidden: {hidden}}}}}]\n"
                    f"  targets: [ann]\n  datasets: {datasets}\n  recipes: [{recipe}]\n  seeds: {seeds}\n"
                    "measure: [accuracy, params, seconds_per_epoch, {epochs_to: 0.01}]\n")
    return path


def status(out: Path, cell) -> dict:
    return json.loads((cell_dir(out, cell) / "cell.json").read_text())


def test_an_interrupted_study_continues_and_never_reruns_a_finished_cell(tmp_path: Path):
    loaded = load_study(write_study(tmp_path, seeds="[0, 1, 2]"))
    out = tmp_path / "out"
    first = loaded.cells[0]

    def stop(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(loaded, out, verbose=False, on_cell_end=stop)
    assert status(out, first)["status"] == "done"
    assert not (cell_dir(out, loaded.cells[1]) / "cell.json").exists()
    kept = {name: (cell_dir(out, first) / name).stat().st_mtime_ns for name in ("results.json", "best.pt",
                                                                                "cell.json")}
    started = []
    outcomes = run_study(loaded, out, verbose=False, on_cell_start=lambda cell: started.append(cell.id))
    assert started == [c.id for c in loaded.cells[1:]]
    assert [o.status for o in outcomes] == ["skipped", "done", "done"]
    assert {name: (cell_dir(out, first) / name).stat().st_mtime_ns for name in kept} == kept
    started.clear()
    assert [o.status for o in run_study(loaded, out, verbose=False, on_cell_start=lambda c: started.append(c))] \
        == ["skipped"] * 3
    assert started == []


def test_a_cell_stopped_midway_continues_from_its_last_checkpoint(tmp_path: Path):
    loaded = load_study(write_study(tmp_path, recipe=RECIPE.replace("epochs: 1", "epochs: 2")))
    cell, out = loaded.cells[0], tmp_path / "out"
    run = cell_dir(out, cell)
    settings = {**cell.train_settings(), "epochs": 1}  # as if stopped after its first epoch
    done = train(cell.spec_path, run_dir=run, progress=False, **settings)
    (run / "cell.json").write_text(json.dumps({"id": cell.id, "status": "running", "fingerprint": cell.fingerprint()}))
    [outcome] = run_study(loaded, out, verbose=False)
    assert outcome.status == "done", outcome.error
    results = json.loads((run / "results.json").read_text())
    assert [p["epoch"] for p in results["curve"]] == [1, 2]
    assert results["curve"][0]["train"] == done.epochs[0]["train"]["accuracy"]


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path: Path):
    loaded = load_study(write_study(tmp_path, hidden="[8, 0, 4]"))
    out = tmp_path / "out"
    outcomes = run_study(loaded, out, verbose=False)
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    bad = status(out, loaded.cells[1])
    assert bad["status"] == "failed"
    assert "layers[1].out_features: input should be greater than 0 (got 0)" in bad["error"]
    assert "tiny_fc.yaml:14:45" in bad["error"]
    assert json.loads((cell_dir(out, loaded.cells[2]) / "results.json").read_text())["metrics"]["params"] == \
        784 * 4 + 4 + 4 * 10 + 10
    started = []
    assert [o.status for o in run_study(loaded, out, verbose=False, on_cell_start=started.append)] == \
        ["skipped", "failed", "skipped"]
    assert started == []
    assert [o.status for o in run_study(loaded, out, verbose=False, retry_failed=True,
                                        on_cell_start=started.append)] == ["skipped", "failed", "skipped"]
    assert [c.id for c in started] == [loaded.cells[1].id]


def test_a_missing_dataset_fails_its_cells_alone(tmp_path: Path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    datasets = f"[mnist-sample, {{name: mnist, data_dir: {empty}}}]"
    loaded = load_study(write_study(tmp_path, datasets=datasets))
    outcomes = run_study(loaded, tmp_path / "out", verbose=False)
    assert [(o.cell.dataset, o.status) for o in outcomes] == [("mnist-sample", "done"), ("mnist", "failed")]
    assert "train-images-idx3-ubyte" in outcomes[1].error


def test_a_study_changed_under_its_finished_cells_is_refused(tmp_path: Path):
    path = write_study(tmp_path)
    out = tmp_path / "out"
    run_study(load_study(path), out, verbose=False)
    path.write_text(path.read_text().replace("lr: 5.0e-3", "lr: 1.0e-3"))
    started = []
    with pytest.raises(SnncError, match=r"1 cell\(s\) in .* were run with other settings.*settings"):
        run_study(load_study(path), out, verbose=False, on_cell_start=started.append)
    assert started == []


def test_cells_run_one_by_one_share_the_study_folder(tmp_path: Path):
    loaded = load_study(write_study(tmp_path, seeds="[0, 1]"))
    out = tmp_path / "out"
    for cell in reversed(loaded.cells):
        [outcome] = run_study(loaded, out, cells=[cell.id], verbose=False)
        assert outcome.status == "done"
    plan = json.loads((out / "study.json").read_text())
    assert [c["id"] for c in plan["cells"]] == [c.id for c in loaded.cells]
    assert (out / "study.yaml").read_text() == loaded.source.text
