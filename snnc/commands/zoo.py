"""``snnc zoo``: the bundled model specs with their input shape, parameters and MACs (see :mod:`snnc.zoo`).

Everything comes from the IR, so listing needs no torch.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from snnc.clitools import CommandSet, console, handle_errors
from snnc.commands.tables import Column, dropped_note, fit_table
from snnc.formatting import fmt_int, fmt_macs

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""


def zoo_table(models, width: int = 10_000) -> tuple[Table, list[str]]:
    """The zoo as a table fitted to ``width`` columns (numbers never cut, descriptions wrap; the input shape is
    left out first when narrow).

    Args:
        models: :class:`~snnc.zoo.ZooModel` entries.
        width: the console width.

    Returns:
        The table and the headers of the columns left out.
    """
    columns = [Column("name", min_width=12), Column("input", min_width=9), Column("params", number=True),
               Column("MACs", number=True), Column("description", min_width=12)]
    rows = [[m.name, "×".join(map(str, m.input_shape)), fmt_int(m.params), fmt_macs(m.macs), m.description]
            for m in models]
    return fit_table(columns, rows, width, ("input",), title="snnc model zoo (MACs: one sample, one time step)",
                     header_style="bold")


@commands.command()
@handle_errors
def zoo(name: Optional[str] = typer.Argument(None, help="print the path of this bundled spec instead",
                                             show_default=False)) -> None:
    """List the bundled model specs (parameters and MACs at their default parameters), or print one's path."""
    from snnc.zoo import list_models, spec_path

    if name is not None:
        console.print(str(spec_path(name)), markup=False)
        return
    models = list_models()
    table, dropped = zoo_table(models, console.width)
    console.print(table)
    if dropped:
        console.print(dropped_note(dropped, console.width))
    folder = spec_path(models[0].file).parent if models else None
    console.print(f"{len(models)} specs in {escape(str(folder))}; adapt one with --param (each file's header lists its "
                  "parameters); see one with:")
    console.print('  snnc summary "$(snnc zoo NAME)"', markup=False, soft_wrap=True)
