"""The dataset table: one entry per name, with its facts (:class:`DatasetInfo`) and its reader.

:func:`load_dataset` looks a name up here and calls the reader; nothing here changes at run time.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Literal, Mapping

from torch.utils.data import Dataset

from snnc.compiler.errors import DataError, did_you_mean

from . import bundled, cifar, colored, idx, irm_colored, isbi
from .base import ImageDataset
from .bundled import load_sample_arrays
from .cifar import CLASS_NAMES as CIFAR_CLASSES
from .cifar import load_cifar_arrays
from .folder import MEAN_HALF, load_image_folder
from .idx import find_mnist_folder, read_mnist_split

SPLITS = ("train", "test")

DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
MNIST_LICENSE = "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)"


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, without reading it.

    Attributes:
        name: the name :func:`load_dataset` takes.
        title: a display name.
        task: ``"classification"`` or ``"segmentation"``.
        channels: image channels (C of C x H x W).
        size: ``(H, W)`` of a whole image, or None when it depends on the files (image folders).
        class_names: label names, index = label (empty for image folders: see the dataset's ``classes``).
        mean, std: per-channel statistics of pixel/255 used by ``normalize=True``.
        counts: samples per split as shipped in ``shared/data`` (ISBI: whole slices before cropping).
        folder: the folder name under a data root.
        license: the data's licence, in short.
    """

    name: str
    title: str
    task: Literal["classification", "segmentation"]
    channels: int
    size: tuple[int, int] | None
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    counts: Mapping[str, int]
    folder: str
    license: str

    @property
    def num_classes(self) -> int:
        """The number of classes (2 for the membrane masks)."""
        return len(self.class_names)


def _info(**fields) -> DatasetInfo:
    return DatasetInfo(counts=MappingProxyType(fields.pop("counts")), **fields)


INFOS: Mapping[str, DatasetInfo] = MappingProxyType({
    "mnist": _info(name="mnist", title="MNIST", task="classification", channels=1, size=(28, 28),
                   class_names=DIGITS, mean=(0.1307,), std=(0.3081,), counts={"train": 60000, "test": 10000},
                   folder="mnist", license=MNIST_LICENSE),
    "fashion-mnist": _info(name="fashion-mnist", title="Fashion-MNIST", task="classification", channels=1,
                           size=(28, 28), class_names=FASHION_CLASSES, mean=(0.2860,), std=(0.3530,),
                           counts={"train": 60000, "test": 10000}, folder="fashion-mnist",
                           license="MIT (Zalando SE)"),
    # Why: the standard full-training-set statistics; the 4,000-image subset agrees to 0.003.
    "cifar10": _info(name="cifar10", title="CIFAR-10", task="classification", channels=3, size=(32, 32),
                     class_names=CIFAR_CLASSES, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
                     counts={"train": 4000, "test": 1000}, folder="cifar10",
                     license="none stated; cite Krizhevsky 2009"),
    "mnist-sample": _info(name="mnist-sample", title="MNIST sample (bundled)", task="classification",
                          channels=1, size=(28, 28), class_names=DIGITS, mean=(0.1307,), std=(0.3081,),
                          counts={"train": 2000, "test": 500}, folder="sample", license=MNIST_LICENSE),
    "colored-mnist": _info(name="colored-mnist", title="Colored MNIST", task="classification", channels=3,
                           size=(28, 28), class_names=DIGITS, mean=colored.MEAN, std=colored.STD,
                           counts={"train": 60000, "test": 10000}, folder="mnist", license=MNIST_LICENSE),
    # Why size None: 28x28 or 14x14 and two or three channels are options, so the spec check is left to the reader.
    "irm-colored-mnist": _info(name="irm-colored-mnist", title="Colored MNIST of IRM (binary, 25% label noise)",
                               task="classification", channels=2, size=None, class_names=irm_colored.CLASSES,
                               mean=(0.0,), std=(1.0,), counts={"train": 60000, "test": 10000}, folder="mnist",
                               license=MNIST_LICENSE),
    "grey-colored-mnist": _info(name="grey-colored-mnist", title="Grey MNIST → Colored MNIST (domain pair)",
                                task="classification", channels=2, size=None, class_names=irm_colored.CLASSES,
                                mean=(0.0,), std=(1.0,), counts={"train": 60000, "test": 10000}, folder="mnist",
                                license=MNIST_LICENSE),
    "isbi2012": _info(name="isbi2012", title="ISBI 2012 EM membranes", task="segmentation", channels=1,
                      size=(512, 512), class_names=isbi.CLASS_NAMES, mean=isbi.MEAN, std=isbi.STD,
                      counts={"train": 25, "test": 5}, folder=isbi.FOLDER,
                      license="none stated; cite Cardona et al. 2010, Arganda-Carreras et al. 2015"),
    "image-folder": _info(name="image-folder", title="Image folder", task="classification", channels=3, size=None,
                          class_names=(), mean=(MEAN_HALF,) * 3, std=(MEAN_HALF,) * 3, counts={}, folder="",
                          license="that of the images"),
})

