"""``snnc zoo``: the bundled model specs with their input shape, parameters and MACs (see :mod:`snnc.zoo`).

Everything comes from the IR, so listing needs no torch.
"""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from snnc.cli import _fmt_int, _fmt_macs, app, console, handle_errors


@app.command()
@handle_errors
def zoo(name: Optional[str] = typer.Argument(None, help="print the path of this bundled spec instead",
                                             show_default=False)) -> None:
    """List the bundled model specs (parameters and MACs at their default parameters), or print one's path."""
    from snnc.zoo import list_models, spec_path

    if name is not None:
        console.print(str(spec_path(name)), markup=False)
        return
    models = list_models()
    table = Table(title="snnc model zoo (MACs: one sample, one time step)", header_style="bold")
    for column, justify in (("name", "left"), ("input", "left"), ("params", "right"), ("MACs", "right"),
                            ("description", "left")):
        table.add_column(column, justify=justify)
    for m in models:
        table.add_row(m.name, "×".join(map(str, m.input_shape)), _fmt_int(m.params), _fmt_macs(m.macs),
                      m.description)
    console.print(table)
    folder = spec_path(models[0].file).parent if models else None
    console.print(f"{len(models)} specs in {folder}; see one with 'snnc summary \"$(snnc zoo NAME)\"', "
                  "adapt it with --param (each file's header lists its parameters)")
