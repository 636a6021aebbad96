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
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text


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
        justify: ``left`` or ``right``; by default numbers are right-aligned and text left-aligned (a shape such
            as ``[16, 112, 112]`` is a ``number`` column, never wrapped, aligned left).
        style: the style of the column's cells.
    """

    name: str
    number: bool = False
    footer: str = ""
    header: str = ""
    min_width: int = 8
    justify: str = ""
    style: str = ""


def cell_width(cell: str) -> int:
    """How many terminal columns ``cell`` takes once rich renders it (markup removed, wide characters counted)."""
    return Text.from_markup(cell).cell_len if "[" in cell else cell_len(cell)


def _needed(column: Column, cells: list[str]) -> int:
    """Width a column needs: a number column its widest cell or header line; a text column its longest word,
    up to its ``min_width``."""
    header = (column.header or column.name).splitlines()
    if column.number:
        return max([cell_width(column.footer)] + [cell_width(c) for c in cells] + [cell_width(h) for h in header])
    words = [cell_width(w) for text in cells + header + [column.footer] for w in text.split()]
    return min(max(words, default=1), column.min_width)


def needed_width(columns: Sequence[Column], rows: Sequence[Sequence[str]], compact: bool) -> int:
    """The narrowest width ``columns`` can be laid out in without cutting a cell (see :class:`Column`), in the
    normal layout or the compact one (no vertical rules, no padding at the outer edges)."""
    content = sum(_needed(c, [str(r[i]) for r in rows]) + 2 for i, c in enumerate(columns))  # padding (0, 1)
    rules = len(columns) - 1 + (0 if compact else 2)  # column dividers, and the outer edges when drawn
    return content + rules - (2 if compact else 0)


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
            table.add_column(c.header or c.name, footer=c.footer, justify=c.justify or "right", no_wrap=True,
                             overflow="ellipsis", style=c.style)
        else:
            table.add_column(c.header or c.name, footer=c.footer, justify=c.justify or "left", overflow="fold",
                             style=c.style)
    for r in rows:
        table.add_row(*(str(r[i]) for i in keep))
    return table, needed_width([columns[i] for i in keep], [[r[i] for i in keep] for r in rows], compact)


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
        table_options: passed to :class:`rich.table.Table` (title, caption, show_footer, header_style, ...); the
            table is at least as wide as its title, up to ``width``, so that the title stays on one line.

    Returns:
        The table and the names of the columns left out (empty when everything fits).
    """
    names = [c.name for c in columns]
    order = [n for n in droppable if n in names]
    if isinstance(table_options.get("title"), str) and "min_width" not in table_options:
        # a title on one line when the console has room: rich wraps it to the table's width otherwise
        table_options = {**table_options, "min_width": min(cell_width(table_options["title"]), width)}
    table = None
    for compact, n_dropped in [(False, 0)] + [(True, n) for n in range(len(order) + 1)]:
        dropped = order[:n_dropped]
        table, needed = _build(columns, rows, [i for i, n in enumerate(names) if n not in dropped], compact,
                               table_options)
        if needed <= width:
            return table, dropped
    return table, order  # the narrowest we can do; rich folds what remains


def dropped_note(dropped: Sequence[str], width: int, more: str = "--json has everything") -> str:
    """The line that says which columns a narrow terminal left out (empty when none), and where ``more`` is."""
    if not dropped:
        return ""
    return f"[dim]at {width} columns, left out: {', '.join(dropped)} (a wider terminal shows them; {more})[/]"
