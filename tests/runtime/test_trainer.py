"""The trainer's seams and life cycle: a validated config, methods and taps, checkpoints within an epoch that resume
exactly, Ctrl-C that saves and says how to resume, and the training-health warnings."""

from __future__ import annotations

import json

import pytest
import torch

from snnc.compiler.errors import TrainingInterrupted
from snnc.compiler.targets.base import OptionsError
from snnc.runtime.callbacks import Callback
from snnc.runtime.checkpoint import load_checkpoint
from snnc.runtime.methods import METHODS, Batch, tapped
from snnc.runtime.train import train
from snnc.runtime.trainer import TrainConfig, make_config

import snnc


def test_config_is_validated_with_did_you_mean():
    with pytest.raises(OptionsError, match=r"training: unknown option 'epoch' \(did you mean 'epochs'\?\)"):
        make_config(epoch=3)
    with pytest.raises(OptionsError, match="option 'lr': Input should be greater than 0"):
        make_config(lr=-1.0)
    with pytest.raises(OptionsError, match="option 'timesteps': Input should be less than or equal to 100000"):
        make_config(timesteps=999_999_999_999)
    assert make_config(schedule="none").schedule is None


def test_config_json_is_the_config_dump(tmp_path, tiny_spec, quick):
    result = train(tiny_spec(), run_dir=tmp_path / "run", **{**quick, "epochs": 1, "limit_test": 0})
    stored = json.loads((result.run_dir / "config.json").read_text())
    assert stored.pop("spec_name") == "tiny_fc"
    assert TrainConfig(**stored).model_dump(mode="json") == stored
    assert stored["method"] == "erm" and stored["strategy"] == "single"


def test_unknown_method_is_named(tmp_path, tiny_spec, quick):
    with pytest.raises(snnc.UnsupportedError, match="unknown training method 'ermm'. Did you mean 'erm'"):
        train(tiny_spec(), run_dir=tmp_path / "run", method="ermm", **quick)
    assert "erm" in METHODS


def test_tapped_reads_named_layers_of_ann_and_snn():
    x = torch.rand(3, 1, 28, 28)
    snn = snnc.compile(_conv(), "snn", timesteps=5)
    with tapped(snn, ["conv1", "lif2", "fc1"], batch=3) as out:
        snn(x)
    assert out["conv1"].shape == (3, 12, 24, 24)  # before the first neuron: once per call
    assert out["lif2"].shape == (5, 3, 64, 4, 4) and out["fc1"].shape == (5, 3, 10)  # over time
    assert set(out["lif2"].unique().tolist()) <= {0.0, 1.0}
    ann = snnc.compile(_conv(), "ann")
    with tapped(ann, ["lif1"], batch=3) as out:
        ann(x)
    assert out["lif1"].shape == (3, 12, 12, 12) and bool((out["lif1"] >= 0).all())
    with pytest.raises(snnc.UnsupportedError, match="the model has no layer 'nope'"):
        with tapped(ann, ["nope"], batch=3):
            pass


def _conv():
    from ..conftest import SPECS

    return SPECS / "mnist_conv.yaml"


def test_batches_may_carry_environments():
    x, y, env = torch.rand(4, 2), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 1])
    batch = Batch.of((x, y, env))
    assert batch.env is env and len(batch) == 4
    assert Batch.of({"x": x, "y": y}).env is None
    with pytest.raises(snnc.UnsupportedError, match="a training batch must be"):
        Batch.of((x,))


class _StopAt(Callback):
    """Asks the trainer to stop (as Ctrl-C does) after a given global step."""

    def __init__(self, step: int):
        self.step = step

    def on_batch_end(self, trainer, loss, accuracy):
        if trainer.global_step == self.step:
            trainer._stop_requested = True


