"""Shared test helpers: where the repository, its specs and the shared datasets are."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
TEST_SPECS = REPO / "tests" / "specs"


def shared_data_dir() -> Path:
    """The real datasets: ``SNNC_DATA_DIR`` or the repository's ``../shared/data``."""
    env = os.environ.get("SNNC_DATA_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture
def repo() -> Path:
    return REPO


def assert_same_run(got, want, what: object = None) -> None:
    """Two runs of one network that lay the batch out differently (time steps folded into the batch, chunks of
    steps, blocks of rows) agree to float64 rounding. Not bit for bit: a BLAS may sum a matrix product in
    another order for another number of rows (CI's CPU did, by 1e-7 in float32, where this machine's did not),
    so the tests that compare layouts run in float64, where such a difference cannot flip a spike, and allow
    1e-12."""
    import torch

    assert got.dtype == want.dtype == torch.float64, "compare layouts in float64 (see assert_same_run)"
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, msg=lambda m: f"{what}: {m}" if what else m)


TINY_CNN = """\
name: tiny_cnn
input: {shape: [1, 28, 28], range: [0, 1]}
task: {kind: classification, classes: 10}
layers:
  - {name: conv1, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: pool1, kind: maxpool2d, kernel_size: 2}
  - {name: lif1, kind: spike}
  - {kind: flatten}
  - {name: fc, kind: linear, out_features: 10}
"""
"""A conv net of a few hundred weights on 28×28 inputs (CLI tests)."""

TINY_CROSSBARS = """\
name: tiny_xbar
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
"""A net of a few hundred weights whose conv and linear layers fit small crossbar tiles (mnn tests)."""


EXPECT = re.compile(r"^# expect: (\d+):(\d+) ?([^|]*?) ?\| (.+)$")
"""A header line of an invalid spec or study file: ``# expect: LINE:COL PATH | MESSAGE``."""


def expectations(path: Path) -> list[tuple[int, int, str, str]]:
    """The ``(line, column, path, message)`` of each ``# expect:`` header of an invalid file."""
    out = []
    for line in path.read_text().splitlines():
        m = EXPECT.match(line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3).strip(), m.group(4).strip()))
    assert out, f"{path.name} has no '# expect:' header"
    return out
