"""``snnc report``: the cost report of a spec as a table or JSON (see :mod:`snnc.runtime.cost`).

Without data it gives the static report (parameters, MACs, which layers receive spikes, the ANN's energy); with
``--dataset`` it runs the snn or burst model and adds firing rates, spikes, synaptic operations and the spiking
energy. Torch is imported only when a model has to run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from snnc.clitools import CommandSet, OptionOpt, ParamOpt, SpecArg, console, deprecated_flags, handle_errors, parse_params
from snnc.commands.tables import Column, dropped_note, fit_table
from snnc.formatting import describe_node, fmt_int, fmt_macs

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""


def _num(value: Optional[float]) -> str:
    """Large counts as 1.23 M; small ones as they are; None as '?'."""
    if value is None:
        return "?"
    return fmt_macs(int(round(value))) if value >= 1000 else f"{value:.4g}"


def _energy(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.4g}"


def _op(target, layer, node) -> str:
    """The op as the target runs it (the burst target turns every spike node and ReLU into a burst IF neuron)."""
    if target.neuron_label and layer.neurons is not None:
        return target.neuron_label
    return describe_node(node)


REPORT_DROP_ORDER = ("charged", "input", "op", "rate", "params")
"""The report's columns a narrow terminal leaves out first: what --json, the notes or the summary also say."""


def report_table(rep, title: str, width: int = 10_000) -> tuple[Table, list[str]]:
    """A rich table of the report that fits ``width`` columns: one row per node, totals in the footer.

    Numbers are never cut; text wraps; at narrow widths the columns of :data:`REPORT_DROP_ORDER` are left out,
    in that order, until it fits.

    Args:
        rep: a :class:`~snnc.runtime.cost.CostReport`.
        title: the table's title.
        width: the console width.

    Returns:
        The table and the headers of the columns left out.
    """
    from snnc.compiler.targets.registry import get_target

    target = get_target(rep.target)
    spiking = target.spiking
    t = rep.totals
    columns = [Column("node", footer="total", min_width=12), Column("op", min_width=9),
               Column("params", number=True, footer=fmt_int(t["params"])),
               Column("MACs/step", number=True, header="MACs/\nstep", footer=fmt_macs(t["macs"]))]
    if spiking:
        columns += [Column("input"), Column("rate", number=True),
                    Column("spikes/sample", number=True, header="spikes/\nsample",
                           footer=_num(t["spikes"]) if t["spikes"] is not None else ""),
                    Column("SOPs", number=True, footer=_num(t["sops"]))]
    columns += [Column("charged"),
                Column("energy μJ", number=True, header="energy\nμJ", footer=_energy(t["energy_uj"]))]
    graph = rep.graph
    rows = []
    for layer in rep.layers:
        if layer.kind == "input" and not layer.macs:
            continue
        charged = layer.charged_as + (f" ×{layer.runs}" if layer.charged_as == "MAC" and spiking else "")
        row = [layer.name, _op(target, layer, graph.node(layer.name)), fmt_int(layer.params) if layer.params else "",
               fmt_macs(layer.macs) if layer.macs else ""]
        if spiking:
            rate = layer.firing_rate if layer.firing_rate is not None else layer.input_rate
            spikes = layer.spikes if layer.spikes is not None else layer.input_spikes
            row += [layer.input or "", f"{rate:.4f}" if rate is not None else "",
                    _num(spikes) if spikes is not None else "",
                    _num(layer.sops) if layer.charged_as == "AC" else ""]
        row += [charged, _energy(layer.energy_uj) if layer.charged_as else ""]
        rows.append(row)
    caption = ("rate: spikes per neuron per step (neuron layers) or per input element per step (AC layers); "
               "spikes/sample: emitted (neuron layers) or received (AC layers), all T steps" if spiking else None)
    return fit_table(columns, rows, width, REPORT_DROP_ORDER, title=title, show_footer=True, header_style="bold",
                     caption=caption)


HARDWARE_DROP_ORDER = ("kind", "reads", "used", "crossbar")
"""The crossbar table's columns a narrow terminal leaves out first (--json has them all)."""


def hardware_table(hw: dict, width: int = 10_000) -> tuple[Table, list[str]]:
    """A rich table of a target's crossbar figures (:meth:`Target.hardware_costs`): one row per layer, totals in
    the footer; fitted to ``width`` as :func:`report_table`."""
    t = hw["totals"]
    columns = [Column("layer", footer="total", min_width=8), Column("kind", min_width=6),
               Column("crossbar", header="rows ×\ncolumns", min_width=9),
               Column("tiles", number=True, footer=fmt_int(t["tiles"])),
               Column("devices", number=True, footer=fmt_int(t["devices"])),
               Column("used", number=True, header="used\n%",
                      footer=f"{100 * t['devices_used'] / t['devices']:.1f}" if t["devices"] else ""),
               Column("reads", number=True, header="reads/\ninference", footer=_num(t["reads"])),
               Column("ADC conversions", number=True, header="ADC conv./\ninference",
                      footer=_num(t["adc_conversions"])),
               Column("energy nJ", number=True, header="energy\nnJ", footer=f"{t['energy_pj']['total'] * 1e-3:.4g}")]
    rows = []
    for r in hw["layers"]:
        tile = r["tile_shape"]
        rows.append([r["name"], r["kind"] + (f" ×{r['runs']}" if r.get("runs", 1) > 1 else ""),
                     f"{r['rows']}×{r['columns']}" + (f" on {tile[0]}×{tile[1]}" if tile else ""),
                     fmt_int(r["tiles"]), fmt_int(r["devices"]), f"{100 * r['utilisation']:.1f}",
                     _num(r["reads"]), _num(r["adc_conversions"]), f"{r['energy_pj']['total'] * 1e-3:.4g}"])
    return fit_table(columns, rows, width, HARDWARE_DROP_ORDER, title="crossbars (per inference)", show_footer=True,
                     header_style="bold")


