"""Tables that fit the terminal: numbers are never cut, text wraps, and low-priority columns are dropped (and
named) when even a compact layout is too wide.

Why: rich shrinks every column of a too-wide table and cuts cells with "…" (``19,2…``, ``para…``), which at 80
columns (an ordinary terminal, or any piped output) made reports unreadable. Here a table is described once as
:class:`Column` objects and rows, and :func:`fit_table` tries the normal layout, then a compact one (no vertical
rules), then drops the droppable columns one by one in the order given, until what the columns need fits:
number columns are never wrapped (so rich never cuts them), text columns wrap and fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rich import box
from rich.table import Table

@dataclass(frozen=True)
class Column:
    """One column of a fitted table.

    Attributes:
        name: the column's name, as the note about left-out columns says it.
        number: right-aligned, never wrapped or cut (counts, rates, energies).
        footer: the footer cell (totals).
        header: the header shown, if not ``name`` (a newline splits a long one over two lines: number
            columns are as wide as their widest header line).
        min_width: the narrowest a text column may get before the table is considered too wide (text wraps at
            spaces, and a longer word folds onto the next line; nothing is cut).
    """

    name: str
    number: bool = False
    footer: str = ""
    header: str = ""
    min_width: int = 8


def _needed(column: Column, cells: list[str]) -> int:
    """Width a column needs: a number column its widest cell or header line; a text column its longest word,
    up to its ``min_width``."""
    header = (column.header or column.name).splitlines()
    if column.number:
        return max([len(column.footer)] + [len(c) for c in cells] + [len(h) for h in header])
    words = [len(w) for text in cells + header + [column.footer] for w in text.split()]
    return min(max(words, default=1), column.min_width)


def _build(columns: Sequence[Column], rows: Sequence[Sequence[str]], keep: list[int], compact: bool,
           table_options: dict[str, Any]) -> tuple[Table, int]:
    """The table with the columns ``keep``, and the narrowest width it can be laid out in without cutting."""
    options = dict(table_options)
    if compact:
        options.update(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table = Table(**options)
    for i in keep:
        c = columns[i]
        if c.number:
            table.add_column(c.header or c.name, footer=c.footer, justify="right", no_wrap=True, overflow="ellipsis")
        else:
            table.add_column(c.header or c.name, footer=c.footer, overflow="fold")
    for r in rows:
        table.add_row(*(str(r[i]) for i in keep))
    content = sum(_needed(columns[i], [str(r[i]) for r in rows]) + 2 for i in keep)  # cell padding (0, 1)
    rules = len(keep) - 1 + (0 if compact else 2)  # column dividers, and the outer edges when drawn
    return table, content + rules - (2 if compact else 0)  # compact: no padding at the outer edges


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int,
              droppable: Sequence[str] = (), **table_options: Any) -> tuple[Table, list[str]]:
    """The fullest table of ``rows`` that fits ``width`` columns without cutting a cell.

    Tries the normal layout, then a compact one (no vertical rules), then leaves out the ``droppable`` columns
    one at a time, in order, until the columns' needs (see :class:`Column`) fit.

    Args:
        columns: the columns, in display order.
        rows: the cells (strings), one list per row, in column order.
        width: the console width.
        droppable: names of the columns that may be left out, lowest priority first.
        table_options: passed to :class:`rich.table.Table` (title, caption, show_footer, header_style, ...).

    Returns:
        The table and the names of the columns left out (empty when everything fits).
    """
    names = [c.name for c in columns]
    order = [n for n in droppable if n in names]
    table = None
    for compact, n_dropped in [(False, 0)] + [(True, n) for n in range(len(order) + 1)]:
        dropped = order[:n_dropped]
        table, needed = _build(columns, rows, [i for i, n in enumerate(names) if n not in dropped], compact,
                               table_options)
        if needed <= width:
            return table, dropped
    return table, order  # the narrowest we can do; rich folds what remains


def dropped_note(dropped: Sequence[str], width: int) -> str:
    """The line that says which columns a narrow terminal left out (empty when none)."""
    if not dropped:
        return ""
    return (f"[dim]at {width} columns, left out: {', '.join(dropped)} (a wider terminal shows them; --json has "
            "everything)[/]")
