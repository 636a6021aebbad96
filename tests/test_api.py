"""The public API in :mod:`snnc`: the names users import, and what they do."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnc

from .conftest import SPECS


class _Hand(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1))


def test_public_names():
    for name in ("load_spec", "build_graph", "compile", "convert", "save", "load", "SpecError", "SnncError"):
        assert hasattr(snnc, name)


def test_convert_hand_written_and_spec_built():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28)
    hand = _Hand().eval()
    snn = snnc.convert(hand, x, gamma=3, timesteps=64)
    outs = snn.accumulate(x[:8], [8, 64])
    ref = hand(x[:8])
    assert (outs[64] - ref).abs().max() < (outs[8] - ref).abs().max()
    spec_built = snnc.compile(SPECS / "mnist_conv.yaml").eval()
    assert snnc.convert(spec_built, x, timesteps=8)(x[:2]).shape == (2, 10)


def test_convert_unknown_method():
    with pytest.raises(snnc.SnncError, match=r"target 'burst': option 'method': Input should be 'burst' or 'if' "
                                             r"\(got 'bust'\) \(did you mean 'burst'\?\)"):
        snnc.convert(_Hand(), torch.rand(2, 1, 28, 28), method="bust")


def test_snn_artifact_round_trip(tmp_path):
    snn = snnc.compile(SPECS / "mnist_conv.yaml", target="snn", timesteps=5)
    path = snnc.save(snn, tmp_path / "snn.pt")
    again = snnc.load(path)
    x = torch.rand(2, 1, 28, 28)
    for a, b in zip(snn(x), again(x)):
        assert a.shape[0] == 5
        torch.testing.assert_close(a, b)
