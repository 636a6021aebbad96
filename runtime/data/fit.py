"""Whether a named dataset fits a network: the one check every command makes before reading data."""

from __future__ import annotations

from typing import Any

from snnc.compiler.errors import DataError


CHANNEL_NAMES = {2: "two", 3: "rgb"}
"""Input channels → the ``channels`` option of datasets that can be made with either."""


def check_fits(graph: Any, dataset: str) -> None:
    """Check that a named dataset's images (and classes, for classification) fit the network's input and output.

    Segmentation data is cropped by its reader, so only its channels must match.

    Args:
        graph: the IR graph (None: nothing to check against).
        dataset: a dataset name.

    Raises:
        DataError: an unknown dataset, or channels, image size or classes that disagree (both sides named).
    """
    from .registry import dataset_info

    info = dataset_info(dataset)
    if graph is None:
        return
    shape = tuple(graph.input.shape)
    if len(shape) == 3 and info.size is not None:
        same_size = info.task != "classification" or tuple(shape[1:]) == tuple(info.size)
        if shape[0] != info.channels or not same_size:
            raise DataError(f"dataset '{info.name}' has {info.channels}x{info.size[0]}x{info.size[1]} images but "
                            f"the spec '{graph.name}' takes input {list(shape)}: pick a matching dataset or change "
                            "input.shape in the spec (e.g. with --param)")
    if info.task == "classification" and info.class_names and graph.task.classes != info.num_classes:
        raise DataError(f"dataset '{info.name}' has {info.num_classes} classes but the spec '{graph.name}' has "
                        f"task.classes {graph.task.classes}")


def load_for(graph: Any, dataset: str, split: str = "test", data_dir: Any = None, *, limit: int | None = None,
             **options: Any):
    """A named dataset's split as the network takes it: checked by :func:`check_fits`, standardised when the
    network's input is (``graph.input.standardized``).

    Raises:
        DataError: the dataset is missing or does not fit. OptionsError: a bad dataset option (named).
    """
    from .registry import dataset_options, load_dataset

    check_fits(graph, dataset)
    allowed = dataset_options(dataset)
    shape = tuple(graph.input.shape) if graph is not None else ()
    # Datasets made at any size (IRM Colored MNIST) are made at the network's, unless told otherwise.
    if len(shape) == 3 and "size" in allowed and "size" not in options and shape[1] == shape[2]:
        options["size"] = shape[-1]
    if len(shape) == 3 and "channels" in allowed and "channels" not in options and shape[0] in CHANNEL_NAMES:
        options["channels"] = CHANNEL_NAMES[shape[0]]
    standardized = bool(graph is not None and graph.input.standardized)
    return load_dataset(dataset, split, data_dir, normalize=standardized, limit=limit, **options)
