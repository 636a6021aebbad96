"""Make the bundled MNIST sample from the full MNIST IDX files.

Run ``python -m snnc.runtime.data.make_sample`` (options: ``--source DIR``, ``--out FILE``, ``--train N``,
``--test N``). It writes the first ``N`` training and test images, unchanged, with their labels and original
indices, as an ``.npz`` whose bytes depend only on the data (fixed zip timestamps), so rebuilding it from the same
MNIST gives the same file.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np

from .bundled import SAMPLE_PATH
from .idx import find_mnist_folder, read_mnist_split


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays as a compressed ``.npz`` that ``np.load`` reads, byte-for-byte reproducible.

    Args:
        path: the file to write.
        arrays: name → array (no object arrays).

    Returns:
        The path written.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, buffer.getvalue(), compresslevel=9)
    return path


def make_sample(source: Path | str | None = None, out: Path | str | None = None, *, n_train: int = 2000,
                n_test: int = 500) -> Path:
    """Write the first ``n_train`` training and ``n_test`` test images of MNIST to an ``.npz``.

    Args:
        source: the folder of the MNIST IDX files (default: the usual search, see
            :mod:`snnc.runtime.data.locate`).
        out: the file to write (default: the bundled ``sample/mnist_sample.npz``).
        n_train: training images to keep (indices ``0 .. n_train-1``).
        n_test: test images to keep (indices ``0 .. n_test-1``).

    Returns:
        The path written. Keys: ``x_train``/``x_test`` uint8 ``N x 28 x 28``, ``y_train``/``y_test`` uint8,
        ``train_index``/``test_index`` int32 (positions in the original files).

    Raises:
        DataError: MNIST not found or malformed.
        ValueError: more images asked for than MNIST holds.
    """
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = read_mnist_split(find_mnist_folder(source, "mnist", "MNIST/raw", "MNIST", split), split)
        if not 0 < n <= len(images):
            raise ValueError(f"{split}: asked for {n} images, MNIST has {len(images)}")
        arrays[f"x_{split}"] = images[:n].numpy()
        arrays[f"y_{split}"] = labels[:n].numpy().astype(np.uint8)
        arrays[f"{split}_index"] = np.arange(n, dtype=np.int32)
    return write_npz(Path(out) if out is not None else SAMPLE_PATH, arrays)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m snnc.runtime.data.make_sample``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder with the MNIST IDX files")
    parser.add_argument("--out", type=Path, help=f"output .npz (default {SAMPLE_PATH})")
    parser.add_argument("--train", type=int, default=2000, help="training images (default 2000)")
    parser.add_argument("--test", type=int, default=500, help="test images (default 500)")
    args = parser.parse_args(argv)
    path = make_sample(args.source, args.out, n_train=args.train, n_test=args.test)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
