"""``snnc train`` and ``snnc eval`` through typer's test runner, and the progress display."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from snnc.cli import app
from snnc.runtime.train import train

from ..conftest import SPECS
from .conftest import QUICK

runner = CliRunner()

FAST = ["--limit-train", "160", "--limit-test", "64", "--batch-size", "32", "--lr", "5e-3", "--no-plots"]


def test_train_resume_and_eval(tmp_path, tiny_spec):
    spec, run = str(tiny_spec()), tmp_path / "run"
    result = runner.invoke(app, ["train", spec, "--epochs", "1", "--run-dir", str(run), *FAST], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "training on the bundled MNIST sample" in result.output and "--dataset mnist --data-dir" in result.output
    assert "epoch 1/1  train loss" in result.output and "★ best" in result.output
    assert f"snnc eval {spec} --checkpoint {run / 'best.pt'}" in result.output

    # resume with the run's own settings, read from config.json; only the epoch count is new
    result = runner.invoke(app, ["train", spec, "--resume", "--run-dir", str(run), "--epochs", "2", "--no-plots"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"resuming {run} after epoch 1" in result.output and "epoch 2/2" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["test"]["samples"] == 64

    result = runner.invoke(app, ["eval", spec, "--checkpoint", str(run / "best.pt"), "--limit", "50", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["samples"] == 50 and len(data["confusion"]) == 10 and set(data["firing_rates"]) == {"lif1", "lif2"}

    result = runner.invoke(app, ["eval", "--checkpoint", str(run / "best.pt"), "--limit", "50"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "on mnist-sample/test, 50 samples" in out and f"accuracy {data['accuracy']:.2%}" in out
    assert "confusion matrix" in out and "recall" in out and "spikes per neuron layer" in out and "lif1" in out


def test_user_errors_are_messages(tmp_path, tiny_spec):
    spec = str(tiny_spec())
    result = runner.invoke(app, ["train", spec, "--loss", "ce_rate", "--run-dir", str(tmp_path / "r"), *FAST])
    assert result.exit_code == 1
    assert "unknown loss 'ce_rate'. Did you mean 'ce_rate_loss'?" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", spec, "--resume"])
    assert result.exit_code == 1 and "--resume needs --run-dir" in result.output
    result = runner.invoke(app, ["eval", "--checkpoint", str(tmp_path / "none.pt")])
    assert result.exit_code == 1 and "no file at" in result.output


def test_real_spec_with_a_loss_option(tmp_path):
    run = tmp_path / "fc"
    result = runner.invoke(app, ["train", str(SPECS / "mnist_fc.yaml"), "-T", "5", "--epochs", "1", "--loss",
                                 "mse_count_loss", "--loss-option", "correct_rate=0.9", "--run-dir", str(run), *FAST])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert config["loss"] == "mse_count_loss" and config["loss_options"] == {"correct_rate": 0.9}
    assert config["timesteps"] == 5


def test_progress_bar_on_a_terminal(tmp_path, tiny_spec):
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160)
    train(tiny_spec(), run_dir=tmp_path / "run", console=console, **{**QUICK, "epochs": 1, "progress": True})
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buf.getvalue())
    assert re.search(r"epoch 1/1 ━+.* [1-5]/5 .* loss \d\.\d{4}  acc +\d+\.\d\d%", out)  # live loss and accuracy
    assert "epoch 1/1  train loss" in out and "test accuracy" in out


@pytest.mark.slow
def test_out_of_the_box_on_the_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", str(SPECS / "mnist_fc.yaml")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("mnist_fc-snn-")
    assert {p.name for p in (run / "plots").iterdir()} == {"curves.png", "loss_per_iteration.png", "spike_raster.png",
                                                         "firing_rates.png"}
    test = json.loads((run / "test.json").read_text())
    # the spec's recipe is the tutorial's (one epoch of full MNIST at 5e-4): one epoch of the 1,800 sample images
    # reaches about 77 %, far above chance (10 %)
    assert test["samples"] == 500 and test["accuracy"] > 0.6
    assert json.loads((run / "config.json").read_text())["loss"] == "ce_membrane_per_step"  # the spec's recipe
