"""Calibration data: the training samples whose activations set a converted network's thresholds.

:func:`calibration_batches` draws them (seeded) from a named dataset; :func:`calibration_data` reads a
``DATASET`` or ``DATASET:N`` string for a network and returns a :class:`Calibration`, batches that remember
where they came from, so a conversion can record it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from snnc.compiler.calibration import Calibration  # re-exported: the type the compiler reads

from .data import check_fits
from .parsing import parse_calibration


def calibration_batches(dataset: str, *, samples: int, batch_size: int = 256, normalize: bool = False,
                        data_dir: str | Path | None = None, seed: int = 0,
                        **options: Any) -> list[torch.Tensor]:
    """The inputs of ``samples`` training samples drawn at random (seeded), in batches.

    Args:
        dataset: a dataset name (see :func:`snnc.runtime.data.load_dataset`).
        samples: how many samples (fewer if the split is smaller).
        batch_size: samples per batch.
        normalize: standardise the images (as the network was trained).
        data_dir: where the dataset is (None: the default roots).
        seed: seed of the draw.
        **options: dataset options (e.g. ISBI's ``crop``).

    Returns:
        Input batches only (labels dropped).

    Raises:
        DataError: the dataset is missing.
    """
    from snnc.runtime.data import load_dataset, make_loader

    data = load_dataset(dataset, "train", data_dir, normalize=normalize, **options)
    out: list[torch.Tensor] = []
    taken = 0
    for x, _ in make_loader(data, batch_size, shuffle=True, seed=seed):
        out.append(x[: samples - taken])
        taken += len(out[-1])
        if taken >= samples:
            break
    return out


def calibration_data(graph: Any, calibration: str, *, data_dir: str | Path | None = None, batch_size: int = 256,
                     seed: int = 0) -> Calibration:
    """The calibration batches named by ``DATASET`` or ``DATASET:N`` for a network, as it takes its input.

    Raises:
        SnncError: a bad ``:N``. DataError: the dataset is missing or does not fit the network.
    """
    name, samples = parse_calibration(calibration)
    check_fits(graph, name)
    batches = calibration_batches(name, samples=samples, batch_size=batch_size, normalize=graph.input.standardized,
                                  data_dir=data_dir, seed=seed)
    return Calibration(batches, f"{name}:{sum(len(b) for b in batches)}")
