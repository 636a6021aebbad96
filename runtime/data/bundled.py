"""The real MNIST sample that ships inside the package (``sample/mnist_sample.npz``).

It holds the first 2,000 training and the first 500 test images of MNIST, unchanged (see ``sample/README.md``
for provenance and licence, and :mod:`snnc.runtime.data.make_sample` for how it is made). It lets
``snnc train specs/mnist_fc.yaml`` run out of the box; accuracy on it is not MNIST accuracy.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from snnc.compiler.errors import DataError

from .locate import PACKAGE_DIR

SAMPLE_NAME = "mnist_sample.npz"
SAMPLE_PATH = PACKAGE_DIR / "sample" / SAMPLE_NAME
"""The bundled file."""
SAMPLE_KEYS = ("x_train", "y_train", "x_test", "y_test", "train_index", "test_index")


def sample_path(data_dir: Path | str | None = None) -> Path:
    """The sample file: ``data_dir/mnist_sample.npz`` when a folder is given, else the bundled one.

    Args:
        data_dir: a folder holding ``mnist_sample.npz``, or None.

    Returns:
        The file's path.

    Raises:
        DataError: the file is not there.
    """
    path = SAMPLE_PATH if data_dir is None else Path(data_dir).expanduser() / SAMPLE_NAME
    if not path.is_file():
        raise DataError(f"MNIST sample not found: it needs {SAMPLE_NAME} in {path.parent}. The package ships it "
                        "in snnc/runtime/data/sample/; rebuild it with `python -m snnc.runtime.data.make_sample`.")
    return path


@functools.lru_cache(maxsize=2)
def _read(path: Path, _mtime: int) -> dict[str, torch.Tensor]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc}).") from exc
    missing = [k for k in SAMPLE_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path}: the MNIST sample needs arrays {', '.join(SAMPLE_KEYS)}; missing {missing}.")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise DataError(f"{path}: 'x_{split}' must be uint8 N x 28 x 28 with N labels in 'y_{split}', "
                            f"found {x.shape} {x.dtype} and {y.shape}.")
    return {k: torch.from_numpy(v.astype(np.int64) if k.startswith("y_") else v) for k, v in arrays.items()}


def load_sample_arrays(split: str, data_dir: Path | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of the MNIST sample.

    Args:
        split: ``"train"`` (2,000 images) or ``"test"`` (500).
        data_dir: a folder holding ``mnist_sample.npz``, or None for the bundled file.

    Returns:
        ``(images, labels)``: uint8 ``N x 28 x 28`` and int64 ``N``.

    Raises:
        DataError: the file is missing or malformed.
    """
    path = sample_path(data_dir)
    arrays = _read(path, path.stat().st_mtime_ns)
    return arrays[f"x_{split}"], arrays[f"y_{split}"]
