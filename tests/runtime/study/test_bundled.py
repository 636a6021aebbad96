"""The bundled studies (studies/*.yaml) are runnable from a fresh clone: every file validates, and every cell's
network is valid at its parameters and takes its dataset's images (checked without training anything), so a
``snnc study run`` of a bundled study cannot fail on its own settings hours into the run."""

from __future__ import annotations

import pytest
import yaml

from snnc.compiler.pipeline import build_graph
from snnc.runtime.data.fit import check_fits
from snnc.runtime.study import load_study

from ...conftest import REPO

STUDY_FILES = [p for p in sorted((REPO / "studies").glob("*.yaml")) if "study" in yaml.safe_load(p.read_text())]
"""The study files among studies/*.yaml (the others, such as tiny_fc.yaml, are the specs they use)."""


def test_the_seed_studies_are_bundled():
    names = {p.stem for p in STUDY_FILES}
    assert {"quick", "seed001_cnn_vs_snn", "seed002_backbones", "seed004_conversion", "seed004_unet"} <= names


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_every_cell_of_a_bundled_study_is_valid(path):
    loaded = load_study(path)
    assert loaded.cells, f"{path.name} has no cells"
    for cell in loaded.cells:
        graph = build_graph(cell.spec_path, dict(cell.params))
        check_fits(graph, cell.dataset)
        assert graph.task.kind in ("classification", "segmentation")
