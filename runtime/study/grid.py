"""The cells of a study: every combination of its axes, each with a stable id made from its settings.

The order is specs (each with its parameter combinations) × targets × datasets × recipes × seeds, seeds
innermost, so the cells of one table row (the same settings but the seed) are neighbours.

A cell's id is its directory name, built from the labels of its settings, e.g.
``tiny_fc-hidden=32-snn-mnist-sample-quick-s0``; its group (the id without the seed) names its table row. Ids do
not depend on the order of the file or on the other cells, so a study that grows keeps its finished cells.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]+")


def token(value: Any) -> str:
    """A value as a directory-safe word: ``32`` → ``32``, ``0.001`` → ``0.001``, ``True`` → ``true``,
    ``[1, 2]`` → ``1_2``."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return _UNSAFE.sub("_", text).strip("_") or "_"


def settings_label(name: str, options: Mapping[str, Any]) -> str:
    """``name`` followed by ``-key=value`` for each option (``snn-timesteps=4``)."""
    return "-".join([token(name), *(f"{token(k)}={token(v)}" for k, v in options.items())])


@dataclass(frozen=True)
class Cell:
    """One run of a study: a spec with parameter values, a target, a dataset, a recipe and a seed.

    Attributes:
        id: the directory name (stable: made from the labels below).
        group: the id without the seed (one table row).
        spec: the spec as the study names it.
        spec_path: where it was found.
        spec_sha256: the hash of its text (a cell is the same cell only for the same spec text).
        spec_label: its label.
        params: spec parameter values of this cell.
        target: the target's name; ``target_options`` its options; ``target_label`` its label.
        dataset: the dataset's name; ``dataset_options`` the reader's options; ``data_dir`` where its files are
            (resolved; None: the default roots); ``dataset_label`` its label.
        recipe: the recipe's name; ``settings`` its training settings (as written).
        seed: the seed.
    """

    id: str
    group: str
    spec: str
    spec_path: str
    spec_sha256: str
    spec_label: str
    params: Mapping[str, Any]
    target: str
    target_options: Mapping[str, Any]
    target_label: str
    dataset: str
    dataset_options: Mapping[str, Any]
    data_dir: str | None
    dataset_label: str
    recipe: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides what the cell computes, as plain data (``cell.json`` keeps it; a finished
        cell counts as this cell only when its fingerprint is this one). Paths are left out: a study moved to
        another folder keeps its cells."""
        return {"spec": self.spec, "spec_sha256": self.spec_sha256, "params": dict(self.params),
                "target": self.target, "target_options": dict(self.target_options), "dataset": self.dataset,
                "dataset_options": dict(self.dataset_options), "recipe": self.recipe,
                "settings": dict(self.settings), "seed": self.seed}

    def train_settings(self) -> dict[str, Any]:
        """The keyword settings of :func:`snnc.runtime.train.train` for this cell."""
        out = dict(self.settings)
        out.update(target=self.target, target_options=dict(self.target_options), dataset=self.dataset,
                   dataset_options=dict(self.dataset_options), seed=self.seed, params=dict(self.params))
        if self.data_dir is not None:
            out["data_dir"] = self.data_dir
        return out

    def describe(self) -> dict[str, Any]:
        """The cell as ``study.json`` lists it: id, group, labels and fingerprint."""
        return {"id": self.id, "group": self.group, "spec_label": self.spec_label, "target_label": self.target_label,
                "dataset_label": self.dataset_label, **self.fingerprint()}


@dataclass(frozen=True)
class SpecAxis:
    """A spec of the grid, resolved: where it is, its text's hash, its label and its parameter values."""

    spec: str
    path: str
    sha256: str
    label: str
    params: Mapping[str, list[Any]]


@dataclass(frozen=True)
class Axis:
    """A target or dataset of the grid: name, options, label (and a dataset's resolved ``data_dir``)."""

    name: str
    options: Mapping[str, Any]
    label: str
    data_dir: str | None = None


def combinations(params: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of parameter values, in the order written (``{}`` gives one empty combination)."""
    names = list(params)
    return [dict(zip(names, values)) for values in itertools.product(*(params[n] for n in names))]


def expand(specs: list[SpecAxis], targets: list[Axis], datasets: list[Axis], recipes: Mapping[str, dict],
           seeds: list[int]) -> list[Cell]:
    """Every cell of the grid, seeds innermost.

    Args:
        specs: the specs, resolved.
        targets: the targets.
        datasets: the datasets.
        recipes: recipe name → training settings.
        seeds: the seeds.

    Returns:
        The cells (their ids are distinct when the axes' labels are, as :mod:`snnc.runtime.study.checks`
        makes sure).
    """
    cells = []
    points = [(spec, params) for spec in specs for params in combinations(spec.params)]
    for (spec, params), target, dataset, (recipe, settings) in itertools.product(points, targets, datasets,
                                                                                 recipes.items()):
        group = "-".join([settings_label(spec.label, params), target.label, dataset.label, token(recipe)])
        for seed in seeds:
            cells.append(Cell(id=f"{group}-s{seed}", group=group, spec=spec.spec, spec_path=spec.path,
                              spec_sha256=spec.sha256, spec_label=spec.label, params=params,
                              target=target.name, target_options=dict(target.options),
                              target_label=target.label, dataset=dataset.name,
                              dataset_options=dict(dataset.options), data_dir=dataset.data_dir,
                              dataset_label=dataset.label, recipe=recipe, settings=dict(settings), seed=seed))
    return cells