def test_interrupt_mid_epoch_saves_and_resumes_exactly(tmp_path, tiny_spec, quick):
    spec = tiny_spec("rate")  # rate encoding draws from the global generator: its state must be saved too
    quick.update(epochs=2, limit_test=0, schedule="cosine")
    straight = train(spec, run_dir=tmp_path / "straight", **quick)
    from snnc.runtime.trainer import default_callbacks

    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 1, after batch 3/5; saved .*last.pt .*"
                                                  r"Resume with: snnc train .* --resume --run-dir"):
        train(spec, run_dir=tmp_path / "run", callbacks=[_StopAt(3), *default_callbacks(progress=False,
                                                                                           plots=False)], **quick)
    state = load_checkpoint(tmp_path / "run" / "last.pt").training
    assert state["epoch"] == 0 and state["step_in_epoch"] == 3
    assert len(state["partial"]["batches"]) == 3  # the per-batch loss log is part of the resumable state
    import io

    from rich.console import Console

    shown = io.StringIO()
    resumed = train(spec, run_dir=tmp_path / "run", resume=True, callbacks=default_callbacks(
        console=Console(file=shown, width=200), plots=False), **quick)
    # the resume says where it goes on in the interruption's words (it said "after epoch 0, batch 3" before)
    assert f"resuming {tmp_path / 'run'} at epoch 1, after batch 3/5" in shown.getvalue()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in straight.epochs]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.epochs]
    # the per-batch losses too: all 5 of each epoch, the 3 before the interruption kept across it
    assert [len(r["batch_losses"]) for r in resumed.epochs] == [5, 5]
    assert all(isinstance(x, float) for r in resumed.epochs for x in r["batch_losses"])
    assert (tmp_path / "run" / "batches.csv").read_text() == (tmp_path / "straight" / "batches.csv").read_text()


def test_periodic_checkpoints_within_an_epoch(tmp_path, tiny_spec, quick):
    seen = []

    class Spy(Callback):
        def on_checkpoint(self, trainer, epoch_finished):
            seen.append((trainer.epoch, trainer.step_in_epoch, epoch_finished))

    from snnc.runtime.trainer import default_callbacks

    train(tiny_spec(), run_dir=tmp_path / "run", checkpoint_every=2,
          callbacks=[*default_callbacks(progress=False, plots=False), Spy()], **{**quick, "epochs": 1})
    assert seen == [(0, 2, False), (0, 4, False), (1, 0, True)]


def test_a_silent_layer_is_warned_about(tmp_path, quick):
    spec = ("name: silent\ninput: {shape: [1, 28, 28]}\ntimesteps: 4\n"
            "neuron: {model: leaky, beta: 0.5, threshold: 1000.0}\n"
            "layers:\n  - {kind: flatten}\n  - {name: fc1, kind: linear, out_features: 16}\n"
            "  - {name: lif1, kind: spike}\n  - {name: fc2, kind: linear, out_features: 10}\n"
            "  - {name: lif2, kind: spike}\n")
    result = train(spec, run_dir=tmp_path / "run", **{**quick, "epochs": 2, "limit_test": 0})
    assert any("layer 'lif1' is silent: it fired 0.000% of the time in epoch 1" in w for w in result.warnings)
    assert sum("'lif1'" in w for w in result.warnings) == 1  # once, not every epoch


def test_the_spec_carries_its_training_recipe(tmp_path, tiny_spec, quick):
    spec = tiny_spec().read_text() + ("training: {target: snn, optimizer: sgd, lr: 0.05, epochs: 1, "
                                      "loss: ce_count_loss, schedule: cosine}\n")
    settings = {k: v for k, v in quick.items() if k not in ("epochs", "lr")}
    result = train(spec, run_dir=tmp_path / "a", **{**settings, "limit_test": 0})
    config = json.loads((result.run_dir / "config.json").read_text())
    assert (config["optimizer"], config["lr"], config["epochs"], config["loss"], config["schedule"]) == \
        ("sgd", 0.05, 1, "ce_count_loss", "cosine")
    flags = train(spec, run_dir=tmp_path / "b", lr=0.01, **{**settings, "limit_test": 0})  # a flag overrides
    assert json.loads((flags.run_dir / "config.json").read_text())["lr"] == 0.01
    ann = train(spec, run_dir=tmp_path / "c", target="ann", **{**settings, "epochs": 1, "limit_test": 0})
    config = json.loads((ann.run_dir / "config.json").read_text())  # the recipe is for snn: defaults for ann
    assert config["optimizer"] == "adam" and config["loss"] == "cross_entropy"


def test_a_bad_recipe_is_a_located_spec_error(tiny_spec):
    with pytest.raises(snnc.SpecError) as info:
        snnc.load_spec(tiny_spec().read_text() + "training: {lr: -1}\n")
    assert info.value.diagnostics[0].path[:2] == ("training", "lr")


def test_a_method_that_needs_environments_refuses_data_without_them(tmp_path, tiny_spec, quick):
    with pytest.raises(snnc.SnncError, match="method 'irm' needs batches labelled with their environment, but "
                                             "dataset 'mnist-sample' gives \\(x, y\\) only"):
        train(tiny_spec(), run_dir=tmp_path / "run", method="irm", **quick)


