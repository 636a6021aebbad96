"""Running a study: every cell an ordinary run directory, resumable, a failed cell recorded and passed over.

Layout of a study's output folder::

    DIR/
        study.json              the study's name, measures and every cell (id, group, labels, settings)
        study.yaml              the study file as it was run
        cells/<cell id>/        a run directory (spec.yaml, config.json, metrics.json, last.pt, best.pt, ...)
            cell.json           status: running, done or failed (with the error), the cell's fingerprint, times
            results.json        what was measured (:mod:`snnc.runtime.study.measure`), once done
        report/                 what ``snnc study report`` writes

Resume: a cell whose ``cell.json`` says ``done`` is never run again; a failed one is passed over (its error is
its result) unless ``retry_failed``; an interrupted one continues from its ``last.pt``. Every file is written
atomically, so an interruption at any moment leaves a consistent folder. A finished cell counts only for the
same settings: when the study file changed under it, the run stops before any cell and names the cells.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from snnc.compiler.errors import SnncError, SpecError, TrainingInterrupted, format_path

from ..run_dir import write_json, write_text
from .grid import Cell
from .load import LoadedStudy
from .progress import CellProgress

PLAN_FILE = "study.json"
STATUS_FILE = "cell.json"
RESULTS_FILE = "results.json"
CELLS_FOLDER = "cells"


@dataclass
class CellOutcome:
    """What happened to one cell in a run.

    Attributes:
        cell: the cell.
        status: ``done`` (ran now), ``failed`` (now or before, passed over), ``skipped`` (done before).
        error: the error of a failed cell.
        seconds: wall time of this run of the cell (0 when skipped).
    """

    cell: Cell
    status: str
    error: str = ""
    seconds: float = 0.0


def cell_dir(out_dir: Path, cell: Cell) -> Path:
    """The run directory of a cell."""
    return Path(out_dir) / CELLS_FOLDER / cell.id


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """A JSON file's data, or None when it is absent or unreadable (a file being replaced counts as absent)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def error_text(exc: BaseException) -> str:
    """An error as one readable message: a spec error's diagnostics each on a line, a bug with its type."""
    if isinstance(exc, SpecError):
        return "; ".join(f"{d.location}: {format_path(d.path)}: {d.message}" if d.path else f"{d.location}: "
                         f"{d.message}" for d in exc.diagnostics)
    if isinstance(exc, SnncError):
        return str(exc)
    return f"internal error ({type(exc).__name__}): {exc}"


def write_plan(loaded: LoadedStudy, out_dir: Path) -> None:
    """Write ``study.json`` and ``study.yaml`` (the same content from every process that runs cells)."""
    study = loaded.study
    measures = [{"kind": m.kind, "values": list(m.values)} for m in study.measure]
    write_json(Path(out_dir) / PLAN_FILE, {"study": study.study, "description": study.description,
                                           "file": str(loaded.path), "measures": measures,
                                           "cells": [c.describe() for c in loaded.cells]})
    write_text(Path(out_dir) / "study.yaml", loaded.source.text)


def check_unchanged(cells: list[Cell], out_dir: Path) -> None:
    """Refuse to run when a cell already run in ``out_dir`` was run with other settings.

    Raises:
        SnncError: naming the cells and the first setting that differs.
    """
    changed = []
    for cell in cells:
        status = read_json(cell_dir(out_dir, cell) / STATUS_FILE)
        if status is None or status.get("fingerprint") == cell.fingerprint():
            continue
        old, new = status.get("fingerprint") or {}, cell.fingerprint()
        key = next((k for k in {**new, **old} if old.get(k) != new.get(k)), "settings")
        changed.append(f"{cell.id} ({key}: {old.get(key)!r} then, {new.get(key)!r} now)")
    if changed:
        raise SnncError(f"{len(changed)} cell(s) in {out_dir} were run with other settings than the study file's "
                        f"now: {'; '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}. A finished cell is "
                        "never run again: remove their folders under cells/ to rerun them, or use another -o")


def _status(cell: Cell, state: str, **more: Any) -> dict[str, Any]:
    return {"id": cell.id, "status": state, "fingerprint": cell.fingerprint(), **more}


