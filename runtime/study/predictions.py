"""Segmentation predictions of a study's groups side by side: the same test images, their labels, and one column
per group (e.g. the UNet as an ANN and as its SNN), drawn from each group's first finished cell's ``best.pt``.

Unlike the other plots of a report, this one runs networks: a few test images through one trained network per
group (seconds), read with the cell's own dataset settings (``config.json``), so it needs the cells' files and the
dataset on the machine that collects. Groups whose network is not a segmentation network are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..metrics import first_samples, predict_masks
from .collect import StudyResults
from .runner import CELLS_FOLDER, read_json

BEST_FILE = "best.pt"
CONFIG_FILE = "config.json"


def _first_done(results: StudyResults, group: Any) -> Path | None:
    for cell in group.cells:
        run = Path(results.folder) / CELLS_FOLDER / cell["id"]
        if cell["status"] == "done" and (run / BEST_FILE).is_file():
            return run
    return None


def _test_images(run: Path, graph: Any, samples: int) -> tuple[Any, Any]:
    from snnc.runtime.data.fit import load_for

    config = read_json(run / CONFIG_FILE) or {}
    data = load_for(graph, config["dataset"], "test", config.get("data_dir"), limit=samples,
                    **dict(config.get("dataset_options") or {}))
    return first_samples(data, samples)


def segmentation_predictions(results: StudyResults, samples: int = 3) -> tuple[Any, Any, dict[str, Any]] | None:
    """``(images, labels, {group label: masks})`` of the groups with a finished segmentation network, on the first
    ``samples`` test images of the first such group's dataset; None when there is none."""
    from snnc.compiler.pipeline import graph_of, load

    from .plots import short_labels

    names = short_labels(results)
    images = labels = None
    masks: dict[str, Any] = {}
    for group in results.groups:
        run = _first_done(results, group)
        if run is None:
            continue
        model = load(run / BEST_FILE)
        graph = graph_of(model)
        if graph is None or graph.task.kind != "segmentation":
            continue
        if images is None:
            images, labels = _test_images(run, graph, samples)
        masks[names[group.name]] = predict_masks(model, images)
    return None if images is None else (images, labels, masks)


def plot_predictions(results: StudyResults, path: Path, samples: int = 3) -> Path | None:
    """Write the groups' segmentation predictions (:func:`segmentation_predictions`) as a PNG, or return None
    when no group has a finished segmentation network."""
    from snnc.runtime.plots import plot_segmentation

    found = segmentation_predictions(results, samples)
    if found is None:
        return None
    images, labels, masks = found
    return plot_segmentation(list(images), list(labels), {k: list(v) for k, v in masks.items()}, path,
                             f"{results.name}: test predictions (IoU of class 1)")


__all__: Sequence[str] = ["plot_predictions", "predict_masks", "segmentation_predictions"]