_ALIASES = {"irm-cmnist": "irm-colored-mnist",
            "fashion": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10", "isbi": "isbi2012",
            "isbi-2012": "isbi2012", "imagefolder": "image-folder", "folder": "image-folder"}


def canonical_name(name: str) -> str:
    """The table key for a user-written name (case, ``_``/``-`` and a few aliases forgiven).

    Raises:
        DataError: unknown name; the message lists the known names and the closest ones.
    """
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in INFOS:
        raise DataError(f"unknown dataset '{name}'.{did_you_mean(key, INFOS)} Known datasets: "
                        f"{', '.join(INFOS)}.")
    return key


def dataset_info(name: str) -> DatasetInfo:
    """The facts of a dataset: channels, size, classes, normalisation statistics, counts.

    Args:
        name: a dataset name (see :data:`INFOS`).

    Returns:
        Its :class:`DatasetInfo`.

    Raises:
        DataError: unknown name (with a did-you-mean).
    """
    return INFOS[canonical_name(name)]


def _mnist_reader(name: str, layout: str) -> Callable[..., Dataset]:
    info = INFOS[name]

    def read(split: str, data_dir: Path | None, normalize: bool, limit: int | None) -> Dataset:
        folder = find_mnist_folder(data_dir, info.folder, layout, info.title, split)
        images, labels = read_mnist_split(folder, split)
        return ImageDataset(images.unsqueeze(1), labels, info.class_names, info.mean, info.std,
                            normalize=normalize, limit=limit)

    return read


def _read_sample(split: str, data_dir: Path | None, normalize: bool, limit: int | None) -> Dataset:
    info = INFOS["mnist-sample"]
    images, labels = load_sample_arrays(split, data_dir)
    return ImageDataset(images.unsqueeze(1), labels, info.class_names, info.mean, info.std, normalize=normalize,
                        limit=limit)


def _read_cifar(split: str, data_dir: Path | None, normalize: bool, limit: int | None) -> Dataset:
    info = INFOS["cifar10"]
    images, labels, names = load_cifar_arrays(data_dir, split)
    return ImageDataset(images, labels, names, info.mean, info.std, normalize=normalize, limit=limit)


def _read_colored(split: str, data_dir: Path | None, normalize: bool, limit: int | None, *,
                  correlation: float = 0.99, test_colors: colored.ColorMode = "random", seed: int = 0,
                  base: Literal["mnist", "mnist-sample"] = "mnist") -> Dataset:
    if base == "mnist":
        folder = find_mnist_folder(data_dir, "mnist", "MNIST/raw", "MNIST (for Colored MNIST)", split)
        images, labels = read_mnist_split(folder, split)
    elif base == "mnist-sample":
        images, labels = load_sample_arrays(split, data_dir)
    else:
        raise ValueError(f"base must be 'mnist' or 'mnist-sample', got {base!r}")
    return colored.make_colored_mnist(images, labels, split, correlation=correlation, test_colors=test_colors,
                                      seed=seed, normalize=normalize, limit=limit)


