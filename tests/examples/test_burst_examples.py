"""Smoke runs of the burst-conversion examples (``--quick``) on the real datasets, so CI exercises them.

Marked ``data``; each test skips, naming the folder, when its dataset is not on this machine. The quick runs
train for a few steps, so their accuracies mean nothing; the point is the pipeline (training, conversion of
max-pooling, residual adds, functional ReLUs, upsampling and concatenation, the sweep and the reports).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from snnc.runtime.data import repository_data_root

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHARED = repository_data_root()


def needs(folder: str) -> pytest.MarkDecorator:
    """Skip unless ``shared/data/<folder>`` exists."""
    path = SHARED / folder
    return pytest.mark.skipif(not path.is_dir(), reason=f"real dataset not present at {path}")


def example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.data
@needs("fashion-mnist")
def test_fashion_mnist_quick(tmp_path):
    module = example("burst_fashion_mnist")
    report = module.main(["--quick", "--train-limit", "512", "--test-limit", "128", "--out", str(tmp_path)])
    assert set(report["models"]) == {"vgg", "resnet"}
    for name, results in report["models"].items():
        assert results["gammas"] == [1, 5] and results["timesteps"] == [4, 8] and results["samples"] == 128
        assert set(results["targets"]) >= {"within_1pt", "burst_beats_if", "first_T_within_1pt"}
        assert (tmp_path / name / "ann.pt").is_file() and (tmp_path / name / "results.png").is_file()
        section = (tmp_path / name / "results.md").read_text()
        assert f"| {name}, p" in section and f"## {name}: spikes per sample" in section
        assert section == module.model_section(name, json.loads((tmp_path / name / "results.json").read_text()))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["models"]["vgg"]["rows"] == report["models"]["vgg"]["rows"]
    text = (tmp_path / "results.md").read_text()
    assert "## vgg: accuracy (%)" in text and "## resnet: spikes per sample" in text
    again = module.main(["--quick", "--train-limit", "512", "--test-limit", "32", "--model", "vgg",
                         "--out", str(tmp_path)])
    assert again["models"]["vgg"]["train"]["fresh"] is False  # the checkpoint is reused


def test_every_functional_relu_becomes_a_neuron():
    module = example("burst_fashion_mnist")
    import torch

    import snnc

    net = module.ResNetSmall().eval()
    snn = snnc.convert(net, torch.randn(16, 1, 28, 28), gamma=2)
    assert len(snn.neurons()) == 5  # the stem's F.relu, and an F.relu and a torch.relu per block
    unet = example("burst_unet_isbi").UNet(4).eval()
    seg = snnc.convert(unet, torch.randn(2, 1, 32, 32), gamma=2)
    assert len(seg.neurons()) == 10 and seg(torch.randn(1, 1, 32, 32), 4).shape == (1, 2, 32, 32)


@pytest.mark.data
@needs("isbi2012-em-membranes")
def test_unet_isbi_quick(tmp_path):
    results = example("burst_unet_isbi").main(["--quick", "--out", str(tmp_path)])
    assert results["metrics"] == ["iou", "f1", "pixel_accuracy"] and results["samples"] == 4
    assert set(results["ann"]) == {"pixel_accuracy", "iou", "f1"}
    assert {(r["gamma"], r["timesteps"]) for r in results["rows"]} == {(1, 4), (1, 8), (5, 4), (5, 8)}
    for name in ("results.json", "results.md", "results.png", "results_f1.png", "ann.pt"):
        assert (tmp_path / name).is_file()
    text = (tmp_path / "results.md").read_text()
    assert "## iou (%)" in text and "## f1 (%)" in text and "## spikes per tile" in text and "| unet, p95 |" in text
