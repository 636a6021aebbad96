"""Shared fixtures of the dataset tests: small real files written to tmp_path from the bundled MNIST sample."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.runtime.data import ENV_VAR, write_idx
from snnc.runtime.data.bundled import SAMPLE_PATH


@pytest.fixture(autouse=True)
def _no_env_root(monkeypatch):
    # Why: a developer's SNNC_DATA_DIR must not change what these tests find.
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def sample():
    """The bundled sample's arrays (uint8 images, uint8 labels)."""
    with np.load(SAMPLE_PATH) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture
def idx_dir(tmp_path, sample):
    """A folder with real MNIST IDX files (gzip): 100 train and 50 test images from the sample."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", sample["x_train"][:100])
    write_idx(folder / "train-labels-idx1-ubyte.gz", sample["y_train"][:100])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", sample["x_test"][:50])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", sample["y_test"][:50])
    return folder
