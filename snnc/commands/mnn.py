"""``snnc mnn-sweep``: accuracy of one trained checkpoint on simulated crossbars against each non-ideality's
severity (a thin command over :func:`snnc.runtime.sweep.mnn_sweep`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from snnc.clitools import CommandSet, OptionOpt, ParamOpt, console, handle_errors, parse_params

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""


@commands.command("mnn-sweep")
@handle_errors
def mnn_sweep_cmd(
    spec: Path = typer.Argument(..., help="the spec the checkpoint was trained from", show_default=False),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="a trained ann or snn checkpoint",
                                    show_default=False),
    dataset: str = typer.Option("mnist-sample", "--dataset", "-d", help="the dataset to score on (test split)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="where the dataset's files are"),
    axis: Optional[list[str]] = typer.Option(None, "--axis", "-a", help="fault_proportion, conductance_states, "
                                             "adc_bits or on_off_ratio (repeatable; default: all)"),
    limit: int = typer.Option(500, "--limit", help="test samples per point"),
    batch_size: int = typer.Option(250, "--batch-size", "-b", help="samples per batch"),
    option: Optional[list[str]] = OptionOpt,
    output: Path = typer.Option(Path("runs/mnn-sweep"), "--output", "-o", help="folder for results.json, "
                                "results.md and sweep.png"),
    param: Optional[list[str]] = ParamOpt,
) -> None:
    """Sweep the severity of each non-ideality for one trained network and plot accuracy against it, with the
    float network's and the ideal devices' accuracy as reference lines."""
    from snnc.compiler import pipeline
    from snnc.compiler.artifact import atomic_write_bytes
    from snnc.runtime.sweep import classification_accuracy, mnn_sweep
    from snnc.runtime.sweep_report import plot_mnn_sweep
    from snnc.compiler.targets.mnn.build import require_memtorch
    from snnc.compiler.targets.registry import get_target
    from snnc.runtime.data import load_for, make_loader

    require_memtorch()
    params = parse_params(param) or None
    source = pipeline.build_source(spec, "mnn", checkpoint, params=params)
    graph = pipeline.graph_of(source)
    data = load_for(graph, dataset, "test", data_dir, limit=limit)
    batches = list(make_loader(data, batch_size))
    loaded = pipeline.load_spec(spec, params)
    target = get_target("mnn")
    options = target.options(parse_params(option), defaults=target.spec_defaults(loaded.spec))
    result = mnn_sweep(source, classification_accuracy(batches), options, list(axis) if axis else None, progress=True)
    result.update({"spec": str(spec), "checkpoint": str(checkpoint), "dataset": dataset, "samples": len(data)})
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(output / "results.json", json.dumps(result, indent=2, default=str).encode("utf-8"))
    lines = [f"float network {result['float']:.2%}, ideal devices {result['ideal']:.2%} ({len(data)} samples of "
             f"{dataset})", ""]
    for name, values in result["axes"].items():
        table = Table(title=name, header_style="bold")
        table.add_column(name, justify="right")
        table.add_column("accuracy", justify="right")
        for value, score in zip(values["values"], values["scores"]):
            table.add_row(f"{value:g}", f"{score:.2%}")
        console.print(table)
        lines += [f"| {name} | accuracy |", "| ---: | ---: |"]
        lines += [f"| {v:g} | {s:.2%} |" for v, s in zip(values["values"], values["scores"])] + [""]
    atomic_write_bytes(output / "results.md", "\n".join(lines).encode("utf-8"))
    png = plot_mnn_sweep(result, output / "sweep.png", title=f"{graph.name} on memristive crossbars")
    console.print(lines[0])
    console.print(f"[green]✓[/] wrote {output / 'results.json'}, {output / 'results.md'} and {png}")
