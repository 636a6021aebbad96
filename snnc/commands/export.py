"""``snnc export`` and ``snnc import``: write a compiled model as ONNX, NIR or Python; read NIR into a spec.

Thin commands over :mod:`snnc.compiler.export`. :func:`build_model` is the only glue with the compile API
(``snnc.compile``, ``snnc.load``, :func:`snnc.runtime.convert.compile_burst`); torch is imported inside the
commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from snnc.cli import ParamOpt, app, console, err_console, handle_errors, parse_params
from snnc.compiler.errors import SnncError, UnsupportedError

TARGETS = ("ann", "snn", "burst", "mnn")


def build_model(spec: Path, target: str, checkpoint: Optional[Path], *, params: dict[str, Any] | None = None,
                calibration: Optional[str] = None, timesteps: Optional[int] = None,
                data_dir: Optional[Path] = None) -> tuple[Any, bool]:
    """The model to export: ``(module, trained)``.

    ann / snn: ``snnc.load(checkpoint)`` (an snn built from an ann checkpoint takes its weights), else the spec
    compiled with fresh weights. burst: a burst artifact, or the ann ``checkpoint`` converted on
    ``calibration``. mnn: refused until the mnn target exists.

    Raises:
        UnsupportedError: unknown target, mnn, or a burst export without a checkpoint.
    """
    import snnc

    if target not in TARGETS:
        from snnc.compiler.errors import did_you_mean

        raise UnsupportedError(f"unknown target '{target}'.{did_you_mean(target, TARGETS)} Targets: "
                               f"{', '.join(TARGETS)}")
    if target == "mnn":
        raise UnsupportedError("the mnn target's MemTorch crossbars cannot be expressed in ONNX; export the "
                               "conductance-equivalent ann instead: snnc export SPEC --target ann --checkpoint ANN.pt")
    options = {"timesteps": timesteps} if timesteps is not None and target == "snn" else {}
    loaded = snnc.load(checkpoint) if checkpoint is not None else None
    loaded_target = (getattr(loaded, "meta", {}) or {}).get("snnc_target") if loaded is not None else None
    if target == "burst":
        if loaded_target == "burst":
            return loaded, True
        if checkpoint is None:
            raise UnsupportedError("the burst target converts a trained ANN: give --checkpoint ANN.pt (and "
                                   "--calibration DATASET[:N]) or a burst artifact from 'snnc compile -t burst -o'")
        from snnc.runtime.convert import compile_burst

        extra = {"timesteps": timesteps} if timesteps is not None else {}
        return compile_burst(spec, checkpoint, calibration or "mnist-sample:256", params=params, data_dir=data_dir,
                             **extra), True
    if loaded is None:
        return snnc.compile(spec, target, params=params, **options), False
    if loaded_target == target:
        if timesteps is not None and target == "snn":
            loaded.timesteps = timesteps
        return loaded, True
    if loaded_target == "ann" and target == "snn":
        module = snnc.compile(spec, "snn", params=params, **options)
        module.load_state_dict(loaded.state_dict(), strict=False)
        return module, True
    raise UnsupportedError(f"--checkpoint {checkpoint} holds a {loaded_target} model; --target {target} needs an "
                           f"ann or {target} artifact")


def _report_table(report: Any) -> Table:
    table = Table(title="onnxruntime against PyTorch", header_style="bold")
    table.add_column("check")
    table.add_column("result", justify="right")
    data = report.as_dict() if hasattr(report, "as_dict") else dict(report)
    for key, value in data.items():
        if value is None or value == []:
            continue
        table.add_row(key.replace("_", " "), f"{value:.3g}" if isinstance(value, float) else str(value))
    return table


@app.command("export")
@handle_errors
def export_cmd(
    spec: Path = typer.Argument(..., help="the spec file (YAML)", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="the file to write (.onnx, .nir or .py)",
                                show_default=False),
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
    param: Optional[list[str]] = ParamOpt,
) -> None:
    """Export a compiled model: ONNX (every target, checked in onnxruntime with --check), NIR or Python."""
    from snnc.compiler.export import FORMATS, export

    if fmt not in FORMATS:
        from snnc.compiler.errors import did_you_mean

        raise SnncError(f"unknown --format '{fmt}'.{did_you_mean(fmt, FORMATS)} Formats: {', '.join(FORMATS)}")
    model, trained = build_model(spec, target, checkpoint, params=parse_params(param), calibration=calibration,
                                 timesteps=timesteps, data_dir=data_dir)
    if not trained:
        err_console.print("[yellow]note[/]: no --checkpoint: exporting freshly initialised weights")
    options: dict[str, Any] = {"spikes": not no_spikes} if fmt == "onnx" else {}
    report = export(model, output, fmt, form=form, timesteps=timesteps, check=check, **options)
    what = f"{target}" + (f", {form}" if fmt == "onnx" and target != "ann" else "")
    console.print(f"[green]✓[/] wrote {output} ({fmt}, {what})")
    if report is not None:
        console.print(_report_table(report))


@app.command("import")
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
