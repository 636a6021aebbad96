"""``snnc train``'s options come from :class:`~snnc.runtime.config.TrainConfig`'s fields: each offered field's
help is its description (with the model's default), each option given reaches the trainer as that field's
setting and nothing else does, and a resume reads the run's settings except this session's own."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from snnc.cli import app
from snnc.commands.train import TRAIN_OPTIONS, _train_settings
from snnc.model_options import Setting
from snnc.runtime.config import RESUME_FREE, RESUME_IGNORED, TrainConfig

from ..conftest import SPECS

runner = CliRunner()

API_ONLY = {"betas", "weight_decay", "checkpoint_minutes"}
"""TrainConfig's fields that ``snnc train`` does not offer (set them from Python or a study's recipe)."""


def test_every_field_is_offered_or_named_api_only():
    offered = {s.field for s in TRAIN_OPTIONS if isinstance(s, Setting)}
    assert offered | API_ONLY == set(TrainConfig.model_fields) and not offered & API_ONLY


@pytest.mark.parametrize("field", sorted(set(TrainConfig.model_fields)))
def test_every_field_is_described(field):
    assert TrainConfig.model_fields[field].description, f"TrainConfig.{field} has no Field(description=...)"


def test_help_is_the_description_with_the_models_default():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "total epochs (default: 5)" in result.output
    assert "samples per batch (default: 128)" in result.output
    assert "--no-plots" in result.output and "do not write PNG plots" in result.output
    assert "options of the loss, e.g. correct_rate=0.8 (name=value, repeatable)" in result.output


@pytest.fixture
def captured(monkeypatch):
    """Replace the trainer by a recorder of what the command passes it."""
    calls = []

    def fake_train(spec, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(run_dir=Path("RUN"), epochs=[], best_epoch=None, best_accuracy=None, test=None)

    monkeypatch.setattr("snnc.runtime.train.train", fake_train)
    return calls


def test_given_options_reach_the_trainer_as_settings(captured, tmp_path):
    data = tmp_path / "data"
    result = runner.invoke(app, ["train", "SPEC.yaml", "--epochs", "3", "--no-plots", "--compile", "-b", "16",
                                 "--loss-option", "correct_rate=0.8", "-O", "timesteps=4", "-p", "hidden=8",
                                 "--data-dir", str(data), "--schedule", "cosine"])
    assert result.exit_code == 0, result.output
    (kwargs,) = captured
    settings = {k: v for k, v in kwargs.items() if k not in ("run_dir", "resume", "console", "callbacks")}
    assert settings == {"epochs": 3, "plots": False, "compile": True, "batch_size": 16,
                        "loss_options": {"correct_rate": 0.8}, "target_options": {"timesteps": 4},
                        "params": {"hidden": 8}, "data_dir": str(data), "schedule": "cosine"}


def test_no_options_leave_every_default_to_the_model(captured):
    result = runner.invoke(app, ["train", "SPEC.yaml"])
    assert result.exit_code == 0, result.output
    assert set(captured[0]) == {"run_dir", "resume", "console", "callbacks"}


def test_resume_reads_the_runs_settings_but_not_this_sessions(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    stored = {"spec_name": "tiny", **TrainConfig(epochs=7, lr=0.01, plots=False, checkpoint_every=5,
                                                 data_dir="D").model_dump(mode="json")}
    (run / "config.json").write_text(json.dumps(stored))
    settings = _train_settings({"epochs": 9, "lr": None}, run, resume=True)
    assert settings["epochs"] == 9 and settings["lr"] == 0.01 and settings["data_dir"] == "D"
    assert "spec_name" not in settings
    assert not {k for k, how in RESUME_FREE.items() if how == "session"} & set(settings)


def test_one_resume_list():
    assert RESUME_IGNORED == tuple(RESUME_FREE) and set(RESUME_FREE.values()) == {"run", "session"}


def test_resume_without_a_run_dir_is_a_message():
    result = runner.invoke(app, ["train", "SPEC.yaml", "--resume"])
    assert result.exit_code == 1 and "--resume needs --run-dir" in result.output


def test_a_bad_value_is_refused_by_the_model_naming_the_setting(tmp_path):
    spec = str(SPECS / "mnist_fc.yaml")
    result = runner.invoke(app, ["train", spec, "--epochs", "0", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "epochs" in result.output and "greater than or equal to 1" in result.output
