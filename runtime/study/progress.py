"""The progress of a study over its cells: a rich bar on terminals, and one line per cell everywhere.

Why a line per cell also without a terminal: in a log (a scheduler's output file) the bar is noise, while
"[3/8] tiny_fc-snn-...-s0 done in 4.1 s" is what a reader looks for. Each cell's own training bar nests under
this one (rich renders nested live displays together).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape

if TYPE_CHECKING:  # pragma: no cover
    from .grid import Cell
    from .runner import CellOutcome

_STYLE = {"done": "green", "failed": "red", "skipped": "dim"}
_WORD = {"done": "done", "failed": "failed", "skipped": "already done"}


class CellProgress:
    """A context manager counting the cells of a run.

    Args:
        total: the cells of this run.
        console: the rich console (default: a new one on stdout).
    """

    def __init__(self, total: int, console: Any = None):
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.total = total
        self.count = 0
        self.started = time.perf_counter()
        self._progress = None
        self._task = None

    def __enter__(self) -> "CellProgress":
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.description}"), console=self.console, transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    def start(self, cell: "Cell") -> None:
        """A cell starts training."""
        if self._progress is not None:
            self._progress.update(self._task, description=cell.id)
        self.console.print(f"[bold][{self.count + 1}/{self.total}][/] {escape(cell.id)}")

    def finish(self, outcome: "CellOutcome") -> None:
        """A cell is over (or was passed over): advance and say how it ended."""
        self.count += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1)
        state = outcome.status
        line = f"[bold][{self.count}/{self.total}][/] {escape(outcome.cell.id)} [{_STYLE[state]}]{_WORD[state]}[/]"
        if outcome.seconds:
            line += f" in {outcome.seconds:.1f} s"
        if outcome.error:
            line += f": {escape(outcome.error.splitlines()[0][:300])}"
        self.console.print(line)
