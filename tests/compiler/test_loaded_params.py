"""A spec loaded with parameter values and passed on (as the trainer passes it to compile) keeps them: the
artifact records them, so it rebuilds the same network (it rebuilt the defaults, and its weights did not fit)."""

from __future__ import annotations

from pathlib import Path

import snnc

from ..conftest import REPO

TINY = REPO / "studies" / "tiny_fc.yaml"


def test_compile_of_a_loaded_spec_records_its_parameters(tmp_path: Path):
    loaded = snnc.load_spec(TINY, {"hidden": 8})
    assert loaded.overrides == {"hidden": 8}
    for target in ("ann", "snn"):
        path = tmp_path / f"{target}.pt"
        snnc.save(snnc.compile(loaded, target), path)
        back = snnc.load(path)
        assert tuple(back.state_dict()["fc1.weight"].shape) == (8, 784), target


def test_a_spec_loaded_without_parameters_records_none():
    assert snnc.load_spec(TINY).overrides == {}
    assert snnc.load_spec(TINY, {"hidden": 64}).overrides == {"hidden": 64}
