"""Training on the bundled sample: the run directory, exact resume, determinism and divergence."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

import snnc
from snnc.compiler.errors import DataError, SnncError, TrainingDiverged, UnsupportedError
from snnc.compiler.targets.base import OptionsError
from snnc.runtime.checkpoint import load_checkpoint
from snnc.runtime.plots import is_png
from snnc.runtime.train import train


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_every_batch_loss_is_logged_and_plotted(tmp_path, tiny_spec, quick):
    """The per-iteration loss log: each epoch record's ``batch_losses`` (one per batch, 144 training images in
    batches of 32: 5) average, weighted by batch size, to the epoch's training loss; ``batches.csv`` holds them
    numbered over the run; loss_per_iteration.png draws exactly them."""
    import csv

    from snnc.runtime.plots import loss_per_iteration_figure

    result = train(tiny_spec(), run_dir=tmp_path / "run", **{**quick, "limit_test": 0})
    run = result.run_dir
    epochs = json.loads((run / "metrics.json").read_text())["epochs"]
    sizes = [32, 32, 32, 32, 16]
    for record in epochs:
        losses = record["batch_losses"]
        assert len(losses) == 5 and all(isinstance(x, float) for x in losses)
        mean = sum(x * n for x, n in zip(losses, sizes)) / sum(sizes)
        assert mean == pytest.approx(record["train"]["loss"], rel=1e-9)
    rows = list(csv.DictReader((run / "batches.csv").open()))
    assert [(int(r["iteration"]), int(r["epoch"]), int(r["batch"])) for r in rows] == \
        [(e * 5 + b + 1, e + 1, b + 1) for e in range(2) for b in range(5)]
    logged = [x for r in epochs for x in r["batch_losses"]]
    assert [float(r["loss"]) for r in rows] == pytest.approx(logged, rel=1e-12)
    (line,) = loss_per_iteration_figure(epochs).axes[0].get_lines()
    assert list(line.get_xdata()) == list(range(1, 11)) and list(line.get_ydata()) == logged
    # plots off (quick): the figure is not written; the trainer writes it with its other plots
    assert not (run / "plots" / "loss_per_iteration.png").exists()


def _same_history(a: list, b: list) -> None:
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in b]


def test_snn_run_writes_the_run_directory(tmp_path, tiny_spec, quick):
    quick["plots"] = True
    result = train(tiny_spec(), target="snn", run_dir=tmp_path / "run", **quick)
    run = result.run_dir
    assert {p.name for p in run.iterdir()} == {"spec.yaml", "config.json", "metrics.json", "metrics.csv",
                                               "batches.csv", "last.pt", "best.pt", "test.json", "plots"}
    assert (run / "spec.yaml").read_text() == tiny_spec().read_text()
    config = json.loads((run / "config.json").read_text())
    assert config["loss"] == "ce_rate_loss" and config["timesteps"] == 4 and config["seed"] == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert set(metrics["epochs"][0]) == {"epoch", "lr", "train", "batch_losses", "val", "firing_rates", "seconds"}
    assert metrics["test"]["samples"] == 64 and metrics["test"]["accuracy"] == result.test_accuracy
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,lr,train_loss,train_accuracy,val_loss")
    assert [p.name for p in result.plots] == ["curves.png", "loss_per_iteration.png", "spike_raster.png",
                                              "firing_rates.png"]
    assert all(is_png(p) for p in result.plots)
    assert "batch_losses" not in (run / "metrics.csv").read_text()
    # best.pt is an snnc artifact: snnc.load rebuilds the trained spiking model
    model = snnc.load(run / "best.pt")
    assert model.timesteps == 4
    best = load_checkpoint(run / "best.pt")
    assert best.training["epoch"] == result.best_epoch and best.options["timesteps"] == 4
    json.dumps(result.to_dict())


def test_ann_target_trains_with_cross_entropy(tmp_path, tiny_spec, quick):
    quick.update(lr=1e-2, epochs=3)
    result = train(tiny_spec(), target="ann", run_dir=tmp_path / "ann", **quick)
    assert json.loads((result.run_dir / "config.json").read_text())["loss"] == "cross_entropy"
    assert result.epochs[-1]["train"]["loss"] < result.epochs[0]["train"]["loss"]
    assert result.test.accuracy > 0.3 and result.test.firing_rates == {}


def test_same_seed_same_weights_other_seed_differs(tmp_path, tiny_spec, quick):
    quick.update(epochs=1, limit_test=0)
    a = train(tiny_spec(), run_dir=tmp_path / "a", seed=1, **quick).model.state_dict()
    b = train(tiny_spec(), run_dir=tmp_path / "b", seed=1, **quick).model.state_dict()
    c = train(tiny_spec(), run_dir=tmp_path / "c", seed=2, **quick).model.state_dict()
    _assert_same_state(a, b)
    assert not torch.equal(a["fc1.weight"], c["fc1.weight"])


def test_resume_one_plus_one_epoch_equals_two_straight(tmp_path, tiny_spec, quick):
    spec = tiny_spec("rate")  # rate encoding draws from torch's global generator: its state must be restored too
    quick.update(limit_test=0)
    straight = train(spec, run_dir=tmp_path / "straight", **quick)
    first = train(spec, run_dir=tmp_path / "resumed", **{**quick, "epochs": 1})
    assert len(first.epochs) == 1
    resumed = train(spec, run_dir=tmp_path / "resumed", resume=True, **quick)
    _assert_same_state(straight.model.state_dict(), resumed.model.state_dict())
    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    _assert_same_state(a.state_dict, b.state_dict)
    assert torch.equal(a.training["rng"]["torch"], b.training["rng"]["torch"])
    _same_history(straight.epochs, resumed.epochs)


def test_resume_after_interrupt_with_schedule_is_exact(tmp_path, tiny_spec, quick):
    spec = tiny_spec("rate", "membrane")
    quick.update(epochs=3, limit_test=0, schedule="cosine", optimizer="sgd", lr=0.05)
    straight = train(spec, run_dir=tmp_path / "straight", **quick)

    def interrupt(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt("stopped after epoch 1")

    with pytest.raises(KeyboardInterrupt, match="stopped after epoch 1"):
        train(spec, run_dir=tmp_path / "run", on_epoch_end=interrupt, **quick)
    assert load_checkpoint(tmp_path / "run" / "last.pt").training["epoch"] == 1
    resumed = train(spec, run_dir=tmp_path / "run", resume=True, **quick)
    _assert_same_state(straight.model.state_dict(), resumed.model.state_dict())
    a, b = (load_checkpoint(r.last_checkpoint).training for r in (straight, resumed))
    assert a["scheduler"] == b["scheduler"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"] == "ce_membrane_per_step"
    with pytest.raises(SnncError, match="with a schedule the number of epochs cannot change"):
        train(spec, run_dir=tmp_path / "run", resume=True, **{**quick, "epochs": 4})


def test_resume_refuses_other_settings(tmp_path, tiny_spec, quick):
    quick.update(epochs=1, limit_test=0)
    train(tiny_spec(), run_dir=tmp_path / "run", **quick)
    with pytest.raises(SnncError, match=r"it was started with lr=0.005 \(now 0.1\)"):
        train(tiny_spec(), run_dir=tmp_path / "run", resume=True, **{**quick, "lr": 0.1})
    with pytest.raises(SnncError, match="already holds a run"):
        train(tiny_spec(), run_dir=tmp_path / "run", **quick)
    with pytest.raises(SnncError, match="nothing to resume in"):
        train(tiny_spec(), run_dir=tmp_path / "empty", resume=True, **quick)
    with pytest.raises(SnncError, match="its spec differs"):
        train(tiny_spec("rate"), run_dir=tmp_path / "run", resume=True, **quick)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_spec, quick):
    quick.update(epochs=3, limit_test=0)
    steps = {"n": 0}

    def nan_in_epoch_two(output, targets):
        value = F.cross_entropy(output[1].mean(0), targets)
        if torch.is_grad_enabled():  # training batches only; validation runs without gradients
            steps["n"] += 1
            if steps["n"] > 5:  # 5 batches of 32 per epoch (144 training samples)
                return value * float("nan")
        return value

    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, batch 1/5 .*\(epoch 1\) and .*best.pt "
                                               r"are kept"):
        train(tiny_spec(), run_dir=run, loss=nan_in_epoch_two, **quick)
    last = load_checkpoint(run / "last.pt")
    assert last.training["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last.state_dict.values() if v.is_floating_point())
    assert len(json.loads((run / "metrics.json").read_text())["epochs"]) == 1


def test_huge_learning_rate_diverges(tmp_path, tiny_spec, quick):
    with pytest.raises(TrainingDiverged, match="loss became nan at epoch 1.*no checkpoint was written"):
        train(tiny_spec(), target="ann", run_dir=tmp_path / "run", **{**quick, "lr": 1e30, "optimizer": "sgd"})


def test_bad_settings_are_user_errors(tmp_path, tiny_spec, quick):
    with pytest.raises(OptionsError, match=r"option 'optimizer': Input should be 'adam' or 'sgd' \(got 'adamw'\) "
                                           r"\(did you mean 'adam'\?\)"):
        train(tiny_spec(), run_dir=tmp_path / "a", **{**quick, "optimizer": "adamw"})
    with pytest.raises(OptionsError, match=r"option 'schedule'.*\(got 'cosin'\) \(did you mean 'cosine'\?\)"):
        train(tiny_spec(), run_dir=tmp_path / "a", **{**quick, "schedule": "cosin"})
    with pytest.raises(SnncError, match=r"the burst target is not trained directly \(trainable targets: ann, snn\); "
                                        "train an ann and convert it"):
        train(tiny_spec(), target="burst", run_dir=tmp_path / "a", **quick)
    with pytest.raises(DataError, match="dataset 'cifar10' has 3x32x32 images but the spec 'tiny_fc' takes input "
                                        r"\[1, 28, 28\]"):
        train(tiny_spec(), dataset="cifar10", run_dir=tmp_path / "a", **quick)
    with pytest.raises(SnncError, match="cannot hold out a validation split"):
        train(tiny_spec(), run_dir=tmp_path / "a", **{**quick, "limit_train": 1})


def test_spec_given_as_data_is_stored_as_yaml(tmp_path, tiny_spec, quick):
    import yaml

    data = yaml.safe_load(tiny_spec().read_text())
    result = train(data, run_dir=tmp_path / "run", **{**quick, "epochs": 1, "limit_test": 0})
    assert yaml.safe_load((result.run_dir / "spec.yaml").read_text()) == data
    assert snnc.load(result.best_checkpoint).timesteps == 4
