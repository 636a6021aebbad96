"""What ``snnc compile`` says of the module it built: parameter counts and the burst target's charged layers."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from snnc.cli import app

from .conftest import SPECS

runner = CliRunner()


@pytest.fixture(scope="module")
def ann_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ann") / "ann.pt"
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "-o", str(path), "-q"])
    assert result.exit_code == 0, result.output
    return path


def test_burst_lists_only_synaptic_layers_as_charged_by_macs(ann_checkpoint):
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "-t", "burst", "-q", "-c",
                                 str(ann_checkpoint), "--calibration", "mnist-sample:32", "-T", "4"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    charged = re.search(r"synaptic layers with analog input \(charged as MACs\): (.*)", result.output)
    assert charged, result.output
    # mnist_conv: conv1 sees the image; pool1 is LIPool, lif1-3 are neurons: none of them is charged MACs
    assert charged.group(1).strip() == "conv1"


def test_mnn_counts_the_weights_it_programmed(ann_checkpoint):
    pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "-t", "mnn", "-q", "-c",
                                 str(ann_checkpoint)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert " 0 parameters" not in result.output
    # conv1 12·25+12, conv2 64·300+64, fc1 10·1024+10
    assert f"{312 + 19264 + 10250:,} weights programmed, no trainable parameters" in result.output
