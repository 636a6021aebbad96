"""Dataset readers (no download, ever) and the bundled MNIST sample.

Readers for the standard on-disk formats: MNIST and Fashion-MNIST IDX files (gzip or raw, also under
torchvision's ``MNIST/raw``), CIFAR-10 (the official python batches, read with a restricted unpickler, or the
``.npz`` subset), ISBI 2012 EM membrane segmentation (with crops for a small UNet on a CPU), a seeded Colored
MNIST for out-of-distribution tests, and torchvision's ImageFolder layout. A missing dataset is a
:class:`~snnc.compiler.errors.DataError` naming the files needed and the folders searched.

Each dataset is one registered entry (:class:`DatasetEntry`: its facts, validated options and reader) in the
module of its reader, found by name in :data:`DATASETS`; a bad option is an
:class:`~snnc.compiler.targets.base.OptionsError` naming it.

Typical use::

    from snnc.runtime.data import load_dataset, split_train_val, make_loader

    train = load_dataset("mnist-sample", "train", normalize=True)      # bundled, 2,000 real MNIST images
    train, val = split_train_val(train, val_fraction=0.1, seed=0)
    for x, y in make_loader(train, batch_size=128, shuffle=True, seed=0):
        ...                                                             # x: float32 B x 1 x 28 x 28
"""

from .base import ImageDataset
from .cifar import SafeUnpickler, read_batch, safe_load_pickle
from .colored import ColoredMNIST, colorize, make_colored_mnist
from .fit import check_fits, load_for
from .folder import ImageFolderDataset, load_image_folder
from .idx import read_idx, write_idx
from .isbi import ISBI2012Dataset, load_isbi2012
from .loaders import make_loader, split_train_val
from .locate import ENV_VAR, repository_data_root
from .entry import DatasetEntry, DatasetOptions
from .registry import (DATASETS, INFOS, DatasetInfo, clear_cache, dataset_entry, dataset_info, dataset_options,
                       load_dataset)

DATASET_NAMES = DATASETS.names()
"""Every name :func:`load_dataset` takes."""

__all__ = [
    "check_fits",
    "load_for",
    "DATASETS",
    "DATASET_NAMES",
    "ENV_VAR",
    "ColoredMNIST",
    "DatasetEntry",
    "DatasetInfo",
    "DatasetOptions",
    "ISBI2012Dataset",
    "ImageDataset",
    "ImageFolderDataset",
    "SafeUnpickler",
    "clear_cache",
    "colorize",
    "dataset_entry",
    "dataset_info",
    "dataset_options",
    "load_dataset",
    "load_image_folder",
    "load_isbi2012",
    "make_colored_mnist",
    "make_loader",
    "read_batch",
    "read_idx",
    "repository_data_root",
    "safe_load_pickle",
    "split_train_val",
    "write_idx",
]
