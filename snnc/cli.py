"""The ``snnc`` command line: thin typer commands that parse options and call the library.

This module builds the app: its core commands (validate, summary, compile, schema, targets, methods), then each
command module's (:mod:`snnc.commands`), which define theirs with :mod:`snnc.clitools` and never import this
module. One place (:func:`snnc.clitools.handle_errors`) maps snnc's exceptions to a message on stderr and an exit
code; a traceback is shown only with ``SNNC_DEBUG=1``. Torch is imported inside the commands that need it, never at start-up,
so ``snnc --help`` and ``snnc validate`` stay fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.markup import escape

from snnc.clitools import (CommandSet, Group, MaxMemOpt, OptionOpt, ParamOpt, SpecArg, console, deprecated_flags,
                           handle_errors, parse_params, target_options)
from snnc.clitools import parse_max_memory as _max_memory
from snnc.compiler.errors import SnncError
from snnc.formatting import describe_node, fmt_int, fmt_macs

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(name="snnc", cls=Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="snnc: compile brain-inspired neural networks from one YAML spec to ann, snn, burst and "
                       "mnn targets.")
core = CommandSet()
"""The commands defined here; :func:`build_app` registers them first, then those of :mod:`snnc.commands`."""


SUMMARY_DROP_ORDER = ("output shape", "op")
"""The summary's columns a terminal narrower than about 60 columns leaves out first (80 columns keep them all)."""


def summary_table(graph, title: str, depth: int = 0, width: int = 10_000) -> tuple[Table, list[str]]:
    """A rich table of node, op, output shape, parameters and MACs, with totals, that fits ``width`` columns.

    Numbers and shapes are never wrapped or cut; node names and ops wrap (a long name folds onto the next line).

    Args:
        graph: the IR graph.
        title: the table's title.
        depth: 0 for one row per node; N to roll nodes up by the first N parts of their dotted names
            (``blocks.3.ghost1.primary_conv`` → ``blocks.3`` at depth 2), for large networks.
        width: the console width.

    Returns:
        The table and the columns a narrow terminal left out (:data:`SUMMARY_DROP_ORDER`).
    """
    from snnc.commands.tables import Column, fit_table
    from snnc.compiler.ir.costs import graph_costs

    costs = graph_costs(graph)
    groups: dict[str, list] = {}
    for node in graph.nodes:
        key = ".".join(node.name.split(".")[:depth]) if depth else node.name
        groups.setdefault(key, []).append(node)
    rows = []
    for key, nodes in groups.items():
        params = sum(costs[n.name].params for n in nodes)
        macs = sum(costs[n.name].macs for n in nodes)
        op = describe_node(nodes[0]) if len(nodes) == 1 else f"{len(nodes)} nodes"
        rows.append([escape(key), escape(op), str(list(nodes[-1].shape)), fmt_int(params) if params else "",
                     fmt_macs(macs) if macs else ""])
    columns = [Column("node", footer="total", min_width=16), Column("op", min_width=12),
               Column("output shape", number=True, justify="left"),
               Column("params", number=True, footer=fmt_int(sum(c.params for c in costs.values()))),
               Column("MACs", number=True, footer=fmt_macs(sum(c.macs for c in costs.values())))]
    return fit_table(columns, rows, width, SUMMARY_DROP_ORDER, title=escape(title), show_footer=True,
                     header_style="bold")


def print_summary_table(graph, title: str, depth: int) -> None:
    """Print :func:`summary_table` fitted to the console, naming any column a narrow terminal left out."""
    from snnc.commands.tables import dropped_note

    table, dropped = summary_table(graph, title, depth, console.width)
    console.print(table)
    if dropped:
        console.print(dropped_note(dropped, console.width, "--depth rolls nodes up"))


AUTO_GROUP_NODES = 60
"""Graphs with more nodes than this are summarised by block (``--depth 2``) unless a depth is given."""


def _auto_depth(graph, depth: Optional[int]) -> int:
    if depth is not None:
        return depth
    return 2 if len(graph.nodes) > AUTO_GROUP_NODES else 0


DepthOpt = typer.Option(None, "--depth", help="roll nodes up by the first N parts of their dotted names "
                                                   "(0: every node; default: 2 for graphs over 60 nodes)")


