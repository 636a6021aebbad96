"""Robustness sweeps on the real MemTorch (snnc.runtime.sweep.mnn_sweep): one tiny network, two short axes,
JSON-ready result and a plot."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")

import snnc  # noqa: E402
from snnc.compiler.errors import UnsupportedError  # noqa: E402
from snnc.runtime.sweep import classification_accuracy, mnn_sweep  # noqa: E402
from snnc.runtime.sweep_report import mnn_sweep_figure, plot_mnn_sweep  # noqa: E402

from ..compiler.targets.mnn.conftest import SMALL_TILES, TINY, trained_like  # noqa: E402

pytestmark = pytest.mark.mnn
OPTIONS = {**SMALL_TILES, "scaling": "restore"}


@pytest.fixture
def ann():
    return trained_like(snnc.compile(TINY, target="ann"))


@pytest.fixture
def images():
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_sweep_returns_scores_per_axis_and_plots(ann, images, tmp_path):
    labels = ann(images).argmax(1)  # the float network is right by construction
    data = [(images, labels)]
    result = mnn_sweep(ann, classification_accuracy(data), OPTIONS, {"adc_bits": [2, 8], "fault_proportion": [0.0, 0.3]},
                       progress=False)
    json.dumps(result)
    assert list(result) == ["base_options", "axes", "float", "ideal"]  # the order results.json is written in
    assert result["float"] == 1.0 and result["ideal"] == 1.0
    assert result["axes"]["adc_bits"]["values"] == [2, 8] and len(result["axes"]["adc_bits"]["scores"]) == 2
    assert result["axes"]["adc_bits"]["scores"][1] >= result["axes"]["adc_bits"]["scores"][0]
    png = plot_mnn_sweep(result, tmp_path / "sweep.png")
    assert png.stat().st_size > 1000


def test_the_plot_is_in_percent_as_the_tables():
    """The tables say 95.00 %; the plot's y axis said 0.95 (0-1) beside them."""
    import matplotlib.pyplot as plt

    result = {"float": 0.97, "ideal": 0.95, "axes": {"adc_bits": {"values": [2, 8], "scores": [0.42, 0.94]}}}
    fig = mnn_sweep_figure(result)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy (%)" and ax.get_xlabel() == "ADC bits"
    curve, float_line, ideal_line = ax.get_lines()
    assert list(curve.get_ydata()) == pytest.approx([42.0, 94.0])
    assert list(float_line.get_ydata()) == pytest.approx([97.0, 97.0]) and ideal_line.get_ydata()[0] == 95.0
    plt.close(fig)


def test_spiking_network_sweep_decodes_its_output(images):
    snn = trained_like(snnc.compile(TINY, target="snn"))
    spk, mem = snn(images)
    labels = snn.decode(spk, mem).argmax(1)
    result = mnn_sweep(snn, classification_accuracy([(images, labels)]), OPTIONS, {"conductance_states": [256]},
                       progress=False)
    assert 0.0 <= result["axes"]["conductance_states"]["scores"][0] <= 1.0 and result["float"] == 1.0


def test_classification_accuracy_reads_at_most_max_batches(ann, images):
    labels = ann(images).argmax(1)
    wrong = (labels + 1) % 5
    score = classification_accuracy([(images, labels), (images, wrong)], max_batches=1)
    assert score(ann) == 1.0
    assert classification_accuracy([(images, labels), (images, wrong)])(ann) == 0.5
    assert ann.training is False  # the one evaluation loop restores the mode it found


def test_unknown_axis_is_refused_before_any_work(ann):
    calls = []
    with pytest.raises(UnsupportedError, match="Did you mean 'adc_bits'"):
        mnn_sweep(ann, lambda m: calls.append(m) or 0.0, None, ["adc_bit"], progress=False)
    assert calls == []