def _grey_digits(split: str, data_dir: Path | None, base: str, title: str):
    if base == "mnist":
        folder = find_mnist_folder(data_dir, "mnist", "MNIST/raw", f"MNIST (for {title})", split)
        return read_mnist_split(folder, split)
    if base == "mnist-sample":
        return load_sample_arrays(split, data_dir)
    raise ValueError(f"base must be 'mnist' or 'mnist-sample', got {base!r}")


IRM_POOLS = ("mnist", "irm-code")
"""Where IRM Colored MNIST's splits take their digits: ``mnist`` (train ← MNIST's training images, test ← its test
images) or ``irm-code`` (the IRM code's ``mnist.data[:50000]`` / ``[50000:]``: train ← the first five sixths of
the training images, test ← the last sixth, so figures compare with the IRM paper's directly)."""


def _irm_split(split: str, data_dir: Path | None, normalize: bool, limit: int | None, title: str, base: str,
               pool: str = "mnist", **options) -> Dataset:
    if normalize:
        raise DataError(f"{title} is read in [0, 1] only: give the spec input.range [0, 1].")
    if pool not in IRM_POOLS:
        raise ValueError(f"pool must be one of {', '.join(IRM_POOLS)}, got {pool!r}")
    if pool == "mnist":
        images, digits = _grey_digits(split, data_dir, base, title)
    else:
        # Why 5/6: MNIST's 60,000 training images split 50,000 / 10,000, as the IRM code's main.py does.
        images, digits = _grey_digits("train", data_dir, base, title)
        cut = len(images) * 5 // 6
        images, digits = (images[:cut], digits[:cut]) if split == "train" else (images[cut:], digits[cut:])
    data = irm_colored.build_split(images, digits, split, **options)
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        data = data.select(slice(0, limit))
    return data


def _read_irm_colored(split: str, data_dir: Path | None, normalize: bool, limit: int | None, *,
                      envs: tuple[float, ...] | None = None, test_envs: tuple[float, ...] = irm_colored.TEST_ENVS,
                      gap: str | None = None, label_noise: float = irm_colored.LABEL_NOISE, size: int = 28,
                      channels: irm_colored.Channels = "two", per_env: int | None = None, seed: int = 0,
                      base: Literal["mnist", "mnist-sample"] = "mnist",
                      pool: Literal["mnist", "irm-code"] = "mnist") -> Dataset:
    return _irm_split(split, data_dir, normalize, limit, "IRM Colored MNIST", base, pool, envs=envs,
                      test_envs=test_envs, gap=gap, label_noise=label_noise, size=size, channels=channels,
                      per_env=per_env, seed=seed)


def _read_grey_colored(split: str, data_dir: Path | None, normalize: bool, limit: int | None, *,
                       target_flip: float = 0.9, label_noise: float = irm_colored.LABEL_NOISE, size: int = 28,
                       channels: irm_colored.Channels = "two", per_env: int | None = None, seed: int = 0,
                       base: Literal["mnist", "mnist-sample"] = "mnist", grey: irm_colored.Grey = "all",
                       source_label_noise: float | None = None) -> Dataset:
    return _irm_split(split, data_dir, normalize, limit, "grey → Colored MNIST", base, test_envs=(target_flip,),
                      label_noise=label_noise, size=size, channels=channels, per_env=per_env, seed=seed,
                      grey_source=True, grey=grey, source_label_noise=source_label_noise)


def _read_isbi(split: str, data_dir: Path | None, normalize: bool, limit: int | None, *,
               crop: int | None = None, tiling: isbi.Tiling | None = None, crops_per_slice: int | None = None,
               test_slices: int = 5, seed: int = 0) -> Dataset:
    return isbi.load_isbi2012(data_dir, split, crop=crop, tiling=tiling, crops_per_slice=crops_per_slice,
                              test_slices=test_slices, seed=seed, normalize=normalize, limit=limit)


def _read_folder(split: str, data_dir: Path | None, normalize: bool, limit: int | None, *,
                 mode: str = "RGB") -> Dataset:
    if data_dir is None:
        raise DataError("the 'image-folder' dataset needs --data-dir: a folder laid out as <class>/<image>.png "
                        "(or <split>/<class>/<image>.png).")
    return load_image_folder(data_dir, split, mode=mode, normalize=normalize, limit=limit)