@core.command()
@handle_errors
def validate(spec: Path = SpecArg, param: Optional[list[str]] = ParamOpt,
             max_memory: Optional[str] = MaxMemOpt) -> None:
    """Check a spec: syntax, types, wiring, shapes and sizes. Exits non-zero with located errors if invalid."""
    from snnc.quick import validate_report

    name, facts = validate_report(spec, parse_params(param), _max_memory(max_memory))
    # one line whatever its length, as the fast path (snnc/quick.py) prints it
    console.print(f"[green]✓[/] {escape(str(spec))}: [bold]{escape(name)}[/] — {facts}", soft_wrap=True)


@core.command()
@handle_errors
def summary(spec: Path = SpecArg, param: Optional[list[str]] = ParamOpt,
            max_memory: Optional[str] = MaxMemOpt, depth: Optional[int] = DepthOpt) -> None:
    """Show every node with its op, output shape, parameters and MACs (one sample, one time step), with totals."""
    from snnc.compiler.pipeline import build_graph

    graph = build_graph(spec, parse_params(param), max_memory=_max_memory(max_memory))
    print_summary_table(graph, f"{graph.name} ({spec})", _auto_depth(graph, depth))
    spikes = [n for n in graph.nodes if n.kind == "spike"]
    console.print(f"timesteps {graph.timesteps}, encoding {graph.encoding.kind}, decoding {graph.decoding.kind}, "
                  f"{len(spikes)} spike layers, "
                  f"{fmt_int(sum(int(__import__('math').prod(n.shape)) for n in spikes))} neurons")


def _held(module: Any, graph: Any) -> str:
    """What a compiled module holds: its parameters, or for a module without torch parameters (mnn: programmed
    conductances) the weights it was programmed with."""
    n_params = sum(p.numel() for p in module.parameters())
    if n_params:
        return f"{fmt_int(n_params)} parameters"
    from snnc.compiler.ir.costs import graph_costs

    weights = sum(c.params for c in graph_costs(graph).values())
    return f"{fmt_int(weights)} weights programmed, no trainable parameters"


@core.command("compile")
@handle_errors
def compile_cmd(spec: Path = SpecArg,
                target: str = typer.Option("ann", "--target", "-t", help="a target: ann, snn, burst, ... "
                                           "('snnc targets' lists them with their options)"),
                output: Optional[Path] = typer.Option(None, "--output", "-o", help="write the compiled model "
                                                      "(spec + state dict, loadable with snnc.load)"),
                param: Optional[list[str]] = ParamOpt,
                option: Optional[list[str]] = OptionOpt,
                timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T", help="override the spec's "
                                                        "time steps (spiking targets)"),
                max_memory: Optional[str] = MaxMemOpt,
                quiet: bool = typer.Option(False, "--quiet", "-q", help="do not print the summary table"),
                depth: Optional[int] = DepthOpt,
                checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="targets built from a "
                                                          "trained ANN (burst): its weights (an artifact from "
                                                          "'snnc train -t ann' or 'snnc compile -o')"),
                calibration: Optional[str] = typer.Option(None, "--calibration", help="burst: DATASET or "
                                                          "DATASET:N training images that set the thresholds"),
                gamma: Optional[int] = typer.Option(None, "--gamma", help="deprecated: -O gamma=N (burst: the "
                                                    "largest burst per step)", show_default=False),
                percentile: Optional[float] = typer.Option(None, "--percentile", help="deprecated: -O percentile=P (burst: "
                                                           "the activation percentile of each threshold)",
                                                           show_default=False),
                channelwise: bool = typer.Option(False, "--channelwise", help="deprecated: -O channelwise=true "
                                                 "(burst: one threshold per channel)"),
                v_init: Optional[float] = typer.Option(None, "--v-init", help="deprecated: -O v_init=V (burst: "
                                                       "initial membrane / threshold)", show_default=False),
                data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="burst: where the "
                                                        "calibration dataset is"),
                device: Optional[str] = typer.Option(None, "--device", help="where to build: cpu, cuda or auto "
                                                     "(cuda when torch sees a GPU); burst calibrates there; "
                                                     "default: cpu", show_default=False)) -> None:
    """Compile a spec to a target module, print what was built and optionally save it.

    Targets built from a trained ANN (burst) take --checkpoint, and burst also --calibration.
    """
    from snnc.compiler.targets.registry import get_target

    where = None
    if device is not None:
        from snnc.runtime.device import resolve_device

        where = resolve_device(device)
    tgt = get_target(target)
    params = parse_params(param)
    options = deprecated_flags(parse_params(option), gamma=gamma, percentile=percentile,
                               channelwise=channelwise or None, v_init=v_init)
    if timesteps is not None:
        options["timesteps"] = timesteps
    tgt.options(options)  # checked before anything is built
    from snnc.compiler import pipeline

    loaded = pipeline.load_spec(spec, params)
    if tgt.needs_trained_ann and checkpoint is None:
        pipeline.build_graph(loaded, max_memory=_max_memory(max_memory))  # spec errors first
        kinds, file = ("-t ann or -t snn", "TRAINED.pt") if tgt.takes_spiking_source else ("-t ann", "ANN.pt")
        raise SnncError(f"the {tgt.name} target is built from {tgt.built_from}: give --checkpoint {file} (an "
                        f"artifact from 'snnc train {kinds}' or 'snnc compile -o', or a state dict)")
    calib = None
    if calibration is not None:
        from snnc.runtime.convert import calibration_data

        graph = pipeline.build_graph(loaded, max_memory=_max_memory(max_memory))
        calib = calibration_data(graph, calibration, data_dir=data_dir)
    module = pipeline.compile(loaded, tgt, params=params, max_memory=_max_memory(max_memory), options=options,
                              checkpoint=checkpoint, calibration=calib, device=where)
    graph = pipeline.graph_of(module)
    if not quiet and not tgt.needs_trained_ann:
        print_summary_table(graph, f"{graph.name} → {tgt.name}", _auto_depth(graph, depth))
    console.print(f"[green]✓[/] compiled [bold]{graph.name}[/] to [bold]{tgt.name}[/]: "
                  f"{type(module).__name__}, {_held(module, graph)}")
    for line in tgt.describe(module):
        console.print(line)
    if output is not None:
        pipeline.save(module, output)
        console.print(f"wrote {output} (load it with snnc.load('{output}'))")


