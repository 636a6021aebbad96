"""Collecting a study's results: one row per cell, one per group of seeds (mean ± std), as JSON, CSV and a
markdown table. It only reads files (``study.json``, each cell's ``cell.json`` and ``results.json``), so it
works on a folder whose cells ran anywhere (a scheduler's jobs) and while some still run.

The standard deviation is the sample one (n - 1); a group with one finished seed has none. A group's row says
how many of its seeds finished, and the first error of those that failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from snnc.compiler.errors import SnncError

from .measure import metric_key
from .runner import CELLS_FOLDER, PLAN_FILE, RESULTS_FILE, STATUS_FILE, read_json

AXES = ("spec_label", "params", "target_label", "dataset_label", "recipe")
"""The settings a group shares (every cell's but the seed)."""


@dataclass(frozen=True)
class Column:
    """A measured quantity: its key in ``results.json``'s metrics, a header and how it is written.

    Attributes:
        key: the metric's key (``accuracy``, ``energy_uj``, ``burst_T4``).
        header: the table header.
        form: ``percent``, ``count``, ``macs``, ``energy``, ``seconds`` or ``epochs``.
    """

    key: str
    header: str
    form: str


def columns_of(measures: list[dict[str, Any]]) -> list[Column]:
    """The table columns of a study's measures (``study.json``'s ``measures``), in the order listed."""
    simple = {"accuracy": ("accuracy (%)", "percent"), "params": ("params", "count"), "macs": ("MACs", "macs"),
              "sops": ("SOPs", "macs"), "energy": ("energy (μJ)", "energy"), "seconds_per_epoch": ("s/epoch", "seconds")}
    out: list[Column] = []
    for measure in measures:
        kind, values = measure["kind"], measure.get("values") or []
        if kind in simple:
            found = [Column(metric_key(kind), *simple[kind])]
        elif kind == "epochs_to":
            found = [Column(metric_key(kind, v), f"epochs to {100 * v:g}%", "epochs") for v in values]
        else:
            found = [Column(metric_key(kind, v), f"burst T={int(v)} (%)", "percent") for v in values]
        out += [c for c in found if c not in out]
    return out


@dataclass
class Group:
    """The cells that differ only by their seed: one table row.

    Attributes:
        name: the group's id.
        settings: the shared labels (spec, params, target, dataset, recipe).
        cells: the cells' rows.
        stats: metric key → ``{"mean", "std", "n"}`` over the finished cells that have a value.
    """

    name: str
    settings: dict[str, Any]
    cells: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Finished cells."""
        return sum(c["status"] == "done" for c in self.cells)

    @property
    def status(self) -> str:
        """``2/2 done``, ``1/2 done, 1 failed: <first error>``, or ``pending``."""
        failed = [c for c in self.cells if c["status"] == "failed"]
        text = f"{self.done}/{len(self.cells)} done"
        if failed:
            first = (failed[0].get("error") or "").splitlines()[0] if failed[0].get("error") else "?"
            text += f", {len(failed)} failed: {first}"
        return text


@dataclass
class StudyResults:
    """Everything collected from a study's folder.

    Attributes:
        name: the study's name.
        description: its description.
        folder: the study's output folder.
        columns: the measured columns.
        cells: one row per cell (labels, seed, status, error, metrics, curve).
        groups: one :class:`Group` per row of the table.
    """

    name: str
    description: str
    folder: Path
    columns: list[Column]
    cells: list[dict[str, Any]]
    groups: list[Group]

    def failed(self) -> list[dict[str, Any]]:
        """The cells that failed."""
        return [c for c in self.cells if c["status"] == "failed"]


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def stats(values: list[Any]) -> dict[str, Any]:
    """``{"mean", "std", "n"}`` of the numbers among ``values`` (None is left out; std None below two)."""
    numbers = [v for v in (_number(x) for x in values) if v is not None]
    if not numbers:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": fmean(numbers), "std": stdev(numbers) if len(numbers) > 1 else None, "n": len(numbers)}


def _cell_row(folder: Path, cell: dict[str, Any]) -> dict[str, Any]:
    run = folder / CELLS_FOLDER / cell["id"]
    status = read_json(run / STATUS_FILE) or {}
    results = (read_json(run / RESULTS_FILE) or {}) if status.get("status") == "done" else {}
    state = status.get("status", "pending")
    if state == "running":
        state = "running or interrupted"
    return {"id": cell["id"], "group": cell["group"], **{k: cell.get(k) for k in AXES}, "seed": cell["seed"],
            "status": state, "error": status.get("error", ""), "seconds": status.get("seconds"),
            "metrics": results.get("metrics", {}), "curve": results.get("curve", []),
            "notes": results.get("notes", [])}


def collect(folder: str | Path) -> StudyResults:
    """Read a study's output folder.

    Args:
        folder: what ``snnc study run ... -o`` wrote to.

    Returns:
        The :class:`StudyResults` (cells not yet run are ``pending``).

    Raises:
        SnncError: no ``study.json`` there (not a study's folder).
    """
    folder = Path(folder)
    plan = read_json(folder / PLAN_FILE)
    if not isinstance(plan, dict) or not isinstance(plan.get("cells"), list) or "study" not in plan:
        what = "is missing" if not (folder / PLAN_FILE).is_file() else "is not a study plan"
        raise SnncError(f"{folder} holds no study ({PLAN_FILE} {what}): give the folder that 'snnc study run "
                        "FILE -o DIR' wrote to")
    columns = columns_of(plan.get("measures", []))
    cells = [_cell_row(folder, c) for c in plan["cells"]]
    groups: dict[str, Group] = {}
    for row in cells:
        group = groups.setdefault(row["group"], Group(row["group"], {k: row[k] for k in AXES}))
        group.cells.append(row)
    for group in groups.values():
        done = [c for c in group.cells if c["status"] == "done"]
        group.stats = {col.key: stats([c["metrics"].get(col.key) for c in done]) for col in columns}
    return StudyResults(plan["study"], plan.get("description", ""), folder, columns, cells, list(groups.values()))
