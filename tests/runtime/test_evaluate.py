"""Evaluation of models and checkpoints: accuracy, confusion matrix, firing rates, JSON."""

from __future__ import annotations

import json

import pytest
import torch

import snnc
from snnc.compiler.errors import DataError, UnsupportedError
from snnc.runtime.data import load_dataset
from snnc.runtime.evaluate import evaluate
from snnc.runtime.train import train

from .conftest import QUICK, TINY_SPEC


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny spiking run on the sample (its best.pt and spec file)."""
    root = tmp_path_factory.mktemp("eval")
    spec = root / "tiny.yaml"
    spec.write_text(TINY_SPEC.format(encoding="direct", decoding="rate"))
    result = train(spec, run_dir=root / "run", **{**QUICK, "limit_test": 0})
    return spec, result.best_checkpoint


def test_checkpoint_evaluation_is_json_and_consistent(trained):
    _, best = trained
    result = evaluate(best, "mnist-sample", limit=100)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["samples"] == 100 and data["target"] == "snn" and data["timesteps"] == 4
    assert data["decoding"] == "rate" and data["loss_name"] == "ce_rate_loss"
    matrix = torch.tensor(data["confusion"])
    assert matrix.shape == (10, 10) and int(matrix.sum()) == 100
    assert data["accuracy"] == pytest.approx(float(matrix.diag().sum()) / 100)
    labels = torch.tensor([int(load_dataset("mnist-sample", "test", limit=100)[i][1]) for i in range(100)])
    assert matrix.sum(1).tolist() == torch.bincount(labels, minlength=10).tolist()
    assert data["class_names"] == [str(d) for d in range(10)]
    assert set(data["firing_rates"]) == {"lif1", "lif2"} and data["neurons"] == {"lif1": 32, "lif2": 10}
    for layer, rate in data["firing_rates"].items():  # spikes per sample = rate × neurons × steps
        assert data["spikes_per_sample"][layer] == pytest.approx(rate * data["neurons"][layer] * 4)
    assert data["total_spikes_per_sample"] == pytest.approx(sum(data["spikes_per_sample"].values()))


def test_module_and_checkpoint_give_the_same_result(trained):
    _, best = trained
    model = snnc.load(best)
    a = evaluate(model, "mnist-sample", limit=64, batch_size=16).to_dict()
    b = evaluate(best, "mnist-sample", limit=64).to_dict()
    assert a["confusion"] == b["confusion"]
    for key in ("accuracy", "firing_rates", "spikes_per_sample"):
        assert a[key] == pytest.approx(b[key])


def test_timesteps_override_changes_the_work(trained):
    _, best = trained
    result = evaluate(best, "mnist-sample", limit=32, timesteps=8)
    assert result.timesteps == 8


def test_spec_must_fit_the_weights(trained, tmp_path):
    _, best = trained
    other = tmp_path / "wide.yaml"
    other.write_text(TINY_SPEC.format(encoding="direct", decoding="rate").replace("out_features: 32",
                                                                                    "out_features: 48"))
    with pytest.raises(DataError, match=r"do not fit the spec \(shape mismatch fc1.weight \(32, 784\) vs \(48, 784\)"):
        evaluate(best, "mnist-sample", limit=8, spec=other)


def test_ann_module_and_errors():
    model = snnc.compile(TINY_SPEC.format(encoding="direct", decoding="rate"), "ann")
    result = evaluate(model, "mnist-sample", limit=20)
    assert result.target == "ann" and result.loss_name == "cross_entropy" and result.firing_rates == {}
    with pytest.raises(UnsupportedError, match="timesteps applies to spiking models only"):
        evaluate(model, "mnist-sample", limit=20, timesteps=3)
    with pytest.raises(DataError, match="the test split of 'mnist-sample' is empty"):
        evaluate(model, "mnist-sample", limit=0)


def test_timesteps_override_leaves_the_callers_module_alone(trained):
    _, best = trained
    model = snnc.load(best)
    assert evaluate(model, "mnist-sample", limit=16, timesteps=2).timesteps == 2
    assert model.timesteps == 4


# --- the one evaluation loop -----------------------------------------------------------------------------------


def test_eval_and_the_sweeps_score_through_one_loop_and_agree(trained):
    """snnc eval, the burst sweep's ANN score and the mnn sweep's accuracy are the same number."""
    from snnc.runtime.data import make_loader
    from snnc.runtime.sweep import classification_accuracy, evaluate_ann

    model = snnc.compile(TINY_SPEC.format(encoding="direct", decoding="rate"), "ann")
    loader = make_loader(load_dataset("mnist-sample", "test", limit=70), 16)
    accuracy = evaluate(model, "mnist-sample", limit=70, batch_size=16).accuracy
    assert evaluate_ann(model, loader) == {"accuracy": accuracy}
    assert classification_accuracy(loader)(model) == accuracy
    spiking = snnc.load(trained[1])
    assert classification_accuracy(loader)(spiking) == evaluate(spiking, "mnist-sample", limit=70).accuracy


def test_run_batches_sets_eval_mode_without_gradients_and_restores_it():
    from snnc.runtime.evaluate import run_batches

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5)).train()
    seen = []

    def update(output, batch):
        seen.append((model.training, torch.is_grad_enabled(), output.shape, batch.y.tolist(), batch.env))

    sizes = []
    data = [(torch.ones(4, 3), torch.arange(4)), (torch.ones(2, 3), torch.arange(2), torch.zeros(2)),
            (torch.ones(1, 3), torch.arange(1))]
    run_batches(model, data, update, max_batches=2, on_batch=sizes.append)
    assert model.training and sizes == [4, 2]
    assert [s[:4] for s in seen] == [(False, False, (4, 2), [0, 1, 2, 3]), (False, False, (2, 2), [0, 1])]
    assert seen[0][4] is None and seen[1][4].tolist() == [0, 0]
    run_batches(model, data[:1], lambda output, batch: seen.append(output), forward=lambda x: x.sum())
    assert seen[-1] == 12.0
    with pytest.raises(UnsupportedError, match="a training batch must be"):
        run_batches(model, [torch.ones(2, 3)], update)
    assert model.training  # restored after an error too