def run_cell(cell: Cell, loaded: LoadedStudy, out_dir: Path, *, console: Any = None,
             verbose: bool = True) -> CellOutcome:
    """Train and measure one cell in its run directory (resuming from ``last.pt`` when there is one).

    Returns:
        ``done``, or ``failed`` with the error (written to ``cell.json``; the study goes on).

    Raises:
        TrainingInterrupted, KeyboardInterrupt: Ctrl-C (the cell stays ``running`` and resumes next time).
    """
    from ..train import train
    from .measure import measure_cell

    run = cell_dir(out_dir, cell)
    run.mkdir(parents=True, exist_ok=True)
    started = time.time()
    write_json(run / STATUS_FILE, _status(cell, "running", started=started))
    try:
        result = train(cell.spec_path, run_dir=run, resume=(run / "last.pt").is_file(), progress=verbose,
                       console=console, **cell.train_settings())
        results = measure_cell(cell, loaded, result)
    except (TrainingInterrupted, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 -- a bad cell fails alone; the study goes on
        if os.environ.get("SNNC_DEBUG"):
            raise
        extra = {} if isinstance(exc, SnncError) else {"traceback": traceback.format_exc()}
        seconds = time.time() - started
        write_json(run / STATUS_FILE, _status(cell, "failed", error=error_text(exc), started=started,
                                              seconds=seconds, **extra))
        return CellOutcome(cell, "failed", error_text(exc), seconds)
    write_json(run / RESULTS_FILE, {**results, "fingerprint": cell.fingerprint()})
    seconds = time.time() - started
    write_json(run / STATUS_FILE, _status(cell, "done", started=started, seconds=seconds))
    return CellOutcome(cell, "done", seconds=seconds)


def run_study(loaded: LoadedStudy, out_dir: str | Path, *, cells: list[str] | None = None,
              retry_failed: bool = False, console: Any = None, verbose: bool = True,
              on_cell_start: Callable[[Cell], None] | None = None,
              on_cell_end: Callable[[CellOutcome], None] | None = None) -> list[CellOutcome]:
    """Run the cells of a study that are not finished, one after the other, under a progress bar.

    Args:
        loaded: the study (:func:`~snnc.runtime.study.load.load_study`).
        out_dir: the study's output folder (layout in the module docstring).
        cells: run only these cell ids (what ``snnc study plan`` hands each scheduled job).
        retry_failed: run the cells that failed before again (default: keep their error).
        console: the rich console (default: a new one on stdout).
        verbose: show each cell's training (a bar and a line per epoch).
        on_cell_start: called before a cell trains.
        on_cell_end: called with each cell's outcome (skipped ones too).

    Returns:
        The outcome of every selected cell, in grid order.

    Raises:
        SnncError: an unknown cell id, or cells run before with other settings (before any cell runs).
        TrainingInterrupted: Ctrl-C; finished cells are kept, and the message says how to continue.
    """
    out = Path(out_dir)
    chosen = loaded.select(cells)
    check_unchanged(chosen, out)
    out.mkdir(parents=True, exist_ok=True)
    write_plan(loaded, out)
    outcomes: list[CellOutcome] = []
    with CellProgress(len(chosen), console) as bar:
        for cell in chosen:
            status = read_json(cell_dir(out, cell) / STATUS_FILE) or {}
            if status.get("status") == "done" or (status.get("status") == "failed" and not retry_failed):
                outcome = CellOutcome(cell, "skipped" if status["status"] == "done" else "failed",
                                      status.get("error", ""))
            else:
                bar.start(cell)
                if on_cell_start is not None:
                    on_cell_start(cell)
                try:
                    outcome = run_cell(cell, loaded, out, console=bar.console, verbose=verbose)
                except (TrainingInterrupted, KeyboardInterrupt):
                    command = f"snnc study run {loaded.path} -o {out}" + (f" --cell {cell.id}" if cells else "")
                    raise TrainingInterrupted(f"interrupted in cell {cell.id}; finished cells are kept and this "
                                              f"one continues from its last checkpoint. Continue with: {command}"
                                              ) from None
            bar.finish(outcome)
            outcomes.append(outcome)
            if on_cell_end is not None:
                on_cell_end(outcome)
    return outcomes