def _hardware_summary(hw: dict) -> str:
    e = hw["totals"]["energy_pj"]
    total = e["total"] or 1.0
    parts = ", ".join(f"{k} {100 * e[k] / total:.0f} %" for k in ("adc", "cells", "dac", "digital"))
    steps = hw["totals"].get("timesteps", 1)
    return (f"crossbar energy: [bold]{hw['totals']['energy_uj']:.4g} μJ[/] per inference ({parts}"
            + (f"; T = {steps}" if steps > 1 else "") + "), an estimate from published per-operation figures "
            "(docs/costs.md)")


def print_report(rep, title: str, out: Console, dataset: Optional[str] = None) -> None:
    """Print the report table (fitted to ``out``'s width, naming any column left out), summary and notes."""
    table, dropped = report_table(rep, title, out.width)
    out.print(table)
    if dropped:
        out.print(dropped_note(dropped, out.width))
    if rep.hardware:
        table, dropped = hardware_table(rep.hardware, out.width)
        out.print(table)
        if dropped:
            out.print(dropped_note(dropped, out.width))
    for line in _summary(rep, dataset):
        out.print(line)
    if rep.hardware:
        out.print(_hardware_summary(rep.hardware))
    for note in rep.notes:
        out.print(f"[dim]· {note}[/]", markup=True)


def _summary(rep, dataset: Optional[str]) -> list[str]:
    t = rep.totals
    lines = []
    from snnc.compiler.targets.registry import get_target

    target = get_target(rep.target)
    if not target.spiking:
        lines.append(f"ANN energy: [bold]{t['ann_energy_uj']:.4g} μJ[/] per inference ({fmt_macs(t['macs'])} MACs, "
                     f"one pass, {rep.technology.name})")
        return lines
    what = target.title
    if t["energy_uj"] is None:
        lines.append(f"{what} energy: unknown without data (T = {rep.timesteps}); pass --dataset NAME to measure, "
                     "or --assume-rate R for an estimate")
    else:
        how = (f"measured on {rep.samples} samples" + (f" of {dataset}" if dataset else "")
               + f", {rep.weights} weights" if rep.dynamic else f"ESTIMATE at assumed input rate {rep.assumed_rate:g}")
        acc = f", accuracy {rep.accuracy:.2%}" if rep.accuracy is not None else ""
        lines.append(f"{what} energy: [bold]{t['energy_uj']:.4g} μJ[/] per inference (T = {rep.timesteps}, "
                     f"{fmt_macs(t['charged_macs'])} MACs + {_num(t['sops'])} SOPs; {how}{acc})")
    ratio = f" — {t['energy_ratio']:.3g}× the {what}'s" if t["energy_ratio"] else ""
    lines.append(f"ANN energy of the same network: {t['ann_energy_uj']:.4g} μJ per inference "
                 f"({fmt_macs(t['macs'])} MACs, one pass){ratio}")
    return lines


@commands.command("report")
@handle_errors
def report_cmd(
    spec: Path = SpecArg,
    target: str = typer.Option("ann", "--target", "-t", help="ann, snn, burst or mnn (crossbar figures)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="trained weights: an artifact or "
                                              "checkpoint (.pt); burst converts an ann checkpoint"),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="measure spikes on this dataset "
                                          "(e.g. mnist, mnist-sample, cifar10)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="where the dataset's files are"),
    split: str = typer.Option("test", "--split", help="dataset split to measure on"),
    timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T", help="time steps per inference "
                                            "(default: the checkpoint's or spec's; burst: 64)"),
    batches: int = typer.Option(32, "--batches", "-n", help="measure on at most this many batches (32 of 32: "
                                "1,024 images)"),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="samples per batch"),
    tech: str = typer.Option("45nm-fp32", "--tech", help="energy table: 45nm-fp32, 45nm-fp16, 45nm-int32, "
                             "45nm-int8, or a YAML/JSON file with name, e_mac_pj, e_ac_pj, reference"),
    gamma: Optional[int] = typer.Option(None, "--gamma", help="deprecated: -O gamma=N (the burst target's "
                                        "largest burst)", show_default=False),
    assume_rate: Optional[float] = typer.Option(None, "--assume-rate", help="without data: estimate spiking "
                                                "costs at this input firing rate (labelled as an estimate)"),
    param: Optional[list[str]] = ParamOpt,
    option: Optional[list[str]] = OptionOpt,
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Cost report: per layer params, MACs, input type, firing rate, spikes, SOPs, how it is charged and energy."""
    from snnc.runtime.cost import report

    options = deprecated_flags(parse_params(option), gamma=gamma)
    # Why gamma also on its own: the burst conversion of an ann checkpoint reads it there
    rep = report(spec, target=target, checkpoint=checkpoint, dataset=dataset, data_dir=data_dir, split=split,
                 batches=batches, batch_size=batch_size, timesteps=timesteps, tech=tech,
                 params=parse_params(param), assume_rate=assume_rate, gamma=options.get("gamma"),
                 options=options or None)
    if as_json:
        sys.stdout.write(json.dumps(rep.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return
    print_report(rep, f"{rep.model} → {rep.target} ({spec})", console, dataset)
