"""``snnc train`` and ``snnc eval``: train a spec on a dataset, evaluate a checkpoint.

Thin commands over :func:`snnc.runtime.train.train` and :func:`snnc.runtime.evaluate.evaluate`; torch and the
runtime are imported inside the commands, so ``snnc --help`` stays fast.

``snnc train specs/mnist_fc.yaml`` works out of the box on the bundled MNIST sample; ``--resume --run-dir RUN``
continues an interrupted run with the settings in ``RUN/config.json`` (options given again must agree).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from snnc.clitools import CommandSet, DeviceOpt, OptionOpt, ParamOpt, console, handle_errors, parse_params
from snnc.compiler.errors import SnncError
from snnc.model_options import Setting, with_settings
from snnc.runtime.callbacks import Callback
from snnc.runtime.config import TrainConfig

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""

SAMPLE = "mnist-sample"

def _train_settings(given: dict[str, Any], run_dir: Optional[Path], resume: bool) -> dict[str, Any]:
    """Merge: options given > the resumed run's config.json (defaults come from the training config; the settings
    a resume takes from this session, :data:`~snnc.runtime.config.RESUME_FREE`, are not read from the run)."""
    from snnc.runtime.config import RESUME_FREE, TrainConfig

    settings: dict[str, Any] = {}
    if resume:
        if run_dir is None:
            raise SnncError("--resume needs --run-dir: the run directory to continue")
        config_path = run_dir / "config.json"
        if not config_path.is_file():
            raise SnncError(f"nothing to resume in {run_dir}: no config.json (train without --resume to start)")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        settings.update({k: v for k, v in config.items()
                         if k in TrainConfig.model_fields and RESUME_FREE.get(k) != "session"})
    settings.update({k: v for k, v in given.items() if v is not None})
    return settings


LAUNCH_OPTIONS = ("--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint")
"""Options of the launching process that the processes it starts must not see again."""


def _without_launch_options(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in LAUNCH_OPTIONS:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


class _SampleNote(Callback):
    """Says, once everything is set up (not before an unrelated error), that the bundled sample is not MNIST."""

    def on_fit_start(self, trainer) -> None:
        if trainer.config.dataset == SAMPLE and trainer.resumed_from is None and trainer.strategy.is_main:
            console.print("[yellow]note[/]: training on the bundled MNIST sample (2,000 train / 500 test images); "
                          "its accuracy is not MNIST accuracy. For the full data: --dataset mnist --data-dir "
                          "FOLDER (with train-images-idx3-ubyte.gz ...).")


TRAIN_OPTIONS = (
    Setting("target", "-t"), Setting("dataset", "-d"), Setting("data_dir", type=Path), Setting("epochs", "-e"),
    Setting("batch_size", "-b"), Setting("lr"), Setting("optimizer"), Setting("schedule"), Setting("loss"),
    Setting("loss_options"), Setting("seed"), Setting("timesteps", "-T"), "run_dir", "resume",
    Setting("init", type=Path), Setting("limit_train"), Setting("limit_test"), Setting("val_fraction"),
    Setting("plots"), Setting("compile"), Setting("dataset_options"), Setting("method", "-m"),
    Setting("method_options"), Setting("target_options", option=OptionOpt), Setting("checkpoint_every"), "nproc",
    Setting("strategy"), Setting("device"), "nnodes", "node_rank", "rdzv_endpoint",
    Setting("params", option=ParamOpt))
"""``snnc train``'s options in ``--help`` order: :class:`~snnc.runtime.config.TrainConfig`'s fields (name, help,
default and bounds from the model) and, as strings, the options of the command itself (where the run goes and
how it is launched)."""


@commands.command("train")
@handle_errors
@with_settings(TrainConfig, TRAIN_OPTIONS)
def train_cmd(
    spec: Path = typer.Argument(..., help="the spec file (YAML)", show_default=False),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", "--output", "-o", help="the run directory "
                                           "(default: a new folder in runs/ named SPEC-TARGET-TIME)",
                                           show_default=False),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --run-dir from its last.pt, with "
                                "the settings in its config.json"),
    nproc: int = typer.Option(1, "--nproc", help="train on N processes (torch.distributed DDP, launched with "
                              "torchrun; batch size is per process)"),
    nnodes: int = typer.Option(1, "--nnodes", help="with --nproc: nodes taking part (each runs the same command "
                               "with its --node-rank)"),
    node_rank: Optional[int] = typer.Option(None, "--node-rank", help="with --nnodes: this node's index"),
    rdzv_endpoint: Optional[str] = typer.Option(None, "--rdzv-endpoint", help="with --nnodes: HOST:PORT of the "
                                                "rendezvous every node can reach"),
    *, settings: dict[str, Any],
) -> None:
    """Train a spec (snn: backpropagation through time) and write a run directory: spec, config, metrics,
    last/best checkpoints and plots."""
    import os

    if nproc > 1 and "RANK" not in os.environ:
        from snnc.runtime.strategies.distributed import launch

        code = launch(nproc, _without_launch_options(sys.argv[1:]) + ["--strategy", "ddp"], nnodes=nnodes,
                      node_rank=node_rank, rdzv_endpoint=rdzv_endpoint)
        if code:
            raise SnncError(f"the {nproc}-process run failed (torchrun exit status {code}); the first rank's error "
                            "is above")
        return
    if "strategy" not in settings and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        settings["strategy"] = "ddp"
    from snnc.runtime.train import train
    from snnc.runtime.trainer import default_callbacks

    settings = _train_settings(settings, run_dir, resume)
    plots = settings.get("plots", True)
    callbacks = [_SampleNote(), *default_callbacks(progress=True, console=console, plots=plots)]
    result = train(spec, run_dir=run_dir, resume=resume, console=console, callbacks=callbacks, **settings)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun only rank 0 reports
    split = "val" if result.epochs and result.epochs[-1].get("val") else "train"
    console.print(f"[green]✓[/] run in [bold]{result.run_dir}[/]: best epoch {result.best_epoch} "
                  f"({result.best_accuracy:.2%} {split} accuracy)"
                  if result.best_accuracy is not None else f"[green]✓[/] run in [bold]{result.run_dir}[/]")
    if result.test is not None:
        console.print(f"test accuracy [bold]{result.test.accuracy:.2%}[/] ({result.test.samples} samples); "
                      f"evaluate again with: snnc eval {spec} --checkpoint {result.best_checkpoint}",
                      soft_wrap=True)  # one line: a command to copy


def confusion_table(matrix: list[list[int]], names: list[str], title: str = "confusion matrix",
                    width: int = 10_000) -> tuple[Table, str]:
    """A rich table of a confusion matrix that fits ``width`` columns: rows are true classes, columns predicted
    ones, the diagonal in green, each row's recall last; no count or name is cut.

    Tries, in order: class names as column headers; then a compact layout; then class indices as column headers
    (the rows say ``index name``); then, for too many classes to fit, one row per class with its samples, correct
    predictions and recall instead of the matrix.

    Args:
        matrix: ``matrix[true][predicted]`` counts.
        names: the class names.
        title: the table's title.
        width: the console width.

    Returns:
        The table and a note to print under it (empty unless the matrix itself was left out).
    """
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement

    from snnc.commands.tables import Column, fit_table

    def recall(i: int) -> str:
        total = sum(matrix[i])
        return f"{matrix[i][i] / total:.1%}" if total else "–"

    def matrix_table(headers: list[str], labels: list[str], compact: bool) -> Table:
        layout = dict(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True) if compact else {}
        table = Table(title=escape(title), header_style="bold", **layout)
        table.add_column("true \\ pred", style="bold", no_wrap=True)
        for header in headers:
            table.add_column(escape(header), justify="right", no_wrap=True)
        table.add_column("recall", justify="right", no_wrap=True)
        for i, row in enumerate(matrix):
            cells = [f"[green]{v}[/]" if i == j else (str(v) if v else "[dim]·[/]") for j, v in enumerate(row)]
            table.add_row(escape(labels[i]), *cells, recall(i))
        return table

    wide = Console(width=100_000)
    indexed = [f"{i} {name}" for i, name in enumerate(names)]
    for headers, labels, compact in ((names, names, False), (names, names, True),
                                     ([str(i) for i in range(len(names))], indexed, True)):
        table = matrix_table(headers, labels, compact)
        if Measurement.get(wide, wide.options, table).minimum <= width:
            return table, ""
    rows = [[escape(name), f"{sum(matrix[i]):,}", f"{matrix[i][i]:,}", recall(i)] for i, name in enumerate(names)]
    columns = [Column("class", min_width=12), Column("samples", number=True), Column("correct", number=True),
               Column("recall", number=True)]
    table, _ = fit_table(columns, rows, width, title=escape(title) + " (per class)", header_style="bold")
    return table, (f"[dim]{len(names)} classes: the full confusion matrix does not fit {width} columns; --json "
                   "has it[/]")


def spikes_table(result: Any, width: int = 10_000) -> Table:
    """A rich table of per-layer neurons, firing rates and spikes per sample, with the total, that fits ``width``
    columns (numbers never cut, layer names fold)."""
    from snnc.commands.tables import Column, fit_table

    columns = [Column("layer", footer="total", min_width=12),
               Column("neurons", number=True, footer=f"{sum(result.neurons.values()):,}"),
               Column("firing rate", number=True),
               Column("spikes / sample", number=True, footer=f"{result.total_spikes_per_sample:,.1f}")]
    rows = [[escape(name), f"{result.neurons.get(name, 0):,}", f"{rate:.4f}",
             f"{result.spikes_per_sample.get(name, 0.0):,.1f}"] for name, rate in result.firing_rates.items()]
    return fit_table(columns, rows, width, title="spikes per neuron layer", show_footer=True, header_style="bold")[0]


@commands.command("eval")
@handle_errors
def eval_cmd(
    spec: Optional[Path] = typer.Argument(None, help="the spec (default: the one stored in the checkpoint)",
                                          show_default=False),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="a checkpoint (run/best.pt) or an artifact "
                                    "written by snnc compile -o", show_default=False),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="dataset name (default: the one the "
                                          "checkpoint was trained on, else mnist-sample)", show_default=False),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder holding the dataset's files"),
    split: str = typer.Option("test", "--split", help="train or test"),
    limit: Optional[int] = typer.Option(None, "--limit", help="evaluate only the first N samples"),
    batch_size: int = typer.Option(256, "--batch-size", "-b", help="samples per forward pass"),
    timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T", help="override the time steps (snn)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
    device: Optional[str] = DeviceOpt,
    param: Optional[list[str]] = ParamOpt,
) -> None:
    """Evaluate a checkpoint: accuracy, confusion matrix, per-layer firing rates and spikes per sample."""
    from snnc.runtime.checkpoint import load_checkpoint
    from snnc.runtime.device import resolve_device
    from snnc.runtime.evaluate import evaluate

    where = resolve_device(device)
    art = load_checkpoint(checkpoint)
    config = (art.training or {}).get("config") or {}
    if dataset is None:
        dataset = config.get("dataset") or SAMPLE
        if data_dir is None and config.get("data_dir") and dataset == config.get("dataset"):
            data_dir = Path(config["data_dir"])
    result = evaluate(checkpoint, dataset, split=split, data_dir=data_dir, batch_size=batch_size, limit=limit,
                      timesteps=timesteps, spec=spec, params=parse_params(param) or None, progress=not as_json,
                      console=console, device=where)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    what = f"{result.target}" + (f", T={result.timesteps}, {result.decoding} decoding" if result.timesteps else "")
    console.print(f"[bold]{checkpoint}[/] ({what}) on {result.dataset}/{result.split}, {result.samples:,} samples")
    loss = f", loss {result.loss:.4f} ({result.loss_name})" if result.loss is not None else ""
    console.print(f"accuracy [bold]{result.accuracy:.2%}[/]{loss}")
    table, note = confusion_table(result.confusion, result.class_names, width=console.width)
    console.print(table)
    if note:
        console.print(note)
    if result.firing_rates:
        console.print(spikes_table(result, console.width))
