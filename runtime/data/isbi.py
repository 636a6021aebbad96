"""ISBI 2012 EM membrane segmentation: 30 labelled 512 x 512 slices, cut into crops a small UNet trains on a CPU.

Files (folder ``isbi2012-em-membranes``): ``isbi2012_train_30x512x512.npz`` with ``images`` and ``labels``, both
uint8 ``30 x 512 x 512``; or, without the ``.npz``, the same pixels as ``train/images/<i>.png`` and
``train/labels/<i>.png``. In the labels 0 is membrane and 255 cell interior; the target returned here is
1 on membrane, 0 elsewhere (``labels < 128``), so the class of interest (22 % of pixels) is the positive one.

Split: the last ``test_slices`` slices (default 5: slices 25..29) are the test split, the others train.
Why contiguous: neighbouring serial sections look alike, so a random hold-out would leak the train slices'
structures into the test set.

Crops: ``crop=None`` returns whole slices. With ``crop=c``, ``tiling="grid"`` (the test default) returns every
``c x c`` tile of every slice in order, the last row and column shifted to end at the border; ``tiling="random"``
(the train default) returns ``crops_per_slice`` crops per slice at positions drawn from a ``torch.Generator``
seeded with ``seed`` — deterministic for a given seed and reading order, and different from epoch to epoch.
Inside DataLoader workers each worker reseeds from its own worker seed (itself drawn from the loader's seeded
generator), so workers do not repeat each other's crops.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field
from torch.utils.data import Dataset, get_worker_info

from snnc.compiler.errors import DataError

from .base import normalizer
from .entry import DatasetEntry, DatasetInfo, DatasetOptions
from .locate import candidate_dirs, find_dir

FOLDER = "isbi2012-em-membranes"
NPZ_NAME = "isbi2012_train_30x512x512.npz"
MEAN, STD = (0.4948,), (0.1726,)
"""Grey-level statistics of the 30 slices (pixel / 255)."""
CLASS_NAMES = ("cell interior", "membrane")

Tiling = Literal["grid", "random"]


def _has_pngs(folder: Path) -> bool:
    return any((folder / "train" / "images").glob("*.png")) and (folder / "train" / "labels").is_dir()


def _read_pngs(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    stacks = []
    for kind in ("images", "labels"):
        files = sorted((folder / "train" / kind).glob("*.png"), key=lambda p: (len(p.stem), p.stem))
        try:
            stacks.append(np.stack([np.asarray(Image.open(f).convert("L")) for f in files]))
        except Exception as exc:
            raise DataError(f"{folder / 'train' / kind}: cannot read the PNG slices ({exc}).") from exc
    return stacks[0], stacks[1]


@functools.lru_cache(maxsize=2)
def _load(folder: Path, _stat: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    if (folder / NPZ_NAME).is_file():
        path = folder / NPZ_NAME
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "images" not in npz.files or "labels" not in npz.files:
                    raise DataError(f"{path}: needs arrays 'images' and 'labels', found {sorted(npz.files)}.")
                images, labels = npz["images"], npz["labels"]
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc}).") from exc
    else:
        path = folder / "train"
        images, labels = _read_pngs(folder)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape != labels.shape:
        raise DataError(f"{path}: images and labels must be uint8 S x H x W of the same shape, found "
                        f"{images.shape} {images.dtype} and {labels.shape} {labels.dtype}.")
    return torch.from_numpy(images.copy()), torch.from_numpy((labels < 128).astype(np.int64))


def load_isbi_arrays(data_dir: Path | str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Find and read all 30 slices.

    Args:
        data_dir: the user's ``--data-dir``, or None for the default roots.

    Returns:
        ``(images, masks)``: uint8 ``S x H x W`` and int64 ``S x H x W`` (1 = membrane).

    Raises:
        DataError: the files are missing (the message names them) or malformed.
    """
    folder = find_dir(
        "ISBI 2012 EM membranes",
        candidate_dirs(data_dir, FOLDER),
        lambda path: (path / NPZ_NAME).is_file() or _has_pngs(path),
        f"{NPZ_NAME} (or the PNG slices train/images/<i>.png and train/labels/<i>.png)",
    )
    stat = tuple((p.name, p.stat().st_mtime_ns) for p in [folder / NPZ_NAME] if p.is_file())
    return _load(folder, stat)


def _starts(length: int, crop: int) -> list[int]:
    starts = list(range(0, length - crop + 1, crop))
    if starts[-1] + crop < length:
        starts.append(length - crop)
    return starts


