"""snnc.runtime.convert: loading an ANN artifact, compile_burst, the scorers, the spike meter and the sweep.

Everything runs on a tiny spec-built CNN and the bundled MNIST sample, in seconds.
"""

from __future__ import annotations

import json

import pytest
import torch

import snnc
from snnc.compiler.errors import DataError, SnncError, UnsupportedError
from snnc.compiler.targets.burst import BurstSNN
from snnc.runtime import convert as rc
from snnc.runtime.data import load_dataset, make_loader

TINY_CNN = """\
name: tiny_cnn
input: {shape: [1, 28, 28], range: [0, 1]}
task: {kind: classification, classes: 10}
timesteps: 8
neuron: {model: leaky, beta: 0.9, threshold: 1.0, reset: subtract}
layers:
  - {name: conv1, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: pool1, kind: maxpool2d, kernel_size: 2}
  - {name: lif1, kind: spike}
  - {name: conv2, kind: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: pool2, kind: maxpool2d, kernel_size: 2}
  - {name: lif2, kind: spike}
  - {kind: flatten}
  - {name: fc, kind: linear, out_features: 10}
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "tiny_cnn.yaml"
    path.write_text(TINY_CNN)
    return path


@pytest.fixture(scope="module")
def checkpoint(spec, tmp_path_factory):
    """The tiny CNN trained for 30 Adam steps on the bundled sample, saved as an ann artifact."""
    torch.manual_seed(0)
    ann = snnc.compile(spec, "ann")
    data = load_dataset("mnist-sample", "train")
    optimizer = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for step, (x, y) in enumerate(make_loader(data, 64, shuffle=True, seed=0)):
        loss = torch.nn.functional.cross_entropy(ann(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 30:
            break
    return snnc.save(ann.eval(), tmp_path_factory.mktemp("ckpt") / "ann.pt")


@pytest.fixture(scope="module")
def ann(spec, checkpoint):
    return rc.load_ann(spec, checkpoint)


@pytest.fixture(scope="module")
def test_batches():
    data = load_dataset("mnist-sample", "test", limit=96)
    return make_loader(data, 32)


def test_parse_int_list():
    assert rc.parse_int_list("8, 4,16,4", "--timesteps") == [4, 8, 16]
    with pytest.raises(SnncError, match="--gamma expects comma-separated positive integers.*'1,x'"):
        rc.parse_int_list("1,x", "--gamma")
    with pytest.raises(SnncError, match="--gamma values must be >= 1, got 0"):
        rc.parse_int_list("0,1", "--gamma")
    with pytest.raises(SnncError, match="needs at least one value"):
        rc.parse_int_list(" , ", "--timesteps")


def test_parse_calibration():
    assert rc.parse_calibration("fashion-mnist:1000") == ("fashion-mnist", 1000)
    assert rc.parse_calibration("mnist") == ("mnist", rc.DEFAULT_CALIBRATION_SAMPLES)
    with pytest.raises(SnncError, match="DATASET:N with N a positive number"):
        rc.parse_calibration("mnist:lots")


def test_load_ann_reads_the_artifact(spec, checkpoint, ann):
    art = torch.load(checkpoint, weights_only=True)
    for key, value in ann.state_dict().items():
        assert torch.equal(value, art["state_dict"][key])
    assert not ann.training


def test_load_ann_takes_a_plain_state_dict(spec, ann, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(ann.state_dict(), path)
    again = rc.load_ann(spec, path)
    assert torch.equal(again.state_dict()["conv1.weight"], ann.state_dict()["conv1.weight"])


def test_checkpoint_errors(spec, ann, tmp_path):
    with pytest.raises(DataError, match="no file at"):
        rc.load_ann(spec, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="is not an snnc checkpoint or artifact: it is not a readable checkpoint"):
        rc.load_ann(spec, tmp_path / "junk.pt")
    torch.save({"weights": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(DataError, match="neither an snnc artifact nor a state dict"):
        rc.load_ann(spec, tmp_path / "odd.pt")
    snn_path = snnc.save(snnc.compile(spec, "snn"), tmp_path / "snn.pt")
    with pytest.raises(UnsupportedError, match="compiled for the 'snn' target; an ANN's trained weights are "
                                               "needed"):
        rc.load_ann(spec, snn_path)
    other = snnc.compile(rc_spec_with_width(spec, 6), "ann")
    torch.save(other.state_dict(), tmp_path / "other.pt")
    with pytest.raises(SnncError, match=r"do not fit the spec \(shape mismatch conv1.weight \(6, 1, 3, 3\) vs "
                                        r"\(4, 1, 3, 3\)"):
        rc.load_ann(spec, tmp_path / "other.pt")


def rc_spec_with_width(spec, width: int) -> str:
    """The tiny spec's text with another first-layer width."""
    return spec.read_text().replace("out_channels: 4", f"out_channels: {width}")


