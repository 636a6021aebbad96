"""``--method qcfs``: the trainer trains the ann with QCFS activations (through ``Method.prepare_model``), its
checkpoint rebuilds the QCFS ANN and converts with the trained λ as thresholds, fine-tuning an ERM checkpoint
starts λ from its activations, a resumed run ends where an uninterrupted one does, and bad options are one clear
error."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import SnncError
from snnc.compiler.pipeline import build, read_artifact
from snnc.compiler.qcfs import QCFS, qcfs_sites
from snnc.compiler.targets.base import OptionsError
from snnc.runtime.data import load_for
from snnc.runtime.train import train

SPEC = """
name: tiny_qcfs_run
input: {shape: [1, 28, 28], range: [0, 1]}
task: {kind: classification, classes: 10}
timesteps: 4
neuron: {model: leaky, beta: 0.9, threshold: 1.0}
layers:
  - {name: conv1, kind: conv2d, out_channels: 4, kernel_size: 5, stride: 2}
  - {name: pool1, kind: maxpool2d, kernel_size: 2}
  - {name: lif1, kind: spike}
  - {name: flatten, kind: flatten}
  - {name: fc1, kind: linear, out_features: 32}
  - {name: lif2, kind: spike}
  - {name: fc2, kind: linear, out_features: 10}
  - {name: lif3, kind: spike}
