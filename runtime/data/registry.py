"""The datasets by name: one :class:`~.entry.DatasetEntry` per name, each in the module of its reader.

:func:`load_dataset` looks a name up in :data:`DATASETS` (a lazy registry, as targets are: an entry's module is
imported on first use), validates the options with the entry's ``Options`` and calls its reader. Adding a
dataset is an entry in its reader's module and one line here; nothing here changes at run time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Literal, Mapping

from snnc.compiler.errors import DataError, did_you_mean
from snnc.compiler.registry import Registry

from .entry import DatasetEntry, DatasetInfo, DatasetOptions
from .irm_colored import IRM_POOLS  # noqa: F401 - importable from here, as before

SPLITS = ("train", "test")

DATASETS: Registry[DatasetEntry] = Registry("dataset", {
    "mnist": "snnc.runtime.data.mnist:MNIST",
    "fashion-mnist": "snnc.runtime.data.mnist:FASHION_MNIST",
    "cifar10": "snnc.runtime.data.cifar:CIFAR10",
    "mnist-sample": "snnc.runtime.data.mnist:MNIST_SAMPLE",
    "colored-mnist": "snnc.runtime.data.colored:COLORED_MNIST",
    "irm-colored-mnist": "snnc.runtime.data.irm_colored:IRM_COLORED_MNIST",
    "grey-colored-mnist": "snnc.runtime.data.irm_colored:GREY_COLORED_MNIST",
    "isbi2012": "snnc.runtime.data.isbi:ISBI2012",
    "image-folder": "snnc.runtime.data.folder:IMAGE_FOLDER",
})
"""Dataset name → :class:`~.entry.DatasetEntry`."""

_ALIASES = {"irm-cmnist": "irm-colored-mnist",
            "fashion": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10", "isbi": "isbi2012",
            "isbi-2012": "isbi2012", "imagefolder": "image-folder", "folder": "image-folder"}


class _Infos(Mapping[str, DatasetInfo]):
    """Name → :class:`DatasetInfo` of every registered dataset, read from :data:`DATASETS` (read-only)."""

    def __getitem__(self, name: str) -> DatasetInfo:
        if name not in DATASETS:
            raise KeyError(name)
        return DATASETS.get(name).info

    def __iter__(self) -> Iterator[str]:
        return iter(DATASETS)

    def __len__(self) -> int:
        return len(DATASETS)


INFOS: Mapping[str, DatasetInfo] = _Infos()
"""Dataset name → its facts (a view of :data:`DATASETS`)."""


def canonical_name(name: str) -> str:
    """The registry key for a user-written name (case, ``_``/``-`` and a few aliases forgiven).

    Raises:
        DataError: unknown name; the message lists the known names and the closest ones.
    """
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset '{name}'.{did_you_mean(key, DATASETS)} Known datasets: "
                        f"{', '.join(DATASETS)}.")
    return key


def dataset_entry(name: str) -> DatasetEntry:
    """The registered entry of a dataset (its info, options model and reader).

    Raises:
        DataError: unknown name (with a did-you-mean).
    """
    return DATASETS.get(canonical_name(name))


def dataset_info(name: str) -> DatasetInfo:
    """The facts of a dataset: channels, size, classes, normalisation statistics, counts.

    Args:
        name: a dataset name (see :data:`DATASETS`).

    Returns:
        Its :class:`DatasetInfo`.

    Raises:
        DataError: unknown name (with a did-you-mean).
    """
    return dataset_entry(name).info


def dataset_options(name: str) -> dict[str, object]:
    """The options a dataset takes, with their defaults (e.g. ISBI's ``crop``).

    Raises:
        DataError: unknown name.
    """
    return dataset_entry(name).defaults()


def load_dataset(name: str, split: Literal["train", "test"] = "train", data_dir: Path | str | None = None, *,
                 normalize: bool = False, limit: int | None = None, **options: Any):
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
        **options: the dataset's options (its entry's ``Options``; see :func:`dataset_options`):
            ``colored-mnist`` takes ``correlation``, ``test_colors``, ``seed``, ``base``; ``irm-colored-mnist``
            takes ``envs``, ``test_envs``, ``gap``, ``label_noise``, ``size``, ``channels``, ``per_env``, ``seed``,
            ``base``, ``pool`` (items are ``(x, y, env)``, see :mod:`snnc.runtime.data.irm_colored`);
            ``grey-colored-mnist`` takes ``target_flip``, ``grey``, ``source_label_noise`` and the same but the
            environments; ``isbi2012`` takes ``crop``, ``tiling``, ``crops_per_slice``, ``test_slices``,
            ``seed``; ``image-folder`` takes ``mode``.

    Returns:
        A map-style ``torch.utils.data.Dataset``.

    Raises:
        DataError: unknown name or split, or files missing or malformed; the message says which files are needed,
            where it looked and how to point ``--data-dir`` at them.
        OptionsError: an option this dataset does not take (with did-you-mean), or a bad option value (named).
    """
    entry = dataset_entry(name)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' of {entry.name}: use 'train' or 'test' (split_train_val makes a "
                        "validation set from train).")
    return entry.load(split, data_dir, normalize=normalize, limit=limit, options=options)


def clear_cache() -> None:
    """Forget every decoded dataset kept in memory (they are re-read from disk on the next load)."""
    from . import bundled, cifar, idx, isbi

    for cached in (idx._read_pair, cifar._load_folder, isbi._load, bundled._read):
        cached.cache_clear()


__all__ = ["DATASETS", "INFOS", "SPLITS", "DatasetEntry", "DatasetInfo", "DatasetOptions", "canonical_name",
           "clear_cache", "dataset_entry", "dataset_info", "dataset_options", "load_dataset"]
