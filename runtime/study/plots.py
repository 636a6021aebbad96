"""The plots of a study's report: accuracy per epoch per cell, accuracy against energy with the Pareto front,
and burst accuracy against ``T``.

Built with matplotlib's object-oriented API (a ``Figure`` rendered by the Agg canvas, no ``pyplot``), each PNG
written atomically. A plot whose data the study did not measure is not written.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

from snnc.compiler.artifact import atomic_write_bytes

from .collect import AXES, Group, StudyResults


def _save(fig: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return path


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """The indices of the points no other point beats: lower energy (x) and higher accuracy (y), sorted by x.

    Args:
        points: ``(energy, accuracy)`` pairs.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def short_labels(results: StudyResults) -> dict[str, str]:
    """Group id → a legend label of only the settings that differ between the groups (``vgg16 · snn``), in
    place of the whole id; parameters are left out where the spec's label already tells them apart."""
    axes = [k for k in AXES if len({_text(g.settings.get(k)) for g in results.groups}) > 1]
    if "spec_label" in axes and "params" in axes:
        per_spec: dict[str, set[str]] = {}
        for g in results.groups:
            per_spec.setdefault(_text(g.settings.get("spec_label")), set()).add(_text(g.settings.get("params")))
        if all(len(v) == 1 for v in per_spec.values()):
            axes.remove("params")
    labels = {g.name: " · ".join(_text(g.settings.get(k)) for k in axes) or g.name for g in results.groups}
    return labels if len(set(labels.values())) == len(labels) else {g.name: g.name for g in results.groups}


def _styles(results: StudyResults) -> dict[str, tuple[str, str]]:
    """Group id → (colour, marker): a colour per spec (label and parameters), a marker per target."""
    specs = list(dict.fromkeys(_text(g.settings.get("spec_label")) + _text(g.settings.get("params"))
                               for g in results.groups))
    targets = list(dict.fromkeys(_text(g.settings.get("target_label")) for g in results.groups))
    markers = "osD^v<>ph*"
    return {g.name: (f"C{specs.index(_text(g.settings.get('spec_label')) + _text(g.settings.get('params'))) % 10}",
                     markers[targets.index(_text(g.settings.get("target_label"))) % len(markers)])
            for g in results.groups}


def _legend(ax: Any, count: int) -> None:
    """The legend beside the axes when it would cover them (more than four entries), else inside."""
    if count > 4:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize="small")


def plot_accuracy(results: StudyResults, path: Path) -> Path | None:
    """Accuracy per epoch (validation, else training), one line per finished cell, one colour per group."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    labels, styles = short_labels(results), _styles(results)
    for group in results.groups:
        colour, marker = styles[group.name]
        for n, cell in enumerate(c for c in group.cells if c["status"] == "done" and c["curve"]):
            xs = [p["epoch"] for p in cell["curve"]]
            ys = [100 * (p["val"] if p["val"] is not None else p["train"]) for p in cell["curve"]]
            ax.plot(xs, ys, marker=marker, linestyle="-", color=colour, alpha=0.8,
                    label=labels[group.name] if n == 0 else None)
    if not ax.lines:
        return None
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{results.name}: validation accuracy per epoch "
                                                         "(training accuracy without a validation split)")
    epochs = sorted({int(x) for line in ax.lines for x in line.get_xdata()})
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
    ax.grid(alpha=0.3)
    _legend(ax, len(results.groups))
    return _save(fig, path)


def _mean(group: Group, key: str) -> tuple[float | None, float]:
    stat = group.stats.get(key) or {}
    return stat.get("mean"), stat.get("std") or 0.0


def plot_pareto(results: StudyResults, path: Path) -> Path | None:
    """Test accuracy against energy per inference, one point per group (mean ± std over seeds); the groups no
    other beats on both are joined as the Pareto front."""
    from matplotlib.figure import Figure

    points, labels, errors, styles = [], [], [], []
    names, style_of = short_labels(results), _styles(results)
    for group in results.groups:
        (acc, acc_std), (energy, energy_std) = _mean(group, "accuracy"), _mean(group, "energy_uj")
        if acc is not None and energy is not None and energy > 0:
            points.append((energy, 100 * acc))
            errors.append((energy_std, 100 * acc_std))
            labels.append(names[group.name])
            styles.append(style_of[group.name])
    if not points:
        return None
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for (x, y), (xe, ye), label, (colour, marker) in zip(points, errors, labels, styles):
        ax.errorbar([x], [y], xerr=[xe], yerr=[ye], fmt=marker, color=colour, capsize=3, label=label)
    front = pareto_front(points)
    ax.step([points[i][0] for i in front], [points[i][1] for i in front], where="post", color="black",
            linestyle="--", linewidth=1, label="Pareto front")
    xs = [x for x, _ in points]
    if max(xs) > 10 * min(xs):  # Why: a log axis over less than a decade only crowds its labels
        ax.set_xscale("log")
    ax.set(xlabel="energy per inference (μJ)", ylabel="test accuracy (%)",
           title=f"{results.name}: accuracy against energy")
    ax.grid(alpha=0.3, which="both")
    _legend(ax, len(labels) + 1)
    return _save(fig, path)


def plot_burst(results: StudyResults, path: Path) -> Path | None:
    """Burst accuracy against ``T`` per group (the ann groups), with the ANN's own accuracy dashed."""
    from matplotlib.figure import Figure

    steps = sorted(int(c.key.removeprefix("burst_T")) for c in results.columns if c.key.startswith("burst_T"))
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    names = short_labels(results)
    for k, group in enumerate(results.groups):
        ys = [_mean(group, f"burst_T{t}")[0] for t in steps]
        if not steps or any(y is None for y in ys):
            continue
        ax.plot(steps, [100 * y for y in ys], "o-", color=f"C{k % 10}", label=names[group.name])
        ann = [c["metrics"].get("burst_ann") for c in group.cells if c["metrics"].get("burst_ann") is not None]
        if ann:
            ax.axhline(100 * sum(ann) / len(ann), color=f"C{k % 10}", linestyle="--", linewidth=1)
    if not ax.lines:
        return None
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, [str(t) for t in steps])
    ax.set(xlabel="time steps T", ylabel="test accuracy (%)",
           title=f"{results.name}: burst conversion against T (dashed: the ANN)")
    ax.grid(alpha=0.3)
    _legend(ax, len(ax.lines))
    return _save(fig, path)


def write_plots(results: StudyResults, out: Path) -> dict[str, Path]:
    """Write every plot the results have data for into ``out``; returns name → path."""
    from .predictions import plot_predictions

    written = {}
    for name, plot in (("accuracy_plot", plot_accuracy), ("pareto_plot", plot_pareto), ("burst_plot", plot_burst),
                       ("predictions_plot", plot_predictions)):
        path = plot(results, Path(out) / f"{name.removesuffix('_plot')}.png")
        if path is not None:
            written[name] = path
    return written
