"""Tables and plots of sweeps, written atomically.

* burst sweeps (:func:`snnc.runtime.sweep.sweep`): :func:`markdown_tables` (one table per metric, ``T`` rows, a
  column per gamma, the ANN last, then spikes per sample), :func:`sweep_figure` / :func:`plot_sweep` (the metric
  and the spikes against ``T``) and :func:`write_sweep` (JSON, markdown and PNGs into a folder);
* mnn sweeps (:func:`snnc.runtime.sweep.mnn_sweep`): :func:`mnn_sweep_figure` / :func:`plot_mnn_sweep`, one
  panel per non-ideality axis.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from snnc.compiler.artifact import atomic_write_bytes


def result_rows(results: Mapping[str, Any], gamma: int) -> dict[int, dict[str, float]]:
    """The rows of one gamma, keyed by ``T``."""
    return {r["timesteps"]: r for r in results["rows"] if r["gamma"] == gamma}


def gamma_label(gamma: int) -> str:
    """``"Γ=1 (IF)"`` or ``"Γ=5"``."""
    return "Γ=1 (IF)" if gamma == 1 else f"Γ={gamma}"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def markdown_tables(results: Mapping[str, Any], metrics: Sequence[str] | None = None,
                    spikes: bool = True) -> str:
    """Markdown tables of a sweep: one per metric (``T`` rows, one column per gamma, the ANN last), then the
    spikes per sample.

    Args:
        results: a :func:`~snnc.runtime.sweep.sweep` result.
        metrics: which metrics (default: all of the task's).
        spikes: add the spikes-per-sample table.

    Returns:
        The tables, in percent (metrics) and spike counts, separated by blank lines.
    """
    metrics = list(metrics or results["metrics"])
    gammas = results["gammas"]
    by_gamma = {g: result_rows(results, g) for g in gammas}
    blocks = []
    for metric in metrics:
        head = f"| T | {' | '.join(gamma_label(g) for g in gammas)} | ANN |"
        lines = [f"**{metric} (%)**", "", head, "|" + " ---: |" * (len(gammas) + 2)]
        for t in results["timesteps"]:
            cells = [_percent(by_gamma[g][t][metric]) for g in gammas]
            lines.append(f"| {t} | {' | '.join(cells)} | {_percent(results['ann'][metric])} |")
        blocks.append("\n".join(lines))
    if spikes:
        head = f"| T | {' | '.join(gamma_label(g) for g in gammas)} |"
        lines = ["**spikes per sample**", "", head, "|" + " ---: |" * (len(gammas) + 1)]
        for t in results["timesteps"]:
            lines.append(f"| {t} | {' | '.join(_count(by_gamma[g][t]['spikes_per_sample']) for g in gammas)} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


MIN_PLOT_SPAN = 2.0
"""The narrowest accuracy range a sweep plot shows, in percentage points (so that a difference of a few test
images does not fill the axis)."""


def plot_range(values: Sequence[float], min_span: float = MIN_PLOT_SPAN) -> tuple[float, float]:
    """The y-range of a percentage plot: every value (the ANN's included) with a margin, at least ``min_span``
    points wide, inside [0, 100]."""
    lo, hi = min(values), max(values)
    if hi - lo < min_span:
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    pad = 0.08 * (hi - lo)
    lo, hi = max(0.0, lo - pad), min(100.0, hi + pad)
    if hi - lo < min_span:  # pushed against 0 or 100
        lo, hi = (0.0, min_span) if lo == 0.0 else (100.0 - min_span, 100.0)
    return lo, hi


def plot_sweep(results: Mapping[str, Any], path: str | Path, metric: str | None = None,
               title: str | None = None) -> Path:
    """Write :func:`sweep_figure` as a PNG (atomically).

    Args:
        results: a :func:`~snnc.runtime.sweep.sweep` result.
        path: the PNG to write.
        metric: which metric (default: the task's first).
        title: the plot title.

    Returns:
        ``path``.
    """
    fig = sweep_figure(results, metric, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def sweep_figure(results: Mapping[str, Any], metric: str | None = None, title: str | None = None) -> Any:
    """A matplotlib figure of ``metric`` against ``T`` (log-2 axis, one line per gamma, the ANN as a dashed
    line, a y-range from :func:`plot_range`) above a panel of spikes per sample against ``T``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    metric = metric or results["metrics"][0]
    fig = Figure(figsize=(6.4, 6.4), dpi=110)
    ax, spikes = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ts = results["timesteps"]
    ann = 100 * results["ann"][metric]
    values = [ann]
    for g in results["gammas"]:
        rows = result_rows(results, g)
        ys = [100 * rows[t][metric] for t in ts]
        values += ys
        ax.plot(ts, ys, marker="o", label=gamma_label(g))
        spikes.plot(ts, [rows[t]["spikes_per_sample"] for t in ts], marker="o", label=gamma_label(g))
    ax.axhline(ann, color="black", linestyle="--", label=f"ANN {ann:.2f}%")
    ax.set_ylim(*plot_range(values))
    ax.set_ylabel(f"{metric} (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    spikes.set_xscale("log", base=2)
    spikes.set_xticks(ts, [str(t) for t in ts])
    spikes.set_xlabel("time steps T")
    spikes.set_ylabel("spikes per sample")
    spikes.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def write_sweep(results: Mapping[str, Any], out_dir: str | Path, *, title: str | None = None,
                stem: str = "results") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` (or one PNG per metric) into ``out_dir``.

    Returns:
        Mapping ``"json"``, ``"markdown"``, ``"plot"`` (and ``"plot_<metric>"``) → path written.
    """
    import json

    out = Path(out_dir)
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md"}
    atomic_write_bytes(paths["json"], (json.dumps(_jsonable(results), indent=2) + "\n").encode("utf-8"))
    text = (f"# {title}\n\n" if title else "") + markdown_tables(results)
    atomic_write_bytes(paths["markdown"], text.encode("utf-8"))
    metrics = results["metrics"]
    paths["plot"] = plot_sweep(results, out / f"{stem}.png", metrics[0], title)
    for metric in metrics[1:]:
        paths[f"plot_{metric}"] = plot_sweep(results, out / f"{stem}_{metric}.png", metric, title)
    return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


# --- mnn sweeps -----------------------------------------------------------------------------------------------

def mnn_sweep_figure(result: Mapping[str, Any], title: str = "accuracy on memristive crossbars",
                     metric: str = "accuracy") -> Any:
    """The figure of an mnn sweep: one panel per axis, scores in % (as the tables), float and ideal-device
    references as dashed lines. Returns the matplotlib figure (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnc.compiler.targets.mnn.sweep import LABELS

    axes = list(result["axes"].items())
    fig, panels = plt.subplots(1, len(axes), figsize=(4 * len(axes), 3.4), squeeze=False)
    for ax, (name, data) in zip(panels[0], axes):
        ax.plot(data["values"], [100 * s for s in data["scores"]], "o-", label="mnn")
        ax.axhline(100 * result["float"], color="k", ls="--", lw=1, label="float network")
        ax.axhline(100 * result["ideal"], color="tab:green", ls=":", lw=1.5, label="ideal devices")
        if name in ("conductance_states", "on_off_ratio"):
            ax.set_xscale("log", base=2 if name == "conductance_states" else 10)
        ax.set_xlabel(LABELS.get(name, name))
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    panels[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_mnn_sweep(result: Mapping[str, Any], path: str | Path, title: str = "accuracy on memristive crossbars",
                   metric: str = "accuracy") -> Path:
    """Draw an mnn sweep (:func:`mnn_sweep_figure`) to a PNG file, atomically."""
    import matplotlib.pyplot as plt

    fig = mnn_sweep_figure(result, title, metric)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
