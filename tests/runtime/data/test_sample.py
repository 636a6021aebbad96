"""The bundled MNIST sample: shapes, labels, and that the maker rebuilds it exactly."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from snnc.compiler.errors import DataError
from snnc.runtime.data import dataset_info, load_dataset, write_idx
from snnc.runtime.data.bundled import SAMPLE_PATH
from snnc.runtime.data.make_sample import make_sample

TRAIN_COUNTS = [191, 220, 198, 191, 214, 180, 200, 224, 172, 210]  # as stated in sample/README.md
TEST_COUNTS = [42, 67, 55, 45, 55, 50, 43, 49, 40, 54]


def test_sample_is_small_and_documented():
    assert SAMPLE_PATH.stat().st_size < 1_500_000
    readme = (SAMPLE_PATH.parent / "README.md").read_text()
    assert "sample" in readme and "CC BY-SA 3.0" in readme and "make_sample" in readme
    assert hashlib.sha256(SAMPLE_PATH.read_bytes()).hexdigest() in readme


@pytest.mark.parametrize(("split", "counts"), [("train", TRAIN_COUNTS), ("test", TEST_COUNTS)])
def test_sample_loads_with_shapes_and_labels(split, counts):
    data = load_dataset("mnist-sample", split)
    assert len(data) == sum(counts) == dataset_info("mnist-sample").counts[split]
    x, y = data[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert torch.bincount(data.targets, minlength=10).tolist() == counts
    assert y == (5 if split == "train" else 7)  # MNIST's first training digit is a 5, its first test digit a 7


def test_sample_normalisation_uses_mnist_statistics():
    raw, norm = load_dataset("mnist-sample", "train")[0][0], load_dataset("mnist-sample", "train", normalize=True)[0][0]
    torch.testing.assert_close(norm, (raw - 0.1307) / 0.3081)


def test_limit_keeps_the_first_samples():
    assert len(load_dataset("mnist-sample", "test", limit=10)) == 10


def test_make_sample_rebuilds_the_bundled_arrays(tmp_path, sample):
    source = tmp_path / "mnist"
    source.mkdir()
    for split, stem in (("train", "train"), ("test", "t10k")):
        write_idx(source / f"{stem}-images-idx3-ubyte.gz", sample[f"x_{split}"])
        write_idx(source / f"{stem}-labels-idx1-ubyte", sample[f"y_{split}"])
    out = make_sample(source, tmp_path / "rebuilt.npz")
    assert out.read_bytes() == SAMPLE_PATH.read_bytes()
    with np.load(out) as rebuilt:
        np.testing.assert_array_equal(rebuilt["train_index"], np.arange(2000))


def test_missing_sample_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="MNIST sample not found: it needs mnist_sample.npz in"):
        load_dataset("mnist-sample", "train", tmp_path)
