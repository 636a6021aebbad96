"""The study file's schema: every file in tests/studies/invalid/ fails with the location and message its header
states, all problems come at once, and valid files fill in their defaults.

Header format (first lines of each invalid file), as for invalid specs: ``# expect: LINE:COL PATH | MESSAGE``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from snnc.compiler.errors import SpecError, format_path
from snnc.runtime.study import StudyError, load_study

from ...conftest import REPO, expectations

INVALID = REPO / "tests" / "studies" / "invalid"
CASES = sorted(INVALID.glob("*.yaml"))


def test_corpus_is_broad():
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_invalid_study_is_located(path: Path):
    with pytest.raises(StudyError, match=r"problems? in the study") as info:
        load_study(path)
    diags = info.value.diagnostics
    for line, col, spath, message in expectations(path):
        matching = [d for d in diags if message in d.message]
        assert matching, f"no diagnostic says {message!r}; got: " + "; ".join(d.message for d in diags)
        d = matching[0]
        assert (d.line, d.column) == (line, col), d.render()
        assert d.file == str(path)
        if spath:
            assert format_path(d.path) == spath, d.render()
        assert d.source_line == path.read_text().splitlines()[line - 1]


def test_a_study_error_is_a_spec_error_said_of_the_study():
    with pytest.raises(SpecError) as info:
        load_study(INVALID / "unknown_target.yaml")
    assert getattr(info.value, "subject") == "study"
    assert str(info.value).startswith("1 problem in the study:\n")
    assert "grid.targets[1]: unknown target 'snnn'. Did you mean 'snn'?" in str(info.value)


def test_an_invalid_spec_brings_its_own_located_problems():
    with pytest.raises(StudyError) as info:
        load_study(INVALID / "spec_invalid.yaml")
    spec = str(INVALID / "specs" / "broken.yaml")
    inner = [d for d in info.value.diagnostics if d.file == spec]
    assert [(d.line, format_path(d.path)) for d in inner] == [(4, "layers[0].out_features"),
                                                              (4, "layers[0].out_featurs")]


def test_every_problem_of_the_registries_is_reported_at_once(tmp_path: Path):
    study = tmp_path / "many.yaml"
    study.write_text("study: many\ngrid:\n  specs: [mnist_fc, {spec: mnist_fc, params: {x: [1]}}]\n"
                     "  targets: [ann, snnn]\n  datasets: [mnist-smaple]\n  recipes: [{lrr: 1}]\n")
    with pytest.raises(StudyError, match="4 problems in the study") as info:
        load_study(study)
    assert [format_path(d.path) for d in info.value.diagnostics] == [
        "grid.specs[1].params.x", "grid.targets[1]", "grid.datasets[0]", "grid.recipes[0].lrr"]


def test_missing_file():
    with pytest.raises(StudyError, match="no study file at 'nowhere.yaml'"):
        load_study("nowhere.yaml")


def test_shorthands_and_defaults(tmp_path: Path):
    (tmp_path / "net.yaml").write_text((REPO / "studies" / "tiny_fc.yaml").read_text())
    study = tmp_path / "s.yaml"
    study.write_text("study: s\ngrid:\n  specs: [net.yaml]\n  targets: [snn]\n  seeds: 3\n")
    loaded = load_study(study)
    grid = loaded.study.grid
    assert grid.specs[0].spec == "net.yaml" and grid.targets[0].name == "snn"
    assert [d.name for d in grid.datasets] == ["mnist-sample"] and grid.seeds == [3]
    assert [m.kind for m in loaded.study.measure] == ["accuracy", "params", "macs", "sops", "energy",
                                                      "seconds_per_epoch"]
    assert [c.id for c in loaded.cells] == ["tiny_fc-snn-mnist-sample-default-s3"]
    assert loaded.cells[0].spec_path == str(tmp_path / "net.yaml")
    assert loaded.technology == "45nm-fp32"


def test_measures_with_values_are_merged_and_sorted(tmp_path: Path):
    study = tmp_path / "s.yaml"
    study.write_text("study: s\ngrid: {specs: [mnist_fc], targets: [ann]}\n"
                     "measure: [accuracy, {epochs_to: [0.9, 0.5]}, {epochs_to: 0.95}, {burst_T: 8}, "
                     "{burst_T: [2, 8]}]\n")
    study_model = load_study(study).study
    assert study_model.values_of("epochs_to") == (0.5, 0.9, 0.95)
    assert study_model.values_of("burst_T") == (2, 8)
    assert study_model.wants("accuracy") and not study_model.wants("energy")


def test_the_quick_study_is_valid():
    loaded = load_study(REPO / "studies" / "quick.yaml")
    assert len(loaded.cells) == 4
    assert {c.target for c in loaded.cells} == {"ann", "snn"}