@core.command()
@handle_errors
def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to a file instead of "
                                                                              "stdout")) -> None:
    """Print the JSON Schema of spec files (for editor validation and completion)."""
    from snnc.compiler.spec.schema import spec_json_schema_text

    text = spec_json_schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        from snnc.compiler.artifact import atomic_write_bytes

        atomic_write_bytes(output, text.encode("utf-8"))
        console.print(f"wrote {output}")


def print_entry(mark: str, name: str, text: str, options: Any = None) -> None:
    """Print one entry of ``snnc targets`` or ``snnc methods``: its name and what it is (wrapped under the text),
    then each option of its pydantic ``options`` model as ``KEY = DEFAULT  description``, the default as it is
    written on the command line and the description from the model's ``Field(description=...)``."""
    from rich.table import Table

    from snnc.formatting import fmt_value

    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row(f"{mark}[bold]{escape(name)}[/]", text)
    console.print(head)
    fields = options.model_fields if options is not None else {}
    if not fields:
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(min_width=3)  # the indent
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column(overflow="fold", max_width=24)
    grid.add_column(style="dim", overflow="fold")
    for key, info in fields.items():
        default = fmt_value(info.get_default(call_default_factory=True))
        grid.add_row("", key, f"= {escape(default)}", escape(info.description or ""))
    console.print(grid)


@core.command()
@handle_errors
def targets() -> None:
    """List the compilation targets with what each is and its options (pass them as --option KEY=VALUE)."""
    from snnc.compiler.errors import BackendUnavailable
    from snnc.compiler.targets.registry import TARGETS

    for name in TARGETS:
        tgt = TARGETS.get(name)
        try:
            tgt.check_available()
            mark, note = "[green]✓[/]", ""
        except BackendUnavailable as exc:
            mark, note = "[yellow]–[/]", f" ({escape(str(exc))})"
        flags = [f for f, on in (("trainable", tgt.trainable), ("spiking", tgt.spiking),
                                 (f"from {tgt.built_from}", tgt.needs_trained_ann)) if on]
        print_entry(f"{mark} ", f"{name:6}", escape(tgt.description) + note
                    + (f" [dim]({', '.join(flags)})[/]" if flags else ""), tgt.Options)


@core.command()
@handle_errors
def methods() -> None:
    """List the training methods ('snnc train --method NAME') with their options (--method-option KEY=VALUE)."""
    from snnc.runtime.methods import METHODS

    for name in METHODS:
        method = METHODS.get(name)
        print_entry("", f"{name:16}", escape(method.description), method.Options)


def build_app() -> None:
    """Register the core commands, then each module's of :data:`snnc.commands.COMMAND_MODULES`, in that order
    (the order of ``snnc --help``)."""
    import importlib

    from snnc.commands import COMMAND_MODULES

    core.register(app)
    for name in COMMAND_MODULES:
        importlib.import_module(f"snnc.commands.{name}").commands.register(app)


build_app()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