def test_cross_colour_similarity_trains_through_the_trainer_with_each_images_colour(tmp_path):
    from ..conftest import SPECS

    train(SPECS / "irm_mlp.yaml", target="snn", dataset="irm-colored-mnist",
          dataset_options={"base": "mnist-sample", "size": 14}, method="spike_similarity",
          method_options={"pairing": "other-colour", "centre": True, "lam": 0.2}, run_dir=tmp_path / "run",
          epochs=2, batch_size=100, limit_test=64, progress=False, plots=False)
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]
    last = epochs[-1]["train"]
    # pairs are only of different colours: about 15% of each label's images have the minority colour
    assert 0 < last["pairs"] < 0.5 * 100 / 2
    assert last["lambda"] == pytest.approx(0.2) and 0 <= last["dissimilarity"] <= 2
    assert set(last["env"]) == {"0", "1"}


def test_dann_selects_its_best_epoch_on_the_source_environments_only(tmp_path):
    from ..conftest import SPECS

    def val_envs(method, run, **options):
        train(SPECS / "irm_mlp.yaml", target="ann", dataset="grey-colored-mnist",
              dataset_options={"base": "mnist-sample", "size": 14}, method=method, method_options=options,
              run_dir=tmp_path / run, epochs=1, batch_size=100, limit_test=64, progress=False, plots=False)
        epochs = json.loads((tmp_path / run / "metrics.json").read_text())["epochs"]
        return set(epochs[-1]["val"]["env"])

    assert val_envs("erm", "erm") == {"0", "1"}  # the split holds grey source and coloured target samples
    assert val_envs("dann", "dann") == {"0"}  # the target's labels are not read to choose best.pt
    with pytest.raises(snnc.SnncError, match="no sample of the source environments \\[5\\]"):
        val_envs("dann", "none", source_envs=[5])


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
def test_best_says_which_split_selected_it(tmp_path, tiny_spec, quick, val_fraction):
    """With ``val_fraction: 0`` (as the mnist_conv and mnist_fc recipes) best.pt is chosen on training accuracy:
    the run says so before training, and ``best`` records the split it was chosen on."""
    import io

    from rich.console import Console

    from snnc.runtime.trainer import default_callbacks

    shown = io.StringIO()
    quick.update(epochs=2, limit_test=0, val_fraction=val_fraction)
    result = train(tiny_spec(), run_dir=tmp_path / "run", callbacks=default_callbacks(
        console=Console(file=shown, width=200), plots=False), **quick)
    state = load_checkpoint(tmp_path / "run" / "last.pt").training
    split = "train" if val_fraction == 0 else "val"
    assert state["best"]["split"] == split
    best = result.epochs[state["best"]["epoch"] - 1]
    assert state["best"]["accuracy"] == max(e[split]["accuracy"] for e in result.epochs) == best[split]["accuracy"]
    note = "no validation split (val_fraction 0): best.pt is the epoch with the best training accuracy"
    assert (note in shown.getvalue()) == (val_fraction == 0)


def test_dann_terms_are_plotted_per_epoch(tmp_path):
    """docs/ood.md says DANN's terms are plotted: method_metrics.png has a panel per logged term (its points the
    epochs' values in metrics.json) and one of the accuracy per environment; a run on environments also draws
    sample images of each split's environments (seed 000's figure)."""
    from snnc.runtime.plots import is_png, method_metrics_figure

    from ..conftest import SPECS

    result = train(SPECS / "irm_mlp.yaml", target="ann", dataset="grey-colored-mnist",
                   dataset_options={"base": "mnist-sample", "size": 14}, method="dann", run_dir=tmp_path / "run",
                   epochs=2, batch_size=100, limit_train=400, limit_test=32, progress=False, plots=True)
    assert [p.name for p in result.plots] == ["curves.png", "loss_per_iteration.png", "method_metrics.png",
                                              "environments_train.png", "environments_test.png"]
    assert all(is_png(p) for p in result.plots)
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"]
    fig = method_metrics_figure(epochs)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    terms = ["class_loss", "domain_loss_source", "domain_loss_target", "domain_acc", "alpha"]
    assert list(panels) == [*terms, "accuracy per environment (%)"]
    for term in terms:
        (line,) = panels[term].get_lines()
        assert list(line.get_xdata()) == [1, 2]
        assert list(line.get_ydata()) == pytest.approx([r["train"][term] for r in epochs], rel=1e-12)
    assert {ln.get_label() for ln in panels["accuracy per environment (%)"].get_lines()} >= {"train env 0",
                                                                                           "val env 0"}
