"""snnc train --nproc 2 (two gloo processes under torchrun, through the trainer) against one process with twice the
batch: the same weights, for an ann and an snn spec; and a distributed run resumes.

Why a tolerance: DDP averages the two ranks' mean gradients, the mean gradient of the same 2b samples one process
sees; only the order of floating-point sums differs. After a few SGD steps the weights agree within
``rtol=1e-4, atol=1e-6``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnc.runtime.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
name: tiny_ddp
input: {shape: [1, 28, 28]}
timesteps: 3
neuron: {model: leaky, beta: 0.9, threshold: 0.5, surrogate: atan, slope: 2.0}
layers:
  - {kind: flatten}
  - {name: fc1, kind: linear, out_features: 24}
  - {name: lif1, kind: spike}
  - {name: fc2, kind: linear, out_features: 10}
  - {name: lif2, kind: spike}
"""


def _train(tmp_path: Path, run: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="150",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "snnc", "train", str(tmp_path / "tiny.yaml"), "--dataset", "mnist-sample",
           "--limit-train", "96", "--limit-test", "0", "--val-fraction", "0", "--optimizer", "sgd", "--lr", "0.05",
           "--no-plots", "--run-dir", str(tmp_path / run), *args]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["ann", "snn"])
def test_two_processes_equal_one_with_twice_the_batch(tmp_path, target):
    (tmp_path / "tiny.yaml").write_text(SPEC)
    two = _train(tmp_path, "two", "--target", target, "--nproc", "2", "--batch-size", "8", "--epochs", "2")
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    one = _train(tmp_path, "one", "--target", target, "--batch-size", "16", "--epochs", "2")
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = load_checkpoint(tmp_path / "two" / "last.pt"), load_checkpoint(tmp_path / "one" / "last.pt")
    assert a.training["config"]["strategy"] == "ddp" and b.training["config"]["strategy"] == "single"
    for key, value in b.state_dict.items():
        torch.testing.assert_close(a.state_dict[key], value, rtol=1e-4, atol=1e-6, msg=key)
    assert two.stdout.count("epoch 2/2") == 1 and two.stdout.count("run in") == 1  # only rank 0 reports
    # metrics are all-reduced: the loss of epoch 1 is over all 96 samples, as in one process
    la, lb = a.training["history"][0]["train"]["loss"], b.training["history"][0]["train"]["loss"]
    assert abs(la - lb) < 1e-4
    # and so is the per-batch loss log: global step i is the union of the ranks' batches i, one process's batch i
    ba, bb = a.training["history"][0]["batch_losses"], b.training["history"][0]["batch_losses"]
    assert len(ba) == len(bb) == 6 and ba == pytest.approx(bb, abs=1e-4)


@pytest.mark.slow
def test_a_distributed_run_resumes(tmp_path):
    (tmp_path / "tiny.yaml").write_text(SPEC)
    first = _train(tmp_path, "run", "--nproc", "2", "--batch-size", "8", "--epochs", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    again = _train(tmp_path, "run", "--nproc", "2", "--batch-size", "8", "--epochs", "2", "--resume")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "resuming" in again.stdout and "epoch 2/2" in again.stdout
    assert load_checkpoint(tmp_path / "run" / "last.pt").training["epoch"] == 2


@pytest.mark.slow
def test_a_method_with_its_own_module_trains_on_two_processes(tmp_path):
    """DANN's discriminator is outside DDP: the trainer shares rank 0's and averages its gradients (the strategy
    tests check both on two ranks); here the whole path runs and the discriminator is trained and saved."""
    (tmp_path / "tiny.yaml").write_text((ROOT / "specs" / "irm_mlp.yaml").read_text())
    run = _train(tmp_path, "dann", "--target", "ann", "--param", "hidden=16", "--dataset", "irm-colored-mnist",
                 "--dataset-option", "base=mnist-sample", "--dataset-option", "size=14", "--method", "dann",
                 "--nproc", "2", "--batch-size", "16", "--epochs", "1")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    saved = load_checkpoint(tmp_path / "dann" / "last.pt").training
    disc = {k: v for k, v in saved["method_modules"].items() if k.startswith("discriminator.")}
    assert disc and saved["config"]["strategy"] == "ddp" and saved["config"]["method"] == "dann"
    assert "domain_acc" in saved["history"][0]["train"]