def test_compile_burst_on_a_saved_artifact(spec, checkpoint, ann):
    snn = rc.compile_burst(spec, checkpoint, "mnist-sample:100", gamma=3, percentile=99.9, timesteps=16)
    assert isinstance(snn, BurstSNN)
    assert snn.config["gamma"] == 3 and snn.config["percentile"] == 99.9
    assert snn.config["calibration"] == "mnist-sample:100" and snn.config["calibration_samples"] == 100
    assert snn.timesteps == 16 and set(snn.neurons()) == {"lif1", "lif2"}
    x, _ = next(iter(make_loader(load_dataset("mnist-sample", "test", limit=8), 8)))
    with torch.no_grad():
        expected = ann(x)
    assert snn(x).shape == expected.shape == (8, 10)
    close = (snn(x, 128) - expected).abs().max() / expected.abs().max()
    assert close < 0.1


@pytest.mark.parametrize("gamma, channelwise", [(3, False), (1, True)])
def test_a_converted_network_saves_and_loads_exactly(spec, checkpoint, tmp_path, gamma, channelwise):
    import snnc

    snn = rc.compile_burst(spec, checkpoint, "mnist-sample:64", gamma=gamma, percentile=99.5,
                           channelwise=channelwise, timesteps=12)
    path = snnc.save(snn, tmp_path / "burst.pt")
    back = snnc.load(path)
    assert isinstance(back, BurstSNN) and back.timesteps == 12
    assert back.config == snn.config and back.config["calibration"] == "mnist-sample:64"
    for name, theta in snn.thresholds().items():
        assert torch.equal(back.thresholds()[name], theta), name
    x, _ = next(iter(make_loader(load_dataset("mnist-sample", "test", limit=16), 16)))
    with torch.no_grad():
        assert torch.equal(back(x), snn(x))
    # Saved again from the loaded network: the same artifact content.
    again = snnc.load(snnc.save(back, tmp_path / "again.pt"))
    assert again.config["gamma"] == gamma


