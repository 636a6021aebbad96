"""The MNIST family: ``mnist``, ``fashion-mnist`` (IDX files) and ``mnist-sample`` (bundled with snnc).

Each is a :class:`~.entry.DatasetEntry` without options; :func:`grey_mnist` is the grey digits the datasets
made from MNIST (Colored MNIST, IRM Colored MNIST) start from, from MNIST's files or the bundled sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import ImageDataset
from .bundled import load_sample_arrays
from .entry import DatasetEntry, DatasetInfo
from .idx import find_mnist_folder, read_mnist_split

DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
MNIST_LICENSE = "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)"


def grey_mnist(split: str, data_dir: Path | str | None, base: str, title: str):
    """Grey MNIST ``(uint8 N x 28 x 28 images, labels)`` of a split, for a dataset made from it.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: the user's ``--data-dir`` (or None).
        base: ``"mnist"`` (MNIST's IDX files) or ``"mnist-sample"`` (the bundled sample).
        title: the dataset made from it, for the message when the files are missing.

    Raises:
        DataError: MNIST's files are missing. ValueError: another ``base``.
    """
    if base == "mnist":
        folder = find_mnist_folder(data_dir, "mnist", "MNIST/raw", f"MNIST (for {title})", split)
        return read_mnist_split(folder, split)
    if base == "mnist-sample":
        return load_sample_arrays(split, data_dir)
    raise ValueError(f"base must be 'mnist' or 'mnist-sample', got {base!r}")


def _idx_reader(info: DatasetInfo, layout: str):
    """The reader of an IDX dataset in ``<info.folder>`` or torchvision's ``layout`` (``MNIST/raw``)."""

    def read(split: str, data_dir: Path | None, normalize: bool, limit: int | None, options: Any) -> ImageDataset:
        folder = find_mnist_folder(data_dir, info.folder, layout, info.title, split)
        images, labels = read_mnist_split(folder, split)
        return ImageDataset(images.unsqueeze(1), labels, info.class_names, info.mean, info.std,
                            normalize=normalize, limit=limit)

    return read


def _read_sample(split: str, data_dir: Path | None, normalize: bool, limit: int | None, options: Any) -> ImageDataset:
    info = SAMPLE_INFO
    images, labels = load_sample_arrays(split, data_dir)
    return ImageDataset(images.unsqueeze(1), labels, info.class_names, info.mean, info.std, normalize=normalize,
                        limit=limit)


MNIST_INFO = DatasetInfo(
    name="mnist", title="MNIST", task="classification", channels=1, size=(28, 28), class_names=DIGITS,
    mean=(0.1307,), std=(0.3081,), counts={"train": 60000, "test": 10000}, folder="mnist", license=MNIST_LICENSE)

FASHION_INFO = DatasetInfo(
    name="fashion-mnist", title="Fashion-MNIST", task="classification", channels=1, size=(28, 28),
    class_names=FASHION_CLASSES, mean=(0.2860,), std=(0.3530,), counts={"train": 60000, "test": 10000},
    folder="fashion-mnist", license="MIT (Zalando SE)")

SAMPLE_INFO = DatasetInfo(
    name="mnist-sample", title="MNIST sample (bundled)", task="classification", channels=1, size=(28, 28),
    class_names=DIGITS, mean=(0.1307,), std=(0.3081,), counts={"train": 2000, "test": 500}, folder="sample",
    license=MNIST_LICENSE)

MNIST = DatasetEntry(MNIST_INFO, _idx_reader(MNIST_INFO, "MNIST/raw"))
FASHION_MNIST = DatasetEntry(FASHION_INFO, _idx_reader(FASHION_INFO, "FashionMNIST/raw"))
MNIST_SAMPLE = DatasetEntry(SAMPLE_INFO, _read_sample)
