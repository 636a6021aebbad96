"""Run directories: names, JSON/CSV metrics, and checkpoints that are never half written."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch

from snnc.compiler.errors import DataError
from snnc.compiler.artifact import Artifact
from snnc.runtime.checkpoint import capture_rng, load_checkpoint, restore_rng
from snnc.runtime.run_dir import RunDir, default_run_dir, dumps_json, records_csv


def test_default_run_dir_is_fresh(tmp_path):
    first = default_run_dir("mnist fc", "snn", tmp_path, now=0)
    assert first.parent == tmp_path and first.name.startswith("mnist_fc-snn-19")
    first.mkdir()
    second = default_run_dir("mnist fc", "snn", tmp_path, now=0)
    assert second.name == first.name + "-2"


def test_metrics_json_and_csv(tmp_path):
    run = RunDir(tmp_path / "run")
    epochs = [{"epoch": 1, "train": {"loss": 2.0, "accuracy": 0.5}, "val": {"loss": float("nan"), "accuracy": 0.4}},
              {"epoch": 2, "train": {"loss": 1.0, "accuracy": 0.7}, "firing_rates": {"lif1": 0.1}}]
    run.write_metrics(epochs, {"accuracy": 0.9})
    data = json.loads(run.metrics_json.read_text())
    assert data["epochs"][0]["val"]["loss"] is None and data["test"] == {"accuracy": 0.9}
    lines = run.metrics_csv.read_text().splitlines()
    assert lines[0] == "epoch,train_loss,train_accuracy,val_loss,val_accuracy,firing_rates_lif1"
    assert lines[2] == "2,1.0,0.7,,,0.1"
    assert records_csv([]) == "\n"
    assert dumps_json({"x": float("inf")}) == '{\n  "x": null\n}\n'


def _checkpoint(value: float) -> Artifact:
    model = torch.nn.Linear(2, 2)
    torch.nn.init.constant_(model.weight, value)
    return Artifact("ann", "name: x\n", state_dict=model.state_dict(),
                    training={"epoch": 1, "rng": capture_rng(), "history": [], "best": {}, "config": {}})


def test_interrupted_checkpoint_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    _checkpoint(1.0).save(path)
    before = path.read_bytes()

    def interrupted(fd):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt, match="killed while writing"):
        _checkpoint(2.0).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # the temporary file is gone
    assert torch.equal(load_checkpoint(path).state_dict["weight"], torch.ones(2, 2))


def test_checkpoint_loads_with_weights_only_and_restores_rng(tmp_path):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    path = _checkpoint(0.5).save(tmp_path / "c.pt")
    expected = (random.random(), float(np.random.rand()), torch.rand(3))
    state = torch.load(path, weights_only=True)["training"]["rng"]
    restore_rng(state)
    assert (random.random(), float(np.random.rand())) == expected[:2]
    assert torch.equal(torch.rand(3), expected[2])


def test_resume_needs_training_state(tmp_path):
    import snnc

    module = snnc.compile("name: lin\ninput: {shape: [4]}\nlayers:\n  - {kind: linear, out_features: 10}\n", "ann")
    path = snnc.save(module, tmp_path / "model.pt")
    with pytest.raises(DataError, match="a model artifact without training state"):
        load_checkpoint(path, require_training=True)
    with pytest.raises(DataError, match="no file at"):
        load_checkpoint(tmp_path / "missing.pt")
