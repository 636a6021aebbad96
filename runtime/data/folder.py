"""torchvision's ImageFolder layout: ``root/<class>/<image>.png``, optionally split as ``root/<split>/<class>/``.

Classes are the sub-folders that hold at least one image, sorted by name (label = position), as torchvision
does. Images are decoded with PIL when read and converted to ``mode`` (``"RGB"`` or ``"L"``), so folders of any
size work; for speed keep such sets small or convert them to arrays once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from snnc.compiler.errors import DataError

from .base import normalizer
from .entry import DatasetEntry, DatasetInfo, DatasetOptions

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
MEAN_HALF = 0.5
"""Folders have no known statistics; normalising with mean = std = 0.5 maps [0, 1] to [-1, 1]."""


class ImageFolderDataset(Dataset):
    """Images in class sub-folders: item ``i`` is ``(float32 C x H x W image, int label)``.

    Attributes:
        root: the folder holding the class folders.
        samples: ``(path, label)`` pairs, sorted by class then file name.
        targets: the labels, in the order of ``samples``.
        classes: the class folder names, index = label.
        mode: the PIL mode images are converted to.
    """

    def __init__(self, root: Path, samples: list[tuple[Path, int]], classes: tuple[str, ...], *,
                 mode: str = "RGB", normalize: bool = False):
        """Wrap an already scanned folder (use :func:`load_image_folder`)."""
        self.root, self.samples, self.classes, self.mode = root, samples, classes, mode
        self.targets = [label for _, label in samples]
        channels = 1 if mode == "L" else 3
        self.mean, self.std = (MEAN_HALF,) * channels, (MEAN_HALF,) * channels
        self.normalize = normalize
        self._mean, self._std = normalizer(self.mean, self.std)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                pixels = np.array(image.convert(self.mode), dtype=np.uint8)
        except Exception as exc:
            raise DataError(f"{path}: cannot read this image ({exc}).") from exc
        x = torch.from_numpy(pixels).float().div_(255.0)
        x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1).contiguous()
        if self.normalize:
            x = (x - self._mean) / self._std
        return x, label

    def __repr__(self) -> str:
        return f"ImageFolderDataset({len(self)} images, {len(self.classes)} classes, root={self.root})"


def load_image_folder(root: Path | str, split: str | None = None, *, mode: str = "RGB", normalize: bool = False,
                      limit: int | None = None) -> ImageFolderDataset:
    """Scan an ImageFolder-layout directory.

    Args:
        root: the folder; if ``root/<split>`` exists it is used instead (``root/train/<class>/...``).
        split: ``"train"``, ``"test"`` or None.
        mode: ``"RGB"`` (3 channels) or ``"L"`` (1 channel).
        normalize: return ``(x - 0.5) / 0.5``.
        limit: keep only the first ``limit`` images (in class order).

    Returns:
        The dataset.

    Raises:
        DataError: the folder is missing or holds no ``<class>/<image>`` files.
        ValueError: an unsupported mode or a negative limit.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    root = Path(root).expanduser()
    if split is not None and (root / split).is_dir():
        root = root / split
    layout = (f"{root}/<class>/<image>.png (one sub-folder per class; also .jpg, .bmp, ...)")
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist. It needs the layout {layout}. Point --data-dir "
                        "at the folder that holds the class folders; snnc never downloads data.")
    classes, samples = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if files:
            samples += [(f, len(classes)) for f in files]
            classes.append(class_dir.name)
    if not samples:
        raise DataError(f"image folder {root} holds no images. It needs the layout {layout}.")
    if limit is not None:
        samples = samples[:limit]
    return ImageFolderDataset(root, samples, tuple(classes), mode=mode, normalize=normalize)


# --- the registered dataset -----------------------------------------------------------------------------------


class FolderOptions(DatasetOptions):
    """The options of ``image-folder``: ``mode`` is ``RGB`` (3 channels) or ``L`` (grey, 1)."""

    mode: Literal["RGB", "L"] = "RGB"


def _read(split: str, data_dir, normalize: bool, limit: int | None, options: FolderOptions) -> ImageFolderDataset:
    if data_dir is None:
        raise DataError("the 'image-folder' dataset needs --data-dir: a folder laid out as <class>/<image>.png "
                        "(or <split>/<class>/<image>.png).")
    return load_image_folder(data_dir, split, mode=options.mode, normalize=normalize, limit=limit)


# Why size None: the images' size depends on the files, so the spec check is left to the reader.
IMAGE_FOLDER = DatasetEntry(DatasetInfo(
    name="image-folder", title="Image folder", task="classification", channels=3, size=None, class_names=(),
    mean=(MEAN_HALF,) * 3, std=(MEAN_HALF,) * 3, counts={}, folder="", license="that of the images"),
    _read, FolderOptions)
"""``image-folder``: torchvision's ImageFolder layout under ``--data-dir``."""