def test_convert_of_a_spec_built_ann_can_be_saved_but_a_hand_written_one_cannot(ann, tmp_path):
    x, _ = next(iter(make_loader(load_dataset("mnist-sample", "train", limit=64), 64)))
    snn = snnc.convert(ann, x, gamma=2, percentile=99, timesteps=6)
    back = snnc.load(snnc.save(snn, tmp_path / "burst.pt"))
    assert back.config["gamma"] == 2 and back.timesteps == 6
    with torch.no_grad():
        assert torch.equal(back(x[:8]), snn(x[:8]))
    hand = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10), torch.nn.ReLU())
    converted = snnc.convert(hand, x, timesteps=6)
    with pytest.raises(UnsupportedError, match=r"converted from a hand-written model, so it carries no spec.*"
                                               r"torch\.save\(net\.state_dict\(\), path\).*snnc\.convert\(YourModel"):
        snnc.save(converted, tmp_path / "hand.pt")
    # the recipe the message gives: the weights, then a fresh conversion (other calibration) that loads them
    torch.save(converted.state_dict(), tmp_path / "hand.pt")
    rebuilt = snnc.convert(hand, torch.rand(8, 1, 28, 28), timesteps=6)
    rebuilt.load_state_dict(torch.load(tmp_path / "hand.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(rebuilt(x[:8]), converted(x[:8]))
    with pytest.raises(UnsupportedError, match=r"not built from a spec by snnc\.compile"):
        snnc.save(hand, tmp_path / "plain.pt")


def test_compile_burst_if_method_and_errors(spec, checkpoint, tmp_path):
    snn = rc.compile_burst(spec, checkpoint, "mnist-sample:32", gamma=1)
    assert snn.config["method"] == "if" and snn.config["gamma"] == 1
    with pytest.raises(DataError, match=r"(?s)Fashion-MNIST .*not found.*--data-dir"):
        rc.compile_burst(spec, checkpoint, "fashion-mnist:64", data_dir=tmp_path / "empty")
    with pytest.raises(DataError, match="unknown dataset 'fashon'.*fashion-mnist"):
        rc.compile_burst(spec, checkpoint, "fashon")
    with pytest.raises(DataError, match="'cifar10' has 3x32x32 images but the spec 'tiny_cnn' takes input "
                                        r"\[1, 28, 28\]"):
        rc.compile_burst(spec, checkpoint, "cifar10")


def test_accuracy_and_segmentation_scores():
    acc = rc.Accuracy()
    acc.update(torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([1, 1, 1]))
    assert acc.result() == {"accuracy": pytest.approx(2 / 3)}
    seg = rc.BinarySegmentationScores()
    scores = torch.zeros(1, 2, 2, 2)
    scores[0, 1] = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # predicts membrane on the top row
    seg.update(scores, torch.tensor([[[1, 0], [1, 0]]]))     # membrane in the left column
    result = seg.result()                                    # tp 1, fp 1, fn 1, tn 1
    assert result == {"pixel_accuracy": 0.5, "iou": pytest.approx(1 / 3), "f1": 0.5}
    one_channel = rc.BinarySegmentationScores()
    one_channel.update(scores[:, 1:], torch.tensor([[[1, 0], [1, 0]]]))
    assert one_channel.result() == result
    with pytest.raises(SnncError, match="no scorer for task 'detection'; known tasks: classification, "
                                        "segmentation"):
        rc.scorer_for("detection")


def test_step_spike_meter_matches_the_networks_counts(ann):
    x = torch.rand(6, 1, 28, 28)
    snn = snnc.convert(ann, x, gamma=3, fold_batch=12)  # 2 steps per chunk
    snn.reset_counts()
    with rc.StepSpikeMeter(snn, 10) as meter:
        meter.start()
        snn(x, 10)
        assert meter.per_step.sum().item() == sum(snn.spike_counts().values())
        steps = meter.per_step.clone()
        meter.start()
        snn(x, 4)
        assert torch.equal(meter.per_step[:4], 2 * steps[:4])
        assert torch.equal(meter.per_step[4:], steps[4:])
    assert meter.cumulative()[-1] == meter.per_step.sum()
    assert not meter._handles


def test_evaluate_snn_equals_separate_runs(ann, test_batches):
    snn = snnc.convert(ann, [x for x, _ in test_batches], gamma=2)
    results = rc.evaluate_snn(snn, test_batches, [8, 4])
    assert list(results) == [4, 8]
    for t in (4, 8):
        correct = sum(int((snn(x, t).argmax(1) == y).sum()) for x, y in test_batches)
        assert results[t]["accuracy"] == correct / 96
    assert 0 < results[4]["spikes_per_sample"] < results[8]["spikes_per_sample"]


def test_sweep_and_reports(ann, test_batches, tmp_path):
    seen: list[int] = []
    calls: list[int] = []
    results = rc.sweep(ann, [x for x, _ in test_batches], test_batches, gammas=[3, 1], timesteps=[8, 4],
                       on_batch=seen.append, on_gamma=lambda g, r: calls.append(g))
    assert results["gammas"] == [1, 3] and results["timesteps"] == [4, 8] and calls == [1, 3]
    assert sum(seen) == 3 * 96 and results["samples"] == 96
    assert [(r["gamma"], r["timesteps"]) for r in results["rows"]] == [(1, 4), (1, 8), (3, 4), (3, 8)]
    assert results["settings"]["calibration_samples"] == 96
    assert 0 <= results["ann"]["accuracy"] <= 1
    text = rc.markdown_tables(results)
    assert "| T | Γ=1 (IF) | Γ=3 | ANN |" in text and "**spikes per sample**" in text
    assert f"| 4 | {100 * rc.result_rows(results, 1)[4]['accuracy']:.2f} |" in text
    paths = rc.write_sweep(results, tmp_path / "out", title="tiny")
    assert json.loads(paths["json"].read_text())["rows"][0]["gamma"] == 1
    assert paths["markdown"].read_text().startswith("# tiny\n")
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_segmentation_sweep_plots_every_metric(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    x = torch.rand(8, 1, 16, 16)
    y = (x[:, 0] > 0.5).long()
    results = rc.sweep(net, x, [(x, y)], gammas=[2], timesteps=[4], task="segmentation")
    assert results["metrics"] == ["pixel_accuracy", "iou", "f1"]
    assert set(results["rows"][0]) == {"gamma", "timesteps", "pixel_accuracy", "iou", "f1", "spikes_per_sample"}
    paths = rc.write_sweep(results, tmp_path)
    assert paths["plot_iou"].is_file() and paths["plot_f1"].is_file()


def test_default_percentile_follows_the_threshold_study(ann, test_batches):
    from snnc.compiler.targets.burst import default_percentile

    assert default_percentile(1) == 99.0 and default_percentile(2) == default_percentile(5) == 95.0
    calibration = [x for x, _ in test_batches]
    for gamma, method in ((1, "if"), (5, "burst")):
        snn = snnc.convert(ann, calibration, method, gamma=gamma)
        same = snnc.convert(ann, calibration, method, gamma=gamma, percentile=default_percentile(gamma))
        assert snn.config["percentile"] == default_percentile(gamma)
        assert all(torch.equal(a, b) for a, b in zip(snn.thresholds().values(), same.thresholds().values()))
    assert snnc.convert(ann, calibration, gamma=5, percentile=99.99).config["percentile"] == 99.99


def test_plot_range_shows_the_ann_and_a_sensible_span():
    assert rc.plot_range([91.4, 91.8, 91.6]) == pytest.approx((90.44, 92.76))  # at least 2 points wide
    lo, hi = rc.plot_range([50.0, 92.0])
    assert lo < 50 and hi > 92 and hi - lo < 50
    assert rc.plot_range([99.9, 100.0]) == (98.0, 100.0)


def test_the_sweep_plot_has_an_accuracy_and_a_spikes_panel(tmp_path):
    results = {"metrics": ["accuracy"], "gammas": [1, 3], "timesteps": [4, 8], "ann": {"accuracy": 0.917},
               "rows": [{"gamma": g, "timesteps": t, "accuracy": 0.914 + 0.001 * t / 4, "spikes_per_sample": 10 * t * g}
                        for g in (1, 3) for t in (4, 8)]}
    accuracy, spikes = rc.sweep_figure(results).axes
    path = rc.plot_sweep(results, tmp_path / "p.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert any(line.get_label().startswith("ANN 91.70") for line in accuracy.get_lines())
    assert accuracy.get_ylim() == pytest.approx(rc.plot_range([91.7, 91.5, 91.6, 91.5, 91.6]))
    assert spikes.get_ylabel() == "spikes per sample" and len(spikes.get_lines()) == 2
