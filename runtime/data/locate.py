"""Where datasets live on disk, and the one error message for when they are not there.

Search order for a dataset folder (first match wins):

1. ``data_dir`` when given (``--data-dir``): the folder itself, then ``data_dir/<folder>``, then torchvision's
   layout below it (e.g. ``data_dir/MNIST/raw``).
2. Otherwise the root in the environment variable ``SNNC_DATA_DIR``: ``$SNNC_DATA_DIR/<folder>`` and the
   torchvision layout below it.
3. Then the repository's shared data, ``<repo>/../shared/data/<folder>``.

Why: a user pointing ``--data-dir`` at the dataset folder itself and a user pointing it at a root holding several
datasets both mean "it is here"; an environment root is only ever a root, so it never serves one dataset's files
under another's name. Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from snnc.compiler.errors import DataError

ENV_VAR = "SNNC_DATA_DIR"
"""Environment variable naming a root folder that holds one sub-folder per dataset."""

PACKAGE_DIR = Path(__file__).resolve().parent
"""This package's folder; the bundled sample lives in ``sample/`` below it."""


def repository_data_root() -> Path:
    """The shared data folder next to the repository: ``<repo>/../shared/data``.

    Returns:
        The path (it may not exist, e.g. in an installed wheel).
    """
    return (PACKAGE_DIR.parents[1] / ".." / "shared" / "data").resolve()


def candidate_dirs(data_dir: Path | str | None, folder: str, layouts: Sequence[str] = ()) -> list[Path]:
    """Every folder that may hold a dataset, in search order.

    Args:
        data_dir: the folder the user named (``--data-dir``), or None to search the default roots.
        folder: the dataset's folder name under a data root, e.g. ``"mnist"``.
        layouts: extra sub-paths of a root used by other tools, e.g. ``("MNIST/raw",)`` for torchvision.

    Returns:
        Distinct candidate folders, first match wins.
    """
    found: list[Path] = []
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        found += [base, base / folder] + [base / sub for sub in layouts]
    else:
        roots = []
        env = os.environ.get(ENV_VAR)
        if env:
            roots.append(Path(env).expanduser())
        roots.append(repository_data_root())
        for root in roots:
            found += [root / folder] + [root / sub for sub in layouts]
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def find_dir(
    title: str,
    candidates: Sequence[Path],
    has_files: Callable[[Path], bool],
    needed: str,
    hint: str = "",
) -> Path:
    """Return the first candidate folder that holds a dataset's files.

    Args:
        title: the dataset and split, for the message (e.g. ``"MNIST (train split)"``).
        candidates: folders to search, in order (see :func:`candidate_dirs`).
        has_files: tells whether a folder holds the needed files.
        needed: the files needed, in words (e.g. ``"train-images-idx3-ubyte.gz and ..."``).
        hint: an extra sentence for the message (may be empty).

    Returns:
        The first folder for which ``has_files`` is true.

    Raises:
        DataError: no candidate holds the files; the message names the files, every folder searched and how to
            point ``--data-dir`` at them.
    """
    for path in candidates:
        if path.is_dir() and has_files(path):
            return path
    raise missing_error(title, candidates, needed, hint)


def missing_error(title: str, searched: Sequence[Path], needed: str, hint: str = "") -> DataError:
    """The DataError for a dataset that is not on disk.

    Args:
        title: the dataset and split.
        searched: the folders that were searched.
        needed: the files needed, in words.
        hint: an extra sentence (may be empty).

    Returns:
        The error, to be raised by the caller.
    """
    where = "\n".join(f"  - {p}" for p in searched)
    message = (
        f"{title} not found. It needs {needed}, in one of these folders:\n{where}\n"
        f"Point --data-dir (or the {ENV_VAR} environment variable) at the folder that holds them; "
        "snnc never downloads data."
    )
    if hint:
        message += " " + hint
    return DataError(message)
