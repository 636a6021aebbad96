"""CIFAR-10 readers: the ``.npz`` subset in ``shared/data/cifar10`` and the official python batches.

The official ``cifar-10-batches-py/`` holds ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
``batches.meta``. Each batch is a pickled dict: ``data`` (uint8 ``10000 x 3072``, per row 1024 red, 1024 green
then 1024 blue values, row-major), ``labels`` (list of 0..9), ``batch_label`` and ``filenames``.

Why a restricted unpickler: unpickling runs whatever callables a file names, so a batch from an untrusted place
could run code. :class:`SafeUnpickler` resolves only the few numpy functions that rebuild an array (and a
latin-1 ``_codecs.encode`` that protocol-2 pickles written by Python 3 use for bytes); every other global is
refused with a :class:`DataError` before anything is called.
"""

from __future__ import annotations

import codecs
import functools
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from snnc.compiler.errors import DataError

from .entry import DatasetEntry, DatasetInfo
from .locate import candidate_dirs, find_dir

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NPZ_NAME = "cifar10_subset_train4000_test1000.npz"
BATCHES_DIR = "cifar-10-batches-py"
BATCH_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Why: Python 3 writes bytes in protocol-2 pickles as _codecs.encode(text, "latin1"); allow only that.
    if encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _numpy_globals() -> dict[tuple[str, str], object]:
    core = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _latin1_encode}
    for module in ("numpy.core", "numpy._core"):  # pickles name whichever module wrote them
        allowed[(f"{module}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        allowed[(f"{module}.numeric", "_frombuffer")] = core.numeric._frombuffer
    return allowed


_ALLOWED = _numpy_globals()


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, bytes, numbers and numpy arrays.

    Raises:
        DataError: (from ``load``) the pickle names any other global, e.g. ``os.system``.
    """

    def find_class(self, module: str, name: str) -> object:
        """Resolve a global only if it is one of the numpy array rebuilders (see the module docstring)."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DataError(f"refusing to unpickle '{module}.{name}': CIFAR-10 batches hold only dicts, lists, "
                            "bytes and numpy arrays, so this file is not a CIFAR-10 batch (or was tampered "
                            "with).") from None


def safe_load_pickle(path: Path | str) -> object:
    """Unpickle a file with :class:`SafeUnpickler` (bytes keys as in the Python 2 originals).

    Args:
        path: the file.

    Returns:
        The unpickled object.

    Raises:
        DataError: the file cannot be read, is not a pickle, or names a global that is not allowed.
    """
    path = Path(path)
    try:
        return SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # a corrupt pickle raises anything from EOFError to TypeError
        raise DataError(f"{path}: not a readable CIFAR-10 python batch ({type(exc).__name__}: {exc}).") from exc


def _field(batch: dict, key: str, path: Path) -> object:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataError(f"{path}: a CIFAR-10 batch is a dict with 'data' and 'labels'; '{key}' is missing.")


def read_batch(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Read one official CIFAR-10 python batch.

    Args:
        path: e.g. ``cifar-10-batches-py/data_batch_1``.

    Returns:
        ``(images, labels)``: uint8 ``N x 3 x 32 x 32`` and int64 ``N``.

    Raises:
        DataError: unreadable, refused by the safe unpickler, or not in the official layout.
    """
    path = Path(path)
    batch = safe_load_pickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: a CIFAR-10 batch is a dict, found {type(batch).__name__}.")
    data, labels = _field(batch, "data", path), _field(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{path}: 'data' must be a uint8 array of N x 3072, found {shape}.")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(data),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{path}: 'labels' must be {len(data)} values in 0..9.")
    return data.reshape(-1, 3, 32, 32), labels


def _read_class_names(folder: Path) -> tuple[str, ...]:
    meta = folder / "batches.meta"
    if not meta.is_file():
        return CLASS_NAMES
    names = _field(safe_load_pickle(meta), "label_names", meta)
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def read_npz(path: Path | str, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read one split of the CIFAR-10 ``.npz`` (keys ``x_<split>`` uint8 NHWC and ``y_<split>``).

    Args:
        path: the ``.npz`` file.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels, class_names)``: uint8 ``N x 3 x 32 x 32``, int64 ``N``, the ten names.

    Raises:
        DataError: unreadable, keys missing, or wrong shapes.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc}).") from exc
    x_key, y_key = f"x_{split}", f"y_{split}"
    if x_key not in arrays or y_key not in arrays:
        raise DataError(f"{path}: needs arrays '{x_key}' and '{y_key}', found {sorted(arrays)}.")
    images, labels = arrays[x_key], arrays[y_key].astype(np.int64)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"{path}: '{x_key}' must be uint8 N x 32 x 32 x 3 (RGB, HWC), found "
                        f"{images.shape} {images.dtype}.")
    if labels.shape != (len(images),) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise DataError(f"{path}: '{y_key}' must be {len(images)} labels in 0..9.")
    names = tuple(str(n) for n in arrays["class_names"]) if "class_names" in arrays else CLASS_NAMES
    return images.transpose(0, 3, 1, 2), labels, names


def _npz_in(folder: Path) -> Path | None:
    if (folder / NPZ_NAME).is_file():
        return folder / NPZ_NAME
    found = sorted(folder.glob("cifar*.npz"))
    return found[0] if found else None


def _has_batches(folder: Path, split: str) -> bool:
    return all((folder / name).is_file() for name in BATCH_FILES[split])


def load_cifar_arrays(data_dir: Path | str | None, split: str) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Find and read one CIFAR-10 split: the official batches if present, else the ``.npz`` subset.

    Args:
        data_dir: the user's ``--data-dir``, or None for the default roots.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels, class_names)``: uint8 ``N x 3 x 32 x 32``, int64 ``N``, the ten names.

    Raises:
        DataError: neither layout found (the message names both), or the files are malformed.
    """
    batches = ", ".join(BATCH_FILES[split])
    folder = find_dir(
        f"CIFAR-10 ({split} split)",
        candidate_dirs(data_dir, "cifar10", (BATCHES_DIR, f"cifar10/{BATCHES_DIR}")),
        lambda path: _has_batches(path, split) or _npz_in(path) is not None,
        f"either the official python batches ({batches}, as in {BATCHES_DIR}/) or the subset {NPZ_NAME}",
    )
    return _load_folder(folder, split, _folder_stat(folder))


def _folder_stat(folder: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.iterdir()) if p.is_file())


@functools.lru_cache(maxsize=4)
def _load_folder(folder: Path, split: str, _stat: tuple) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    # Why: the official batches are the full set, so they win over the subset when both are present.
    if _has_batches(folder, split):
        parts = [read_batch(folder / name) for name in BATCH_FILES[split]]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        names = _read_class_names(folder)
    else:
        images, labels, names = read_npz(_npz_in(folder), split)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels), names


# --- the registered dataset -----------------------------------------------------------------------------------


def _read(split: str, data_dir: Path | None, normalize: bool, limit: int | None, options: object):
    from .base import ImageDataset

    images, labels, names = load_cifar_arrays(data_dir, split)
    return ImageDataset(images, labels, names, CIFAR10.info.mean, CIFAR10.info.std, normalize=normalize, limit=limit)


# Why these statistics: the standard full-training-set ones; the 4,000-image subset agrees to 0.003.
CIFAR10 = DatasetEntry(DatasetInfo(
    name="cifar10", title="CIFAR-10", task="classification", channels=3, size=(32, 32), class_names=CLASS_NAMES,
    mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616), counts={"train": 4000, "test": 1000},
    folder="cifar10", license="none stated; cite Krizhevsky 2009"), _read)
"""``cifar10``: the official python batches or the ``.npz`` subset; no options."""
