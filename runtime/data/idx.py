"""IDX files (LeCun's MNIST format, also Fashion-MNIST): read, validate, write.

An IDX file is a 4-byte magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the values in
row-major order. MNIST images are magic 2051 (``0x00000803``: uint8, 3 dims ``N x 28 x 28``) and labels 2049
(``0x00000801``: uint8, 1 dim ``N``). Files may be gzip-compressed (detected by content, not by name).

Reading decodes a whole file into one array at once; :func:`load_mnist_arrays` keeps the decoded tensors of a
split in a small per-process cache, so building several datasets over the same files decodes them once.
"""

from __future__ import annotations

import functools
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from snnc.compiler.errors import DataError

from .locate import candidate_dirs, find_dir

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}

SPLIT_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The file names (without ``.gz``) of each split of an MNIST-family dataset."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read or decompress it ({exc}).") from exc
    return raw


def read_idx(path: Path | str) -> np.ndarray:
    """Decode one IDX file, gzip-compressed or raw.

    Args:
        path: the file.

    Returns:
        A read-only array of the file's type and shape (big-endian types are returned as stored).

    Raises:
        DataError: the file cannot be read, is not IDX (bad magic), or its length disagrees with its header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        magic = int.from_bytes(raw[:4].ljust(4, b"\0"), "big")
        raise DataError(f"{path}: not an IDX file (magic number {magic:#010x}; MNIST images are 0x00000803, "
                        "labels 0x00000801).")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header ({len(raw)} bytes, the header alone needs {header}).")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: IDX header says shape {tuple(dims)} ({expected} bytes) but the file holds "
                        f"{len(raw)} bytes; it is truncated or corrupt.")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


def write_idx(path: Path | str, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write a uint8 or int8 array as an IDX file.

    Args:
        path: the file to write.
        array: the values (any number of dimensions).
        compress: gzip the file; by default when ``path`` ends in ``.gz``.

    Returns:
        The path written.

    Raises:
        ValueError: the array's type has no IDX code here (only uint8 and int8 are written).
    """
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype not in _TYPE_CODES:
        raise ValueError(f"write_idx writes uint8 or int8 arrays, not {array.dtype}")
    head = bytes([0, 0, _TYPE_CODES[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def split_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The images and labels files of one split in a folder.

    Args:
        folder: the folder to look in.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images_path, labels_path)`` (``.gz`` preferred over raw), or None when either is absent.
    """
    found = []
    for stem in SPLIT_STEMS[split]:
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            return None
    return found[0], found[1]


def read_mnist_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read and validate the images and labels of one split of an MNIST-family folder.

    Args:
        folder: a folder holding the split's two IDX files.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels)``: uint8 ``N x 28 x 28`` and int64 ``N``.

    Raises:
        DataError: a file is missing, not IDX, of the wrong kind or size, or the two disagree.
    """
    files = split_files(folder, split)
    if files is None:
        raise DataError(f"{folder}: missing {' or '.join(SPLIT_STEMS[split])} (.gz or raw).")
    return _read_pair(*files, *(_stat(f) for f in files))


def _magic(array: np.ndarray) -> int:
    code = next(c for c, t in _TYPES.items() if t == array.dtype)
    return (code << 8) | array.ndim


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=8)
def _read_pair(images_path: Path, labels_path: Path, _images_stat, _labels_stat) -> tuple[torch.Tensor, torch.Tensor]:
    # Why: the stats are part of the cache key, so a file rewritten on disk is decoded again.
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    magic_i, magic_l = _magic(images), _magic(labels)
    if magic_i != IMAGES_MAGIC or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected MNIST images (magic 2051, uint8 N x 28 x 28), found magic "
                        f"{magic_i} with shape {images.shape} {images.dtype}.")
    if magic_l != LABELS_MAGIC:
        raise DataError(f"{labels_path}: expected MNIST labels (magic 2049, uint8 N), found magic {magic_l} "
                        f"with shape {labels.shape} {labels.dtype}.")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels.")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be 0..9, found {int(labels.max())}.")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def find_mnist_folder(data_dir: Path | str | None, folder: str, layout: str, title: str, split: str) -> Path:
    """Locate the folder holding one split of an MNIST-family dataset.

    Args:
        data_dir: the user's ``--data-dir``, or None for the default roots.
        folder: the folder name under a data root (``"mnist"`` or ``"fashion-mnist"``).
        layout: torchvision's folder for it (``"MNIST/raw"`` or ``"FashionMNIST/raw"``).
        title: the dataset's display name.
        split: ``"train"`` or ``"test"``.

    Returns:
        The folder.

    Raises:
        DataError: not found; the message names the two files and every folder searched.
    """
    images, labels = SPLIT_STEMS[split]
    return find_dir(
        f"{title} ({split} split)",
        candidate_dirs(data_dir, folder, (layout,)),
        lambda path: split_files(path, split) is not None,
        f"{images}.gz and {labels}.gz (or the same names without .gz)",
    )
