"""Fixtures of the training and evaluation tests: a tiny spiking spec and quick training settings.

Nothing here is autouse: the dataset tests in ``tests/runtime/data`` are not affected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SPEC = """\
name: tiny_fc
input: {{shape: [1, 28, 28], range: [0, 1]}}
task: {{kind: classification, classes: 10}}
timesteps: 4
neuron: {{model: leaky, beta: 0.9, threshold: 1.0, reset: subtract, surrogate: atan, slope: 2.0}}
encoding: {encoding}
decoding: {decoding}
layers:
  - {{kind: flatten}}
  - {{name: fc1, kind: linear, out_features: 32}}
  - {{name: lif1, kind: spike}}
  - {{name: fc2, kind: linear, out_features: 10}}
  - {{name: lif2, kind: spike}}
"""

QUICK = {"epochs": 2, "batch_size": 32, "lr": 5e-3, "limit_train": 160, "limit_test": 64, "progress": False,
         "plots": False}
"""Settings for a training run of about a second on the bundled sample."""


@pytest.fixture
def tiny_spec(tmp_path):
    """A factory writing the tiny 784-32-10 spec (4 steps) with a given encoding and decoding; returns its path."""

    def make(encoding: str = "direct", decoding: str = "rate") -> Path:
        path = tmp_path / f"tiny_{encoding}_{decoding}.yaml"
        path.write_text(TINY_SPEC.format(encoding=encoding, decoding=decoding))
        return path

    return make


@pytest.fixture
def quick() -> dict:
    """A copy of :data:`QUICK`."""
    return dict(QUICK)