READERS: Mapping[str, Callable[..., Dataset]] = MappingProxyType({
    "mnist": _mnist_reader("mnist", "MNIST/raw"),
    "fashion-mnist": _mnist_reader("fashion-mnist", "FashionMNIST/raw"),
    "cifar10": _read_cifar,
    "mnist-sample": _read_sample,
    "colored-mnist": _read_colored,
    "irm-colored-mnist": _read_irm_colored,
    "grey-colored-mnist": _read_grey_colored,
    "isbi2012": _read_isbi,
    "image-folder": _read_folder,
})
"""Dataset name → reader ``(split, data_dir, normalize, limit, **options) -> Dataset``."""


def dataset_options(name: str) -> dict[str, object]:
    """The extra keyword options a dataset's reader takes, with their defaults (e.g. ISBI's ``crop``).

    Raises:
        DataError: unknown name.
    """
    params = inspect.signature(READERS[canonical_name(name)]).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def load_dataset(name: str, split: Literal["train", "test"] = "train", data_dir: Path | str | None = None, *,
                 normalize: bool = False, limit: int | None = None, **options) -> Dataset:
    """Read a dataset split from disk; nothing is ever downloaded.

    Items are ``(image, label)`` with the image float32 ``C x H x W`` in [0, 1] (or ``(x - mean) / std`` with
    ``normalize``); for ``isbi2012`` the second element is an int64 ``H x W`` mask (1 = membrane).

    Args:
        name: ``mnist``, ``fashion-mnist``, ``cifar10``, ``mnist-sample``, ``colored-mnist``,
            ``irm-colored-mnist``, ``grey-colored-mnist``, ``isbi2012`` or ``image-folder``.
        split: ``"train"`` or ``"test"`` (use :func:`split_train_val` for a validation set).
        data_dir: where the files are (the dataset folder or a root holding it). When None: the bundled file for
            ``mnist-sample``; otherwise ``$SNNC_DATA_DIR/<folder>``, then ``<repo>/../shared/data/<folder>``.
        normalize: normalise with the dataset's per-channel mean and std (see :func:`dataset_info`).
        limit: keep only the first ``limit`` samples.
        **options: per-dataset options (see :func:`dataset_options`): ``colored-mnist`` takes ``correlation``,
            ``test_colors``, ``seed``, ``base``; ``irm-colored-mnist`` takes ``envs``, ``test_envs``, ``gap``,
            ``label_noise``, ``size``, ``channels``, ``per_env``, ``seed``, ``base``, ``pool`` (see
            :data:`IRM_POOLS`; items are ``(x, y, env)``,
            see :mod:`snnc.runtime.data.irm_colored`); ``grey-colored-mnist`` takes ``target_flip``, ``grey``,
            ``source_label_noise`` and the same but the environments; ``isbi2012`` takes ``crop``, ``tiling``, ``crops_per_slice``,
            ``test_slices``, ``seed``; ``image-folder`` takes ``mode``.

    Returns:
        A map-style ``torch.utils.data.Dataset``.

    Raises:
        DataError: unknown name or split, or files missing or malformed; the message says which files are needed,
            where it looked and how to point ``--data-dir`` at them.
        ValueError: an option this dataset does not take, or a bad option value.
    """
    key = canonical_name(name)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' of {key}: use 'train' or 'test' (split_train_val makes a "
                        "validation set from train).")
    allowed = dataset_options(key)
    for option in options:
        if option not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise ValueError(f"dataset '{key}' has no option '{option}'.{did_you_mean(option, allowed)} "
                             f"Its options: {known}.")
    return READERS[key](split, data_dir, normalize, limit, **options)


def clear_cache() -> None:
    """Forget every decoded dataset kept in memory (they are re-read from disk on the next load)."""
    for cached in (idx._read_pair, cifar._load_folder, isbi._load, bundled._read):
        cached.cache_clear()
