"""Expanding a study's grid: every combination once, seeds innermost, ids stable and made from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from snnc.compiler.errors import SnncError
from snnc.runtime.study import load_study
from snnc.runtime.study.grid import combinations, settings_label, token

from ...conftest import REPO

GRID = """\
study: g
grid:
  specs:
    - {spec: net.yaml, params: {hidden: [16, 32]}}
  targets: [ann, {name: snn, options: {timesteps: 4}}]
  datasets: [mnist-sample]
  recipes:
    - {name: short, epochs: 1}
    - {name: long, epochs: 3, lr: 1.0e-3}
  seeds: [0, 1]
"""


@pytest.fixture
def study(tmp_path: Path) -> Path:
    (tmp_path / "net.yaml").write_text((REPO / "studies" / "tiny_fc.yaml").read_text())
    path = tmp_path / "g.yaml"
    path.write_text(GRID)
    return path


def test_every_combination_once_seeds_innermost(study: Path):
    cells = load_study(study).cells
    assert len(cells) == 2 * 2 * 2 * 2
    assert len({c.id for c in cells}) == len(cells)
    assert [c.seed for c in cells[:4]] == [0, 1, 0, 1]
    assert cells[0].id == "tiny_fc-hidden=16-ann-mnist-sample-short-s0"
    assert cells[0].group == "tiny_fc-hidden=16-ann-mnist-sample-short"
    assert cells[2].id == "tiny_fc-hidden=16-ann-mnist-sample-long-s0"
    snn = [c for c in cells if c.target == "snn"]
    assert snn[0].id == "tiny_fc-hidden=16-snn-timesteps=4-mnist-sample-short-s0"
    assert snn[0].target_options == {"timesteps": 4}


def test_train_settings_are_the_recipe_under_the_grid(study: Path):
    cell = next(c for c in load_study(study).cells if c.recipe == "long" and c.target == "snn" and c.seed == 1)
    assert cell.train_settings() == {"epochs": 3, "lr": 1e-3, "target": "snn", "target_options": {"timesteps": 4},
                                     "dataset": "mnist-sample", "dataset_options": {}, "seed": 1,
                                     "params": {"hidden": 16}}


def test_ids_do_not_depend_on_the_other_cells(study: Path, tmp_path: Path):
    before = {c.id: c.fingerprint() for c in load_study(study).cells}
    grown = tmp_path / "grown.yaml"
    grown.write_text(GRID.replace("seeds: [0, 1]", "seeds: [2, 0, 1]").replace("[16, 32]", "[64, 16, 32]"))
    after = {c.id: c.fingerprint() for c in load_study(grown).cells}
    assert len(after) == 3 * 2 * 2 * 3
    assert all(after[k] == v for k, v in before.items())


def test_a_changed_spec_is_another_fingerprint(study: Path):
    first = load_study(study).cells[0].fingerprint()
    spec = study.parent / "net.yaml"
    spec.write_text(spec.read_text().replace("beta: 0.9", "beta: 0.8"))
    second = load_study(study).cells[0].fingerprint()
    assert first["spec_sha256"] != second["spec_sha256"]
    assert {k: v for k, v in first.items() if k != "spec_sha256"} == \
        {k: v for k, v in second.items() if k != "spec_sha256"}


def test_select_and_unknown_cells(study: Path):
    loaded = load_study(study)
    ids = [loaded.cells[3].id, loaded.cells[1].id]
    assert [c.id for c in loaded.select(ids)] == [loaded.cells[1].id, loaded.cells[3].id]
    assert loaded.select(None) == loaded.cells
    with pytest.raises(SnncError, match=r"no cell 'tiny_fc-hidden=16-ann-mnist-sample-short-s7'.*Did you mean"):
        loaded.select(["tiny_fc-hidden=16-ann-mnist-sample-short-s7"])


def test_the_same_spec_twice_is_an_error(tmp_path: Path):
    path = tmp_path / "twice.yaml"
    path.write_text("study: t\ngrid:\n  specs: [mnist_fc, mnist_fc]\n  targets: [ann]\n")
    with pytest.raises(SnncError, match="spec 'mnist_fc' with these parameter values is in the grid twice"):
        load_study(path)


def test_tokens_and_labels():
    assert [token(v) for v in (32, 0.001, True, "a b", [1, 2])] == ["32", "0.001", "true", "a_b", "1_2"]
    assert settings_label("snn", {"timesteps": 4, "tbptt": None}) == "snn-timesteps=4-tbptt=null"
    assert combinations({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert combinations({}) == [{}]
