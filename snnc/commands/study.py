"""``snnc study run|plan|report``: declarative studies over specs, targets, datasets, recipes and seeds.

Thin commands over :mod:`snnc.runtime.study`: ``run`` trains and measures every cell not yet finished (each an
ordinary run directory under ``DIR/cells/``), ``plan`` prints one ``snnc study run ... --cell ID`` command per
cell for a scheduler, ``report`` collects the table, CSV/JSON and plots. The runtime is imported inside the
commands, so ``snnc --help`` stays fast. ``docs/studies.md`` describes the study file.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from snnc.clitools import Command, CommandSet, Group, console, handle_errors

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""


study_app = typer.Typer(name="study", cls=Group, no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False,
                        help="Run a study file's grid of cells (resumable), plan them for a scheduler, report "
                             "the results (docs/studies.md).")
commands.add_typer(study_app, name="study")

StudyArg = typer.Argument(..., help="the study file (YAML)", show_default=False)
OutOpt = typer.Option(..., "--output", "-o", help="the study's folder (one run directory per cell under cells/)",
                      show_default=False)


@study_app.command("run", cls=Command)
@handle_errors
def run_cmd(study: Path = StudyArg, output: Path = OutOpt,
            cell: Optional[list[str]] = typer.Option(None, "--cell", metavar="ID", show_default=False,
                                                     help="run only this cell (repeatable; 'snnc study plan' "
                                                          "lists the ids)"),
            retry_failed: bool = typer.Option(False, "--retry-failed", help="run the cells that "
                                              "failed before again (default: keep their error as their result)"),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="one line per cell, not each "
                                       "cell's training")) -> None:
    """Run every cell of a study that is not finished yet.

    An interrupted study continues where it stopped, a finished cell is never run twice, and a failing cell is
    recorded with its error while the others go on.
    """
    from snnc.runtime.study import load_study
    from snnc.runtime.study.runner import run_study

    loaded = load_study(study)
    outcomes = run_study(loaded, output, cells=cell, retry_failed=retry_failed, console=console,
                         verbose=not quiet)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    colour = "yellow" if counts["failed"] else "green"
    console.print(f"[{colour}]✓[/] {len(outcomes)} cells of {escape(loaded.name)}: {counts['done']} run now, "
                  f"{counts['skipped']} already done, {counts['failed']} failed (their errors are in "
                  f"{escape(str(output))}/cells/ID/cell.json). Collect them: snnc study report {escape(str(output))}")


@study_app.command("plan", cls=Command)
@handle_errors
def plan_cmd(study: Path = StudyArg, output: Path = OutOpt) -> None:
    """Print one 'snnc study run FILE -o DIR --cell ID' command per cell, for a scheduler.

    GNU parallel, a SLURM array or any job queue can run the lines independently; 'snnc study report DIR' then
    collects the cells as usual.
    """
    from snnc.runtime.study import load_study

    loaded = load_study(study)
    head = f"snnc study run {shlex.quote(str(study))} -o {shlex.quote(str(output))} --cell "
    sys.stdout.write("".join(head + shlex.quote(c.id) + "\n" for c in loaded.cells))


@study_app.command("report", cls=Command)
@handle_errors
def report_cmd(folder: Path = typer.Argument(..., help="the study's folder (what 'snnc study run -o' wrote to)",
                                             show_default=False),
               output: Optional[Path] = typer.Option(None, "--output", "-o", help="where the report goes "
                                                     "(default: FOLDER/report)")) -> None:
    """Collect a study's cells: a table of mean ± std over seeds, CSV, JSON and plots.

    Writes results.md, results.json, cells.csv, summary.csv and the plots (accuracy per epoch per cell, accuracy
    against energy with the Pareto front, burst accuracy against T) into FOLDER/report.
    """
    from snnc.runtime.study.collect import collect
    from snnc.runtime.study.table import aligned, blocks, summary_rows, write_report

    results = collect(folder)
    paths = write_report(results, output)
    table = aligned(*summary_rows(results))
    console.print(f"[bold]study {escape(results.name)}[/]: mean ± std over seeds")
    if max(len(line) for line in table) <= console.width:
        sys.stdout.write("\n".join(table) + "\n")  # the markdown of results.md, aligned (never wrapped)
        sys.stdout.flush()
    else:  # Why: a table wider than the screen cannot be read wrapped; one block per row can
        for line in blocks(*summary_rows(results)):
            console.print(line, markup=False)
    for failed in results.failed():
        console.print(f"[red]failed[/] {escape(failed['id'])}: {escape(failed['error'])}")
    console.print(f"[green]✓[/] wrote {escape(str(paths['markdown']))}, {escape(str(paths['json']))}, "
                  f"{escape(str(paths['cells_csv']))}, {escape(str(paths['summary_csv']))}"
                  + "".join(f", {escape(str(p))}" for k, p in paths.items() if k.endswith("_plot")))
