"""``snnc export`` and ``snnc import``: write a compiled model as ONNX, NIR or Python; read NIR into a spec.

Thin commands over :mod:`snnc.compiler.export`. :func:`build_model` is the only glue with the compile API
(:mod:`snnc.compiler.pipeline`); torch is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from snnc.clitools import CommandSet, ParamOpt, console, err_console, handle_errors, parse_params
from snnc.compiler.errors import SnncError, UnsupportedError

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""



def build_model(spec: Path, target: str, checkpoint: Optional[Path], *, params: dict[str, Any] | None = None,
                calibration: Optional[str] = None, timesteps: Optional[int] = None,
                data_dir: Optional[Path] = None) -> tuple[Any, bool]:
    """The model to export, ``(module, trained)``, by the one rule of :func:`snnc.compiler.pipeline.build`.

    What is left here is the command's own: ``-T`` only for targets with time steps, the calibration dataset of a
    conversion (``--calibration``, default ``mnist-sample:256``), and a refusal that names the flags.

    Raises:
        UnsupportedError: unknown target, or a target built from a trained ANN without a checkpoint.
        OptionsError: ``timesteps`` for a target without time steps.
    """
    from snnc.compiler import pipeline
    from snnc.compiler.artifact import read_artifact
    from snnc.compiler.targets.registry import get_target

    tgt = get_target(target)
    # Why only for targets with time steps: -T sets the unrolled form's T, which a plain network has not.
    timed = timesteps is not None and "timesteps" in tgt.Options.model_fields
    given = tgt.options({"timesteps": timesteps} if timed else {}).model_dump(include={"timesteps"} if timed else set())
    art = read_artifact(checkpoint) if checkpoint is not None else None
    if tgt.needs_trained_ann and art is None:
        raise UnsupportedError(f"the {tgt.name} target is built from a trained ANN: give --checkpoint ANN.pt (and "
                               "--calibration DATASET[:N]) or an artifact of it ('snnc compile -t "
                               f"{tgt.name} -o')")
    calib = None
    if tgt.calibrates and art is not None and get_target(art.target) is not tgt:
        from snnc.runtime.convert import calibration_data

        calib = calibration_data(pipeline.build_graph(spec, params), calibration or "mnist-sample:256",
                                 data_dir=data_dir)
    module = pipeline.build(spec, tgt, art, given, params=params, calibration=calib,
                            where=f"'{checkpoint}'" if checkpoint is not None else None)
    return module.eval(), art is not None


def _report_table(report: Any, title: str) -> Table:
    """The check report as a table titled by what it compares (the format's ``check_title``); only the rows that
    apply (an ann has no spikes)."""
    table = Table(title=title, header_style="bold")
    table.add_column("check")
    table.add_column("result", justify="right")
    data = report.as_dict() if hasattr(report, "as_dict") else dict(report)
    for key, value in data.items():
        if value is None or value == []:
            continue
        if isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        table.add_row(key.replace("_", " "), f"{value:.3g}" if isinstance(value, float) else str(value))
    return table


@commands.command("export")
@handle_errors
def export_cmd(
    spec: Path = typer.Argument(..., help="the spec file (YAML)", show_default=False),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="the file to write (.onnx, .nir or .py); "
                                          "required but with --explain", show_default=False),
    target: str = typer.Option("ann", "--target", "-t", help="ann, snn, burst (or mnn: refused, see docs)"),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx, nir (snn) or python (ann, snn)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="trained weights: an artifact "
                                              "(snnc train / snnc compile -o); burst: the trained ANN"),
    form: str = typer.Option("unrolled", "--form", help="onnx: unrolled over T, or step (state in and out)"),
    timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T", help="T of the unrolled form"),
    check: bool = typer.Option(False, "--check", help="run the file (onnxruntime / snnTorch / Python) and "
                               "compare it with the PyTorch model"),
    no_spikes: bool = typer.Option(False, "--no-spikes", help="onnx unrolled: output the scores only"),
    calibration: Optional[str] = typer.Option(None, "--calibration", help="burst: DATASET[:N] that sets the "
                                              "thresholds (default mnist-sample:256)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="burst: where the calibration dataset is"),
    explain: bool = typer.Option(False, "--explain", help="nir: list per node what exports and what blocks "
                                 "(and the fix); writes nothing"),
    param: Optional[list[str]] = ParamOpt,
) -> None:
    """Export a compiled model: ONNX (every target, checked in onnxruntime with --check), NIR or Python."""
    from snnc.compiler.export import FORMATS
    from snnc.compiler.targets.registry import get_target

    if fmt not in FORMATS:
        from snnc.compiler.errors import did_you_mean

        raise SnncError(f"unknown --format '{fmt}'.{did_you_mean(fmt, FORMATS)} Formats: {', '.join(FORMATS)}")
    if explain:
        return _explain_nir(spec, target, fmt, parse_params(param))
    if output is None:
        raise SnncError("missing --output/-o: the file to write (or --explain, for NIR, to write nothing)")
    exporter = FORMATS.get(fmt)
    # Why only the flags its options name: --form and --no-spikes are ONNX's; the other formats never took them.
    flags = {k: v for k, v in {"form": form, "spikes": not no_spikes}.items() if k in exporter.Options.model_fields}
    options = exporter.options({"timesteps": timesteps, "check": check, **flags})
    model, trained = build_model(spec, target, checkpoint, params=parse_params(param), calibration=calibration,
                                 timesteps=timesteps, data_dir=data_dir)
    if not trained:
        err_console.print("[yellow]note[/]: no --checkpoint: exporting freshly initialised weights")
    report = exporter.export(model, output, options)
    what = f"{target}" + (f", {form}" if "form" in flags and get_target(target).spiking else "")
    console.print(f"[green]✓[/] wrote {output} ({fmt}, {what})")
    if report is not None:
        console.print(_report_table(report, exporter.check_title))


def _explain_nir(spec: Path, target: str, fmt: str, params: dict[str, Any]) -> None:
    """``--explain``: the NIR plan of the spec's graph, a line per node (no weights, no file)."""
    from snnc.compiler import pipeline
    from snnc.compiler.export.nir_blockers import explain_lines, nir_plan

    from snnc.compiler.export import FORMATS

    nir_targets = FORMATS.get("nir").targets or ()
    if fmt != "nir" or target not in nir_targets:
        raise SnncError(f"--explain lists what exports to NIR, from the {'/'.join(nir_targets)} target: give "
                        f"-t {nir_targets[0]} -f nir (got -t {target} -f {fmt})")
    loaded = pipeline.load_spec(spec, params)
    graph = pipeline.build_graph(loaded)
    plan = nir_plan(graph, loaded.params)
    for line in explain_lines(plan, f"{graph.name} → NIR, node by node ({spec}):"):
        typer.echo(line)


@commands.command("import")
@handle_errors
def import_cmd(
    source: Path = typer.Argument(..., help="a NIR file (.nir) written by snnTorch, Norse, Sinabs, snnc ...",
                                  show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="the spec file to write (.yaml)", show_default=False),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="the weights artifact to write "
                                           "(default: the spec path with .pt)"),
    timesteps: int = typer.Option(25, "--timesteps", "-T", help="time steps of the spec (NIR has none)"),
    dt: float = typer.Option(1e-4, "--dt", help="time step of the NIR time constants (snnTorch: 1e-4)"),
) -> None:
    """Turn a NIR graph into a snnc spec and a weights artifact (load it with snnc.load or --checkpoint)."""
    from snnc.compiler.export.nir import import_nir

    if not source.is_file():
        raise SnncError(f"{source}: no such file")
    spec_path, weights_path = import_nir(source, output, weights=weights, timesteps=timesteps, dt=dt)
    console.print(f"[green]✓[/] wrote {spec_path} and {weights_path}; try: snnc summary {spec_path}")
