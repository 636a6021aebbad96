"""What a study measures on a trained cell: accuracy, costs, time per epoch, epochs to a threshold, burst
accuracy against ``T``. The result is the plain dict a cell writes as ``results.json``::

    {"cell": "tiny_fc-snn-mnist-sample-quick-s0",
     "metrics": {"accuracy": 0.84, "params": 50890, "macs": 50816, "charged_macs": 6272, "sops": 41234.5,
                 "energy_uj": 0.066, "seconds_per_epoch": 1.3, "epochs_to_0.5": 1,
                 "burst_T2": 0.61, "burst_T4": 0.80, "burst_ann": 0.85},
     "curve": [{"epoch": 1, "train": 0.71, "val": 0.80, "seconds": 1.3}],
     "test_samples": 200, "notes": [...]}

Every value is per inference (one sample) as :mod:`snnc.runtime.cost` counts it; a value a cell cannot have
(no test split, an ann's burst accuracy when the cell is an snn) is absent or None.
"""

from __future__ import annotations

from statistics import fmean
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..train import TrainResult
    from .grid import Cell
    from .load import LoadedStudy

COST_MEASURES = ("params", "macs", "sops", "energy")
"""Measures read from a cost report."""


def epoch_accuracy(record: dict[str, Any]) -> float | None:
    """An epoch's validation accuracy, or its training accuracy when the run has no validation split."""
    val = record.get("val") or {}
    value = val.get("accuracy") if val else (record.get("train") or {}).get("accuracy")
    return float(value) if isinstance(value, (int, float)) else None


def epochs_to(records: list[dict[str, Any]], threshold: float) -> int | None:
    """The first epoch whose accuracy (:func:`epoch_accuracy`) reaches ``threshold``; None if none did."""
    for record in records:
        value = epoch_accuracy(record)
        if value is not None and value >= threshold:
            return int(record["epoch"])
    return None


def metric_key(kind: str, value: float | None = None) -> str:
    """The key of a measure in ``results.json``'s metrics: ``energy`` → ``energy_uj``, ``epochs_to`` 0.95 →
    ``epochs_to_0.95``, ``burst_T`` 4 → ``burst_T4``."""
    if kind == "energy":
        return "energy_uj"
    if kind == "epochs_to":
        return f"epochs_to_{value:g}"
    if kind == "burst_T":
        return f"burst_T{int(value)}"
    return kind


def _curve(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"epoch": r["epoch"], "train": (r.get("train") or {}).get("accuracy"),
             "val": (r.get("val") or {}).get("accuracy"), "seconds": r.get("seconds")} for r in records]


def _test_data(cell: "Cell", split: str, limit: int | None, graph: Any) -> Any:
    from ..data import load_for

    return load_for(graph, cell.dataset, split, cell.data_dir, limit=limit, **dict(cell.dataset_options))


def cost_metrics(cell: "Cell", loaded: "LoadedStudy", result: "TrainResult") -> dict[str, Any]:
    """Parameters, MACs, SOPs and energy of the cell's ``best.pt`` (spikes counted on test batches when the
    study measures ``sops`` or ``energy``).

    Raises:
        SnncError: the report could not be made (the message says why).
    """
    from snnc.compiler.pipeline import build_graph

    from ..cost import report
    from ..data import make_loader

    opts = loaded.study.cost
    params = dict(cell.params) or None
    data = None
    if loaded.study.wants("sops") or loaded.study.wants("energy"):
        graph = build_graph(cell.spec_path, params)
        data = make_loader(_test_data(cell, "test", opts.batches * opts.batch_size, graph), opts.batch_size)
    rep = report(cell.spec_path, target=cell.target, checkpoint=result.best_checkpoint, data=data,
                 batches=opts.batches, batch_size=opts.batch_size, params=params, tech=loaded.technology,
                 seed=cell.seed)
    totals = rep.totals
    return {"params": totals["params"], "macs": totals["macs"], "charged_macs": totals["charged_macs"],
            "sops": totals["sops"], "energy_uj": totals["energy_uj"], "ann_energy_uj": totals["ann_energy_uj"],
            "cost_samples": rep.samples, "timesteps": rep.timesteps}


def burst_metrics(cell: "Cell", loaded: "LoadedStudy", result: "TrainResult") -> dict[str, Any]:
    """The cell's trained ANN converted to burst neurons (``burst:`` options), scored at every ``burst_T``.

    Returns:
        ``burst_T<T>`` → the first metric of the task (accuracy), ``burst_spikes_T<T>`` → spikes per sample,
        ``burst_ann`` → the ANN's own score on the same samples.
    """
    from snnc.compiler.pipeline import build, graph_of

    from ..convert import sweep
    from ..data import dataset_info, make_loader

    opts = loaded.study.burst
    steps = [int(t) for t in loaded.study.values_of("burst_T")]
    ann = build(cell.spec_path, "ann", result.best_checkpoint, params=dict(cell.params) or None)
    graph = graph_of(ann)
    calibration = make_loader(_test_data(cell, "train", opts.calibration, graph), opts.batch_size, shuffle=True,
                              seed=cell.seed)
    limit = opts.limit_test or cell.settings.get("limit_test") or None
    loader = make_loader(_test_data(cell, "test", limit, graph), opts.batch_size)
    out = sweep(ann, [x for x, *_ in calibration], loader, gammas=[opts.gamma], timesteps=steps,
                task=dataset_info(cell.dataset).task, percentile=opts.percentile)
    metric = out["metrics"][0]
    values: dict[str, Any] = {"burst_ann": out["ann"][metric], "burst_gamma": opts.gamma}
    for row in out["rows"]:
        values[metric_key("burst_T", row["timesteps"])] = row[metric]
        values[f"burst_spikes_T{row['timesteps']}"] = row["spikes_per_sample"]
    return values


def measure_cell(cell: "Cell", loaded: "LoadedStudy", result: "TrainResult") -> dict[str, Any]:
    """Everything the study measures on a trained cell, as ``results.json`` holds it (module docstring).

    Args:
        cell: the cell.
        loaded: the study (what to measure, and how).
        result: the cell's training result (``best.pt``, the per-epoch records, the test evaluation).

    Raises:
        SnncError: a measure could not be taken (the cell then fails with that message; its training is kept).
    """
    from snnc.compiler.targets.registry import get_target

    study = loaded.study
    records = list(result.epochs)
    metrics: dict[str, Any] = {}
    notes: list[str] = []
    if study.wants("accuracy"):
        metrics["accuracy"] = result.test_accuracy
        if result.test is None:
            notes.append("no test evaluation (limit_test: 0): accuracy is None")
    if study.wants("seconds_per_epoch"):
        seconds = [r["seconds"] for r in records if isinstance(r.get("seconds"), (int, float))]
        metrics["seconds_per_epoch"] = fmean(seconds) if seconds else None
    for threshold in study.values_of("epochs_to"):
        metrics[metric_key("epochs_to", threshold)] = epochs_to(records, threshold)
    if any(study.wants(k) for k in COST_MEASURES):
        metrics.update(cost_metrics(cell, loaded, result))
    if study.wants("burst_T"):
        if get_target(cell.target).ann_weights:
            metrics.update(burst_metrics(cell, loaded, result))
        else:
            notes.append(f"burst_T converts ann cells; this cell trains the {cell.target} target")
    return {"cell": cell.id, "metrics": metrics, "curve": _curve(records),
            "test_samples": result.test.samples if result.test is not None else 0, "notes": notes}
