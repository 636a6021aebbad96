"""IDX reading: gzip and raw files, torchvision's layout, and every malformed case as a DataError."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from snnc.compiler.errors import DataError
from snnc.runtime.data import load_dataset, read_idx, write_idx


def test_read_idx_from_hand_written_header(tmp_path, sample):
    images = sample["x_train"][:7]
    path = tmp_path / "images.idx"
    path.write_bytes(struct.pack(">BBBBIII", 0, 0, 0x08, 3, 7, 28, 28) + images.tobytes())
    np.testing.assert_array_equal(read_idx(path), images)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip_gzip_and_raw(tmp_path, sample, suffix):
    path = write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", sample["y_train"][:30])
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    np.testing.assert_array_equal(read_idx(path), sample["y_train"][:30])


def test_load_mnist_from_gzip_files(idx_dir, sample):
    train = load_dataset("mnist", "train", idx_dir)
    assert len(train) == 100
    x, y = train[3]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert y == int(sample["y_train"][3])
    torch.testing.assert_close(x[0], torch.from_numpy(sample["x_train"][3]).float() / 255)


def test_load_raw_files_in_torchvision_layout(tmp_path, sample):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", sample["x_test"][:20])
    write_idx(raw / "t10k-labels-idx1-ubyte", sample["y_test"][:20])
    test = load_dataset("mnist", "test", tmp_path)
    assert len(test) == 20
    assert [test[i][1] for i in range(20)] == sample["y_test"][:20].tolist()


def test_fashion_mnist_reads_the_same_format(tmp_path, sample):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", sample["x_train"][:10])
    write_idx(folder / "train-labels-idx1-ubyte.gz", sample["y_train"][:10])
    train = load_dataset("fashion-mnist", "train", tmp_path)
    assert len(train) == 10 and train.classes[9] == "Ankle boot"


def test_missing_files_name_the_files_and_folders(tmp_path):
    with pytest.raises(DataError, match=r"MNIST \(test split\) not found.*t10k-images-idx3-ubyte\.gz") as info:
        load_dataset("mnist", "test", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "--data-dir" in message and "never downloads" in message


def test_bad_magic_is_refused(idx_dir):
    (idx_dir / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x12\x34\x56\x78" + bytes(100)))
    with pytest.raises(DataError, match="not an IDX file.*0x12345678"):
        load_dataset("mnist", "train", idx_dir)


def test_truncated_file_is_refused(idx_dir):
    path = idx_dir / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_dataset("mnist", "train", idx_dir)


def test_corrupt_gzip_is_refused(idx_dir):
    path = idx_dir / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="cannot read or decompress"):
        load_dataset("mnist", "train", idx_dir)


def test_labels_and_images_swapped_is_refused(idx_dir):
    images, labels = idx_dir / "train-images-idx3-ubyte.gz", idx_dir / "train-labels-idx1-ubyte.gz"
    data = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(data)
    with pytest.raises(DataError, match="expected MNIST images \\(magic 2051"):
        load_dataset("mnist", "train", idx_dir)


def test_count_mismatch_is_refused(idx_dir, sample):
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", sample["y_train"][:99])
    with pytest.raises(DataError, match="holds 100 images but .* holds 99 labels"):
        load_dataset("mnist", "train", idx_dir)


def test_labels_out_of_range_are_refused(idx_dir):
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", np.full(100, 12, dtype=np.uint8))
    with pytest.raises(DataError, match="labels must be 0..9, found 12"):
        load_dataset("mnist", "train", idx_dir)


def test_wrong_image_size_is_refused(idx_dir):
    write_idx(idx_dir / "train-images-idx3-ubyte.gz", np.zeros((100, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"uint8 N x 28 x 28\), found magic 2051 with shape \(100, 32, 32\)"):
        load_dataset("mnist", "train", idx_dir)
