"""Tiny networks for the mnn tests (a few hundred weights, small tiles, so MemTorch's own layers stay fast)."""

from __future__ import annotations

import pytest
import torch

import snnc

TINY = """
name: tiny
input: {shape: [1, 8, 8], range: [0, 1]}
task: {kind: classification, classes: 5}
timesteps: 4
neuron: {model: leaky, beta: 0.9, threshold: 0.5}
layers:
  - {name: conv1, kind: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  - {name: pool1, kind: maxpool2d, kernel_size: 2}
  - {name: lif1, kind: spike}
  - {name: flatten, kind: flatten}
  - {name: fc1, kind: linear, out_features: 5}
  - {name: lif2, kind: spike}
"""

SMALL_TILES = {"tile_shape": [8, 4]}
"""Several tiles per layer and padded ones (conv1: 9 rows x 3 columns; fc1: 48 x 5)."""


def trained_like(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give the module reproducible, non-trivial weights (a stand-in for training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module.eval()


@pytest.fixture
def ann():
    return trained_like(snnc.compile(TINY, target="ann"))


@pytest.fixture
def snn():
    return trained_like(snnc.compile(TINY, target="snn"))


@pytest.fixture
def images():
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
