"""Tables that fit: at 80 columns ``snnc report`` and ``snnc zoo`` never cut a number (text wraps, low-priority
columns are left out and named), and wide terminals keep every column."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.commands.report import _energy, _num, print_report, report_table
from snnc.commands.tables import Column, fit_table
from snnc.commands.zoo import zoo_table
from snnc.formatting import fmt_int, fmt_macs


def _render(width: int, draw) -> str:
    out = Console(width=width, file=io.StringIO(), color_system=None, highlight=False)
    draw(out)
    return out.file.getvalue()


def _row_line(text: str, name: str) -> str:
    """The first line of the table row of ``name``."""
    lines = [line for line in text.splitlines() if line.strip(" │┃").startswith(name + " ")]
    assert lines, f"no row for {name} in\n{text}"
    return lines[0]


def _expected_cells(layer: dict, spiking: bool) -> list[str]:
    """The numbers of one JSON layer as the table writes them."""
    cells = [fmt_int(layer["params"]) if layer["params"] else "", fmt_macs(layer["macs"]) if layer["macs"] else "",
             _energy(layer["energy_uj"]) if layer["charged_as"] else ""]
    if spiking:
        rate = layer["firing_rate"] if layer["firing_rate"] is not None else layer["input_rate"]
        spikes = layer["spikes"] if layer["spikes"] is not None else layer["input_spikes"]
        cells += [f"{rate:.4f}" if rate is not None else "", _num(spikes) if spikes is not None else "",
                  _num(layer["sops"]) if layer["charged_as"] == "AC" else ""]
    return [c for c in cells if c]


@pytest.fixture(scope="module")
def measured():
    return snnc.report("mnist_conv", target="snn", dataset="mnist-sample", batches=1, batch_size=4, timesteps=3)


@pytest.mark.parametrize("target", ["ann", "snn"])
def test_report_at_80_columns_cuts_no_number(target, measured):
    rep = measured if target == "snn" else snnc.report("mnist_conv", target="ann")
    text = _render(80, lambda out: print_report(rep, "mnist_conv", out, "mnist-sample"))
    table = text.split("rate: spikes")[0] if target == "snn" else text.split("ANN energy")[0]
    assert "…" not in text
    assert max(len(line) for line in table.splitlines()) <= 80
    data = rep.to_dict()
    for layer in data["layers"]:
        if layer["kind"] == "input" and not layer["macs"]:
            continue
        line = _row_line(table, layer["name"])
        for cell in _expected_cells(layer, target == "snn"):
            assert cell in line, (layer["name"], cell, line)
    totals = data["totals"]
    total = _row_line(table, "total")
    for cell in (fmt_int(totals["params"]), fmt_macs(totals["macs"]), _energy(totals["energy_uj"])):
        assert cell in total
    if target == "snn":
        assert _num(totals["spikes"]) in total and _num(totals["sops"]) in total
        assert "at 80 columns, left out: charged, input" in text  # which columns a narrow terminal drops


def test_report_wide_keeps_every_column(measured):
    table, dropped = report_table(measured, "t", width=200)
    assert dropped == []
    assert [c.header for c in table.columns] == ["node", "op", "params", "MACs/\nstep", "input", "rate",
                                                 "spikes/\nsample", "SOPs", "charged", "energy\nμJ"]


def test_report_of_a_deep_net_fits_80_columns():
    rep = snnc.report("ghostnet_dfc", target="snn", assume_rate=0.1)
    text = _render(80, lambda out: print_report(rep, "ghostnet_dfc", out))
    assert "…" not in text
    for number in (fmt_int(rep.totals["params"]), _num(rep.totals["sops"]), _energy(rep.totals["energy_uj"])):
        assert number in _row_line(text, "total")


def test_report_cli_piped_is_80_columns_and_json_is_whole(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["report", "mnist_conv", "-t", "snn", "--assume-rate", "0.1"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout and "19,264" in result.stdout and "left out:" in result.stdout
    result = CliRunner().invoke(app, ["report", "mnist_conv", "-t", "snn", "--assume-rate", "0.1", "--json"])
    layers = {layer["name"]: layer for layer in json.loads(result.stdout)["layers"]}
    assert layers["conv2"]["charged_as"] == "AC" and layers["conv2"]["params"] == 19_264


def test_zoo_at_80_columns_cuts_nothing():
    models = snnc.list_models()
    text = _render(80, lambda out: out.print(zoo_table(models, 80)[0]))
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for m in models:
        line = _row_line(text, m.name)
        assert fmt_int(m.params) in line and fmt_macs(m.macs) in line
    flat = " ".join(text.replace("│", " ").split())
    assert "12C5-MP2-64C5-MP2-" in flat  # a long word folds onto the next line instead of ending in "…"


def test_zoo_drops_the_input_column_only_when_needed():
    models = snnc.list_models()
    assert zoo_table(models, 80)[1] == []
    table, dropped = zoo_table(models, 60)
    assert dropped == ["input"]
    text = _render(60, lambda out: out.print(table))
    assert "…" not in text and all(fmt_int(m.params) in text for m in models)


def test_fit_table_order_and_compact_layout():
    columns = [Column("name"), Column("note", min_width=4), Column("count", number=True, footer="1,234,567")]
    rows = [["alpha", "a long note that wraps", "1,234,567"]]
    table, dropped = fit_table(columns, rows, 200, ("note",))
    assert dropped == [] and table.show_edge
    table, dropped = fit_table(columns, rows, 26, ("note",))
    assert dropped == [] and not table.show_edge  # compact first
    table, dropped = fit_table(columns, rows, 18, ("note",))
    assert dropped == ["note"]
    assert "1,234,567" in _render(18, lambda out: out.print(table))
