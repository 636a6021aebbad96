"""The MNIST reproduction example runs end to end (a smoke test on the bundled sample, two seeds)."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import REPO


def test_reproduction_script_smoke(tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, str(REPO / "examples" / "reproduce_mnist.py"), "--dataset", "mnist-sample", "--which",
           "fc", "--seeds", "0", "1", "--timesteps", "4", "--limit-train", "128", "--limit-test", "64",
           "--no-plots", "--quiet", "--runs", str(runs)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "MNIST reproduction" in out.stdout and "± " in out.stdout and "≥ 93 %" in out.stdout
    rows = json.loads((runs / "summary.json").read_text())["rows"]
    assert [(r["experiment"], r["seed"]) for r in rows] == [("fc", 0), ("fc", 1)]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["train_seconds"] > 0 for r in rows)
    config = json.loads((runs / "fc-seed0" / "config.json").read_text())
    assert (config["lr"], config["epochs"], config["loss"], config["val_fraction"]) == (
        5e-4, 1, "ce_membrane_per_step", 0.0)


def test_conv_reproduction_uses_a_cosine_schedule_unless_told_otherwise(tmp_path):
    base = [sys.executable, str(REPO / "examples" / "reproduce_mnist.py"), "--dataset", "mnist-sample", "--which",
            "conv", "--seeds", "0", "--timesteps", "2", "--limit-train", "64", "--limit-test", "32", "--no-plots",
            "--quiet"]
    for extra, runs, want in ([], tmp_path / "a", "cosine"), (["--schedule", "none"], tmp_path / "b", None):
        out = subprocess.run([*base, *extra, "--runs", str(runs)], capture_output=True, text=True, timeout=300,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        config = json.loads((runs / "conv-seed0" / "config.json").read_text())
        assert (config["lr"], config["epochs"], config["loss"], config["schedule"]) == (1e-2, 3, "ce_rate_loss", want)
        assert json.loads((runs / "summary.json").read_text())["rows"][0]["schedule"] == want