class ISBI2012Dataset(Dataset):
    """EM slices and membrane masks: item ``i`` is ``(float32 1 x h x w image, int64 h x w mask)``.

    Attributes:
        images: uint8 ``S x H x W`` slices of this split.
        masks: int64 ``S x H x W``, 1 on membrane.
        slice_ids: the index of each slice among the 30.
        crop, tiling, crops_per_slice, seed: see the module docstring.
        classes: ``("cell interior", "membrane")``.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, slice_ids: list[int], *,
                 crop: int | None = None, tiling: Tiling = "grid", crops_per_slice: int | None = None,
                 seed: int = 0, normalize: bool = False, limit: int | None = None):
        """Cut slices into items.

        Args:
            images: uint8 ``S x H x W``.
            masks: int64 ``S x H x W``.
            slice_ids: the original index of each slice.
            crop: side of a square crop, or None for whole slices.
            tiling: ``"grid"`` or ``"random"`` crops.
            crops_per_slice: random crops per slice per epoch (default: as many as grid tiles).
            seed: seed of the random crop positions.
            normalize: return ``(x - mean) / std``.
            limit: keep only the first ``limit`` items.

        Raises:
            ValueError: a crop larger than a slice or not positive, an unknown tiling, a negative limit.
        """
        height, width = images.shape[1:]
        if crop is not None and not 0 < crop <= min(height, width):
            raise ValueError(f"crop must be in 1..{min(height, width)}, got {crop}")
        if tiling not in ("grid", "random"):
            raise ValueError(f"tiling must be 'grid' or 'random', got {tiling!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.images, self.masks, self.slice_ids = images, masks, list(slice_ids)
        self.crop, self.tiling, self.seed = crop, tiling, seed
        self.classes = CLASS_NAMES
        self.mean, self.std, self.normalize = MEAN, STD, normalize
        self._mean, self._std = normalizer(MEAN, STD)
        if crop is None:
            self._tiles = [(s, 0, 0) for s in range(len(images))]
        else:
            self._tiles = [(s, y, x) for s in range(len(images))
                           for y in _starts(height, crop) for x in _starts(width, crop)]
        per_slice = len(self._tiles) // max(len(images), 1)
        self.crops_per_slice = crops_per_slice if crops_per_slice is not None else per_slice
        self._length = len(images) * self.crops_per_slice if crop and tiling == "random" else len(self._tiles)
        if limit is not None:
            self._length = min(self._length, limit)
        self._generator = torch.Generator().manual_seed(seed)
        self._worker_seeded: int | None = None

    def __len__(self) -> int:
        return self._length

    def _position(self, index: int) -> tuple[int, int, int]:
        if self.crop is None or self.tiling == "grid":
            return self._tiles[index]
        worker = get_worker_info()
        if worker is not None and self._worker_seeded != worker.id:
            self._generator.manual_seed(worker.seed)
            self._worker_seeded = worker.id
        height, width = self.images.shape[1:]
        y = int(torch.randint(0, height - self.crop + 1, (), generator=self._generator))
        x = int(torch.randint(0, width - self.crop + 1, (), generator=self._generator))
        return index % len(self.images), y, x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        s, y, x = self._position(index % len(self))
        h = self.crop or self.images.shape[1]
        w = self.crop or self.images.shape[2]
        image = self.images[s, y:y + h, x:x + w].float().div_(255.0).unsqueeze(0)
        if self.normalize:
            image = (image - self._mean) / self._std
        return image, self.masks[s, y:y + h, x:x + w].clone()

    def __repr__(self) -> str:
        size = f"{self.crop}x{self.crop} {self.tiling} crops" if self.crop else "whole slices"
        return f"ISBI2012Dataset({len(self)} items, slices {self.slice_ids}, {size})"


def load_isbi2012(data_dir: Path | str | None, split: str, *, crop: int | None = None,
                  tiling: Tiling | None = None, crops_per_slice: int | None = None, test_slices: int = 5,
                  seed: int = 0, normalize: bool = False, limit: int | None = None) -> ISBI2012Dataset:
    """One split of ISBI 2012 (see the module docstring for the split and the crops).

    Args:
        data_dir: the user's ``--data-dir``, or None for the default roots.
        split: ``"train"`` or ``"test"``.
        crop: side of square crops (e.g. 64 or 128), or None for whole 512 x 512 slices.
        tiling: ``"random"`` or ``"grid"``; default random for train, grid for test.
        crops_per_slice: random crops per slice per epoch.
        test_slices: how many of the last slices form the test split.
        seed: seed of the random crop positions.
        normalize: return normalised images.
        limit: keep only the first ``limit`` items.

    Returns:
        The dataset.

    Raises:
        DataError: files missing or malformed.
        ValueError: ``test_slices`` leaves no slice for a split, or a bad crop/tiling.
    """
    images, masks = load_isbi_arrays(data_dir)
    n = len(images)
    if not 0 < test_slices < n:
        raise ValueError(f"test_slices must be in 1..{n - 1}, got {test_slices}")
    ids = list(range(n - test_slices, n)) if split == "test" else list(range(n - test_slices))
    chosen = torch.tensor(ids)
    return ISBI2012Dataset(images[chosen], masks[chosen], ids, crop=crop,
                           tiling=tiling or ("random" if split == "train" else "grid"),
                           crops_per_slice=crops_per_slice, seed=seed, normalize=normalize, limit=limit)


# --- the registered dataset -----------------------------------------------------------------------------------


class ISBIOptions(DatasetOptions):
    """The options of ``isbi2012`` (see :func:`load_isbi2012`; the upper bounds depend on the files)."""

    crop: Optional[int] = Field(default=None, ge=1)
    tiling: Optional[Tiling] = None
    crops_per_slice: Optional[int] = Field(default=None, ge=1)
    test_slices: int = Field(default=5, ge=1)
    seed: int = 0


def _read(split: str, data_dir, normalize: bool, limit: int | None, options: ISBIOptions) -> ISBI2012Dataset:
    return load_isbi2012(data_dir, split, **options.model_dump(), normalize=normalize, limit=limit)


ISBI2012 = DatasetEntry(DatasetInfo(
    name="isbi2012", title="ISBI 2012 EM membranes", task="segmentation", channels=1, size=(512, 512),
    class_names=CLASS_NAMES, mean=MEAN, std=STD, counts={"train": 25, "test": 5}, folder=FOLDER,
    license="none stated; cite Cardona et al. 2010, Arganda-Carreras et al. 2015"), _read, ISBIOptions)
"""``isbi2012``: EM slices and membrane masks, cropped for a small UNet."""