"""
QUICK = {"target": "ann", "dataset": "mnist-sample", "epochs": 1, "batch_size": 32, "lr": 5e-3, "limit_train": 160,
         "limit_test": 0, "progress": False, "plots": False, "val_fraction": 0, "seed": 0}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny_qcfs_run.yaml"
    path.write_text(SPEC)
    return path


def _lambdas(model) -> dict[str, float]:
    return {name: m.threshold.item() for name, m in qcfs_sites(model).items()}


def test_a_qcfs_run_writes_a_checkpoint_that_builds_the_ann_and_the_burst_net(spec, tmp_path):
    result = train(spec, run_dir=tmp_path / "run", method="qcfs", method_options={"levels": 4}, **QUICK)
    art = read_artifact(result.best_checkpoint)
    assert art.extra["qcfs"] == {"levels": 4}
    assert {"lif1.threshold", "lif2.threshold"} <= set(art.state_dict)
    trained = _lambdas(result.model)
    assert set(trained) == {"lif1", "lif2"} and all(isinstance(m, QCFS) for m in qcfs_sites(result.model).values())

    ann = build(None, "ann", result.best_checkpoint)
    assert _lambdas(ann) == pytest.approx({k: art.state_dict[f"{k}.threshold"].item() for k in trained})
    assert {m.levels for m in qcfs_sites(ann).values()} == {4}
    x = torch.stack([load_for(snnc.build_graph(spec), "mnist-sample", "test", None, limit=8)[i][0] for i in range(8)])
    with torch.no_grad():
        torch.testing.assert_close(ann(x), snnc.load(result.best_checkpoint)(x))

    burst = build(spec, "burst", result.best_checkpoint, {"method": "if", "timesteps": 4}, calibration=x * 50)
    assert {k: float(v) for k, v in burst.thresholds().items()} == pytest.approx(_lambdas(ann))
    with torch.no_grad():  # the converted network is the QCFS ANN's, not a fresh one: outputs agree closely
        agree = (burst(x).argmax(1) == ann(x).argmax(1)).float().mean()
    assert agree >= 0.75


def test_lambda_trains_and_starts_from_the_activations(spec, tmp_path):
    erm = train(spec, run_dir=tmp_path / "erm", **QUICK)
    tuned = train(spec, run_dir=tmp_path / "tuned", method="qcfs", init=str(erm.best_checkpoint),
                  method_options={"levels": 8, "init_samples": 64, "init_percentile": 99.0}, **QUICK)
    # λ started at the ERM net's p99 activations (the method records them) and training moved them
    start = _initial(spec, erm.best_checkpoint, samples=64, percentile=99.0)
    final = _lambdas(tuned.model)
    assert set(start) == set(final) and all(final[k] != pytest.approx(start[k], abs=1e-6) for k in start)
    assert all(abs(final[k] - start[k]) < 0.5 * start[k] for k in start)  # moved, by the optimiser's steps
    data = load_for(snnc.build_graph(spec), "mnist-sample", "train", None, limit=QUICK["limit_train"])
    prepared = _method(levels=8, init_samples=64, init_percentile=99.0).prepare_model(
        build(None, "ann", erm.best_checkpoint), data)
    assert _lambdas(prepared) == pytest.approx(start, rel=1e-6)
    # the threshold option sets every λ, the data are not read; a QCFS model given again keeps its λ
    method = _method(threshold=2.0, levels=2)
    fixed = method.prepare_model(snnc.compile(spec, "ann"), dataset=[])
    assert _lambdas(fixed) == {"lif1": 2.0, "lif2": 2.0} and {m.levels for m in qcfs_sites(fixed).values()} == {2}
    kept = _method(levels=4).prepare_model(tuned.model, dataset=[])
    assert _lambdas(kept) == final and {m.levels for m in qcfs_sites(kept).values()} == {4}


def _method(**options):
    from snnc.runtime.losses import SCORES, make_loss
    from snnc.runtime.methods import METHODS, MethodContext

    cls = METHODS.get("qcfs")
    context = MethodContext(None, False, None, make_loss("cross_entropy", SCORES), 1, 1)
    return cls(cls.Options(**options), context)


def _initial(spec, checkpoint, *, samples: int, percentile: float) -> dict[str, float]:
    """The λ that init_thresholds gives on the ERM net, on the images the method reads (spread evenly)."""
    from snnc.compiler.qcfs import apply_qcfs, init_thresholds

    data = load_for(snnc.build_graph(spec), "mnist-sample", "train", None, limit=QUICK["limit_train"])
    indices = torch.linspace(0, len(data) - 1, samples).round().long().tolist()
    x = torch.stack([data[i][0] for i in indices])
    return init_thresholds(apply_qcfs(build(None, "ann", checkpoint), 8), x.split(64), percentile)


def test_a_resumed_qcfs_run_ends_with_the_uninterrupted_weights(spec, tmp_path):
    settings = {**QUICK, "epochs": 2, "method": "qcfs", "method_options": {"levels": 4}}
    whole = train(spec, run_dir=tmp_path / "whole", **settings)
    first = train(spec, run_dir=tmp_path / "parts", **{**settings, "epochs": 1})
    assert set(_lambdas(first.model)) == {"lif1", "lif2"}
    resumed = train(spec, run_dir=tmp_path / "parts", resume=True, **settings)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_the_cli_trains_evaluates_and_converts_a_qcfs_ann(spec, tmp_path):
    runner = CliRunner()
    run = tmp_path / "cli"
    out = runner.invoke(app, ["train", str(spec), "-t", "ann", "--method", "qcfs", "--method-option", "levels=4",
                              "--epochs", "1", "--limit-train", "96", "--limit-test", "32", "--no-plots",
                              "--val-fraction", "0", "-o", str(run)])
    assert out.exit_code == 0, out.output
    assert read_artifact(run / "best.pt").extra["qcfs"] == {"levels": 4}
    ev = runner.invoke(app, ["eval", "-c", str(run / "best.pt"), "--limit", "32", "--json"])
    assert ev.exit_code == 0, ev.output
    with torch.no_grad():
        ann = build(None, "ann", run / "best.pt")
        data = load_for(snnc.build_graph(spec), "mnist-sample", "test", None, limit=32)
        x = torch.stack([data[i][0] for i in range(32)])
        y = torch.tensor([int(data[i][1]) for i in range(32)])
        accuracy = float((ann(x).argmax(1) == y).float().mean())
    assert json.loads(ev.output[ev.output.index("{"):])["accuracy"] == pytest.approx(accuracy)
    conv = runner.invoke(app, ["convert", str(spec), "-c", str(run / "best.pt"), "--limit", "32", "-T", "2,4",
                               "-O", "gamma=1", "--calibration-batches", "1", "-o", str(tmp_path / "conv")])
    assert conv.exit_code == 0, conv.output


def test_bad_options_and_targets_are_one_clear_error(spec, tmp_path):
    with pytest.raises(OptionsError, match="unknown option 'level'.*'levels'"):
        train(spec, run_dir=tmp_path / "a", method="qcfs", method_options={"level": 4}, **QUICK)
    with pytest.raises(OptionsError, match="option 'levels'"):
        train(spec, run_dir=tmp_path / "b", method="qcfs", method_options={"levels": 0}, **QUICK)
    with pytest.raises(OptionsError, match="option 'threshold'"):
        train(spec, run_dir=tmp_path / "c", method="qcfs", method_options={"threshold": -1}, **QUICK)
    with pytest.raises(SnncError, match="trains an ANN for conversion: train with --target ann"):
        train(spec, run_dir=tmp_path / "d", method="qcfs", **{**QUICK, "target": "snn"})
