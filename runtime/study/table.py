"""The report of a study: the table (mean ± std over seeds) as markdown, CSV and JSON, and the files
``snnc study report`` writes (with the plots of :mod:`snnc.runtime.study.plots`)::

    DIR/report/
        results.json     every cell (status, error, metrics, curve) and every group's mean, std and n
        cells.csv        one row per cell, raw values
        summary.csv      one row per group: <metric>_mean, <metric>_std, <metric>_n
        results.md       the table, the failed cells with their errors
        accuracy.png     accuracy per epoch, one line per cell
        pareto.png       accuracy against energy per group, with the Pareto front (when both are measured)
        burst.png        burst accuracy against T per ann group (when burst_T is measured)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from snnc.quick import fmt_macs

from ..run_dir import write_json, write_text
from .collect import Column, Group, StudyResults

NONE = "—"
"""What a table shows where a group has no value (not measured, not applicable, never reached)."""

SETTING_HEADERS = ("spec", "target", "dataset", "recipe", "seeds")


def _pm(mean: str, std: str | None) -> str:
    return f"{mean} ± {std}" if std is not None else mean


def format_stat(column: Column, stat: dict[str, Any], done: int) -> str:
    """A group's value in a column: ``91.20 ± 0.35`` (percent), ``50,890`` (a count that does not vary),
    ``1.0 (1/2 reached)`` (epochs to a threshold some seeds never reached)."""
    mean, std, n = stat.get("mean"), stat.get("std"), stat.get("n", 0)
    if mean is None:
        return "never" if column.form == "epochs" and done else NONE
    varies = std is not None and std > 0
    if column.form == "percent":
        return _pm(f"{100 * mean:.2f}", f"{100 * std:.2f}" if std is not None else None)
    if column.form == "count":
        return _pm(f"{mean:,.0f}", f"{std:,.0f}" if varies else None)
    if column.form == "macs":
        return _pm(fmt_macs(int(round(mean))), fmt_macs(int(round(std))) if varies else None)
    if column.form == "energy":
        return _pm(f"{mean:.4g}", f"{std:.2g}" if varies else None)
    if column.form == "epochs":
        text = _pm(f"{mean:.1f}", f"{std:.1f}" if std is not None else None)
        return text + (f" ({n}/{done} reached)" if n < done else "")
    return _pm(f"{mean:.3g}", f"{std:.2g}" if std is not None else None)


def _spec_text(group: Group) -> str:
    params = group.settings.get("params") or {}
    return " ".join([str(group.settings["spec_label"]), *(f"{k}={v}" for k, v in params.items())])


def summary_rows(results: StudyResults) -> tuple[list[str], list[list[str]]]:
    """The table: headers, then one row of strings per group (settings, measures, status)."""
    headers = [*SETTING_HEADERS, *(c.header for c in results.columns), "status"]
    rows = []
    for group in results.groups:
        seeds = ",".join(str(c["seed"]) for c in group.cells)
        rows.append([_spec_text(group), str(group.settings["target_label"]), str(group.settings["dataset_label"]),
                     str(group.settings["recipe"]), seeds,
                     *(format_stat(c, group.stats[c.key], group.done) for c in results.columns), group.status])
    return headers, rows


def _cell_text(text: Any) -> str:
    """A value as one markdown table cell (a ``|`` escaped, lines joined)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def aligned(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table whose columns line up in plain text too (settings left, values right-aligned)."""
    table = [[_cell_text(h) for h in headers], *([_cell_text(v) for v in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    right = [len(SETTING_HEADERS) <= i < len(headers) - 1 for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
    return [line(table[0]), rule, *(line(r) for r in table[1:])]


def blocks(headers: list[str], rows: list[list[str]]) -> list[str]:
    """The table as one block per row, for a screen narrower than :func:`aligned`: a heading line of the
    settings, then ``header  value`` lines of the measures and the status."""
    settings = len(SETTING_HEADERS)
    width = max(len(h) for h in headers[settings:])
    out: list[str] = []
    for row in rows:
        out.append(" · ".join(row[:settings - 1]) + f" · seeds {row[settings - 1]}")
        out += [f"  {h.ljust(width)}  {v}" for h, v in zip(headers[settings:], row[settings:])]
    return out


def markdown(results: StudyResults) -> str:
    """The report as markdown: title, the table, what ± means, the failed cells with their errors."""
    lines = [f"# Study {results.name}", ""]
    if results.description:
        lines += [results.description, ""]
    lines += aligned(*summary_rows(results))
    lines += ["", "Values are mean ± sample standard deviation over the seeds that finished (none with one seed); "
              "accuracy is the test accuracy of best.pt; MACs one dense pass, SOPs and energy per inference "
              f"(all time steps); {NONE}: not measured or not applicable."]
    failed = results.failed()
    if failed:
        lines += ["", "## Failed cells", ""]
        lines += [f"- `{c['id']}`: {_cell_text(c['error'])}" for c in failed]
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def cells_csv(results: StudyResults) -> str:
    """One row per cell: id, settings, seed, status, error, then every measured value (raw)."""
    keys = [c.key for c in results.columns]
    extra = sorted({k for c in results.cells for k in c["metrics"]} - set(keys))
    header = ["id", "spec", "target", "dataset", "recipe", "seed", "status", "error", *keys, *extra]
    rows = [[c["id"], " ".join([str(c["spec_label"]), *(f"{k}={v}" for k, v in (c["params"] or {}).items())]),
             c["target_label"], c["dataset_label"], c["recipe"], c["seed"], c["status"], c["error"],
             *(c["metrics"].get(k) for k in keys + extra)] for c in results.cells]
    return _csv(header, rows)


def summary_csv(results: StudyResults) -> str:
    """One row per group: settings, cells done of all, then mean, std and n of every measured value."""
    keys = [c.key for c in results.columns]
    header = ["group", "spec", "target", "dataset", "recipe", "done", "cells",
              *(f"{k}_{s}" for k in keys for s in ("mean", "std", "n"))]
    rows = [[g.name, _spec_text(g), g.settings["target_label"], g.settings["dataset_label"], g.settings["recipe"],
             g.done, len(g.cells), *(g.stats[k][s] for k in keys for s in ("mean", "std", "n"))]
            for g in results.groups]
    return _csv(header, rows)


def results_json(results: StudyResults) -> dict[str, Any]:
    """Everything collected, as plain data."""
    return {"study": results.name, "description": results.description,
            "columns": [{"key": c.key, "header": c.header, "form": c.form} for c in results.columns],
            "groups": [{"group": g.name, **g.settings, "done": g.done, "cells": [c["id"] for c in g.cells],
                        "status": g.status, "stats": g.stats} for g in results.groups],
            "cells": results.cells}


def write_report(results: StudyResults, dest: str | Path | None = None) -> dict[str, Path]:
    """Write the report files (module docstring) into ``dest`` (default: the study folder's ``report/``).

    Returns:
        Name (``json``, ``cells_csv``, ``summary_csv``, ``markdown``, and the plots') → path written.
    """
    from .plots import write_plots

    out = Path(dest) if dest is not None else results.folder / "report"
    paths = {"json": out / "results.json", "cells_csv": out / "cells.csv", "summary_csv": out / "summary.csv",
             "markdown": out / "results.md"}
    write_json(paths["json"], results_json(results))
    write_text(paths["cells_csv"], cells_csv(results))
    write_text(paths["summary_csv"], summary_csv(results))
    write_text(paths["markdown"], markdown(results))
    paths.update(write_plots(results, out))
    return paths
