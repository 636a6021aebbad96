"""CIFAR-10: the .npz subset and the official python batches round-trip; unsafe pickles are refused."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from snnc.compiler.errors import DataError
from snnc.runtime.data import load_dataset, read_batch, safe_load_pickle
from snnc.runtime.data.cifar import CLASS_NAMES


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def _write_batch(path, images_hwc: np.ndarray, labels, protocol: int = 2) -> None:
    # The official layout: a dict with bytes keys; rows are 1024 R, 1024 G, 1024 B values.
    rows = images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), 3072)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in labels], b"data": rows,
             b"filenames": [f"img_{i}.png".encode() for i in range(len(rows))]}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))


def _write_batches(folder, n: int = 4, protocol: int = 2):
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        images, labels = _images(n, seed=i), np.arange(i, i + n) % 10
        _write_batch(folder / name, images, labels, protocol)
        parts.append((images, labels))
    meta = {b"label_names": [c.encode() for c in CLASS_NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return parts


def test_npz_subset_round_trip(tmp_path):
    images, labels = _images(6), np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8)
    np.savez(tmp_path / "cifar10_subset_train4000_test1000.npz", x_train=images, y_train=labels,
             x_test=images[:2], y_test=labels[:2], class_names=np.array(CLASS_NAMES))
    train = load_dataset("cifar10", "train", tmp_path)
    assert len(train) == 6 and train.classes == CLASS_NAMES
    x, y = train[5]
    assert x.shape == (3, 32, 32) and y == 9
    torch.testing.assert_close(x, torch.from_numpy(images[5]).permute(2, 0, 1).float() / 255)
    assert len(load_dataset("cifar10", "test", tmp_path)) == 2


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python_batches_round_trip(tmp_path, protocol):
    parts = _write_batches(tmp_path / "cifar-10-batches-py", protocol=protocol)
    train = load_dataset("cifar10", "train", tmp_path)
    assert len(train) == 20 and train.classes == CLASS_NAMES
    x, y = train[5]  # batch 2, row 1
    torch.testing.assert_close(x, torch.from_numpy(parts[1][0][1]).permute(2, 0, 1).float() / 255)
    assert y == int(parts[1][1][1])
    test = load_dataset("cifar10", "test", tmp_path / "cifar-10-batches-py")
    assert [test[i][1] for i in range(4)] == parts[5][1].tolist()


def test_python2_module_names_are_accepted(tmp_path):
    # The original batches were pickled by Python 2 with numpy 1, which named numpy.core.multiarray.
    path = tmp_path / "data_batch_1"
    _write_batch(path, _images(3), [1, 2, 3], protocol=2)
    path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    images, labels = read_batch(path)
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == [1, 2, 3]


def test_batches_win_over_the_npz(tmp_path):
    _write_batches(tmp_path, n=2)
    np.savez(tmp_path / "cifar10_subset_train4000_test1000.npz", x_train=_images(7), y_train=np.zeros(7, np.uint8))
    assert len(load_dataset("cifar10", "train", tmp_path)) == 10


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _RunsCode(marker), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"refusing to unpickle '(posix|os)\.system'"):
        safe_load_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [(eval, ("1+1",)), (np.load, ("x.npy",)), (getattr, (np.ndarray, "tofile"))])
def test_any_other_global_is_refused(tmp_path, payload):
    class Reduce:
        def __reduce__(self):
            return payload

    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(Reduce(), protocol=4))
    with pytest.raises(DataError, match="refusing to unpickle"):
        read_batch(path)


def test_codecs_encode_only_for_latin1(tmp_path):
    import codecs

    class Reduce:
        def __reduce__(self):
            return codecs.encode, ("payload", "rot13")

    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(Reduce(), protocol=2))
    with pytest.raises(DataError, match="not a readable CIFAR-10 python batch"):
        read_batch(path)


def test_wrong_batch_layout_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DataError, match=r"'data' must be a uint8 array of N x 3072, found \(2, 100\)"):
        read_batch(path)


def test_not_a_pickle_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(DataError, match="not a readable CIFAR-10 python batch"):
        read_batch(path)


def test_npz_with_wrong_keys_is_refused(tmp_path):
    np.savez(tmp_path / "cifar10_subset_train4000_test1000.npz", images=_images(2))
    with pytest.raises(DataError, match="needs arrays 'x_train' and 'y_train'"):
        load_dataset("cifar10", "train", tmp_path)


def test_missing_cifar_names_both_layouts(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 \(test split\) not found.*test_batch.*cifar10_subset"):
        load_dataset("cifar10", "test", tmp_path)
