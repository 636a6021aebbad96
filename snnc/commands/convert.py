"""``snnc convert``: convert a trained ANN to burst-spiking networks and report accuracy against time steps.

A thin command over :mod:`snnc.runtime.convert`: it loads the ANN (spec + trained weights), calibrates the
thresholds on training data, scores the ANN on the test split, then converts once per burst size
(``-O gamma=1,3``) and scores the SNN at every ``--timesteps`` value from one run per batch. It prints the tables
and writes ``results.json``, ``results.md`` and ``results.png`` into ``--output``. Torch is imported inside the
command.

The conversion settings are the burst target's options, given as ``-O KEY=VALUE`` as in ``snnc compile -t
burst``; the flags they replace (``--gamma``, ``--percentile``, ``--channelwise``, ``--v-init``) still work and
print a deprecation warning on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import typer
from rich.table import Table

from snnc.clitools import (CommandSet, DeviceOpt, ParamOpt, console, deprecated_flags, err_console, handle_errors,
                           parse_params)
from snnc.compiler.errors import SnncError

commands = CommandSet()
"""This module's commands, registered on the app by :mod:`snnc.cli`."""


def sweep_tables(results: Mapping[str, Any], title: str, width: int = 10_000) -> list[Table]:
    """Rich tables of a sweep, each fitted to ``width`` columns (numbers never cut): one per metric (rows ``T``, a
    column per gamma, the ANN last), then spikes per sample."""
    from snnc.commands.tables import Column, fit_table
    from snnc.runtime.convert import gamma_label, result_rows

    gammas = results["gammas"]
    by_gamma = {g: result_rows(results, g) for g in gammas}
    per_gamma = [Column(gamma_label(g), number=True) for g in gammas]
    tables = []
    for metric in results["metrics"]:
        ann = results["ann"][metric]
        rows = []
        for t in results["timesteps"]:
            cells = []
            for g in gammas:
                value = by_gamma[g][t][metric]
                cells.append(f"[green]{100 * value:.2f}[/]" if value >= ann - 0.01 else f"{100 * value:.2f}")
            rows.append([str(t), *cells, f"{100 * ann:.2f}"])
        columns = [Column("T", number=True), *per_gamma, Column("ANN", number=True, style="bold")]
        tables.append(fit_table(columns, rows, width, title=f"{title}: {metric} (%)", header_style="bold")[0])
    rows = [[str(t), *(f"{by_gamma[g][t]['spikes_per_sample']:,.0f}" for g in gammas)] for t in results["timesteps"]]
    tables.append(fit_table([Column("T", number=True), *per_gamma], rows, width,
                            title=f"{title}: spikes per sample", header_style="bold")[0])
    return tables


BurstOptionOpt = typer.Option(None, "--option", "-O", help="a burst option KEY=VALUE (repeatable): gamma "
                              "(comma-separated burst sizes, default 1,2,3,4,5; 1: IF neurons), percentile "
                              "(default: 99 for Γ=1, 95 for bursts, from the threshold study in docs/burst.md), "
                              "channelwise, v_init (default 0.5), normalization, calibrate (default threshold,bias), "
                              "calibration_timesteps (default 8) ('snnc targets' lists them)",
                              show_default=False)


@commands.command("convert")
@handle_errors
def convert_cmd(
    spec: Path = typer.Argument(..., help="the spec file (YAML) the ANN was trained from", show_default=False),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="the trained ANN: an artifact of the ann "
                                    "target (snnc train -t ann, snnc compile -o) or a state dict",
                                    show_default=False),
    dataset: str = typer.Option("mnist-sample", "--dataset", "-d", help="dataset: calibration on its train "
                                "split, scores on its test split"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder holding the dataset's files "
                                            "(default: $SNNC_DATA_DIR, then ../shared/data)"),
    timesteps: str = typer.Option("4,8,16,32,64,128", "--timesteps", "-T", help="comma-separated time steps to "
                                  "report (one run of the largest per gamma)"),
    option: Optional[list[str]] = BurstOptionOpt,
    gamma: Optional[str] = typer.Option(None, "--gamma", "-g", help="deprecated: -O gamma=1,3 (comma-separated "
                                        "burst sizes)", show_default=False),
    percentile: Optional[float] = typer.Option(None, "--percentile", help="deprecated: -O percentile=P",
                                               show_default=False),
    channelwise: bool = typer.Option(False, "--channelwise", help="deprecated: -O channelwise=true"),
    v_init: Optional[float] = typer.Option(None, "--v-init", help="deprecated: -O v_init=V", show_default=False),
    calibration_batches: int = typer.Option(8, "--calibration-batches", help="training batches used for the "
                                            "thresholds"),
    batch_size: int = typer.Option(256, "--batch-size", "-b", help="samples per batch"),
    limit: Optional[int] = typer.Option(None, "--limit", help="score on the first N test samples only"),
    seed: int = typer.Option(0, "--seed", help="seed of the calibration draw"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="folder for results.json, results.md "
                                          "and results.png (default: runs/convert-SPEC-DATASET)",
                                          show_default=False),
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON only (no tables, no "
                                 "progress bar)"),
    device: Optional[str] = DeviceOpt,
    param: Optional[list[str]] = ParamOpt,
) -> None:
    """Convert a trained ANN to burst SNNs (one per --gamma) and report test accuracy against T next to the
    ANN's, with spikes per sample; writes results.json and a plot."""
    from snnc.runtime import convert as rc
    from snnc.runtime.device import resolve_device

    where = resolve_device(device)
    ts = rc.parse_int_list(timesteps, "--timesteps")
    burst = sweep_options(option, gamma=gamma, percentile=percentile, channelwise=channelwise or None,
                          v_init=v_init)
    for flag, value in (("--calibration-batches", calibration_batches), ("--batch-size", batch_size),
                        ("--limit", limit)):
        if value is not None and value < 1:
            raise SnncError(f"{flag} must be >= 1, got {value}")
    started = time.perf_counter()
    from snnc.compiler.pipeline import graph_of, load_ann
    from snnc.runtime.data import dataset_info, load_for, make_loader

    info = dataset_info(dataset)
    ann = load_ann(spec, checkpoint, parse_params(param)).to(where)  # (calibration and scoring run there)
    graph = graph_of(ann)
    test = load_for(graph, info.name, "test", data_dir, limit=limit)
    calibration = rc.calibration_batches(info.name, samples=calibration_batches * batch_size,
                                         batch_size=batch_size, normalize=graph.input.standardized,
                                         data_dir=data_dir, seed=seed)
    if len(test) == 0:
        raise SnncError(f"the test split of '{info.name}' is empty (check --limit)")
    loader = make_loader(test, batch_size)
    out_dir = output or Path("runs") / f"convert-{graph.name}-{info.name}"
    title = f"{graph.name} on {info.title}"
    total = len(loader) * (1 + len(burst["gammas"]))
    results = _run(rc, ann, calibration, loader, {**burst, "timesteps": ts, "task": info.task}, total, as_json)
    results.update({"spec": str(spec), "checkpoint": str(checkpoint), "dataset": info.name, "device": str(where),
                    "wall_seconds": round(time.perf_counter() - started, 2)})
    paths = rc.write_sweep(results, out_dir, title=title)
    if as_json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    for table in sweep_tables(results, title, console.width):
        console.print(table)
    console.print(chosen_line(results["settings"]))
    console.print(f"[green]✓[/] {results['samples']:,} test samples, calibration on "
                  f"{results['settings']['calibration_samples']:,} training samples, "
                  f"{results['wall_seconds']:.1f} s; wrote {paths['json']} and {paths['plot']}")


def chosen_line(settings: Mapping[str, Any]) -> str:
    """What the conversion chose, in one line: thresholds (percentile per Γ) and the calibration after it."""
    pct = ", ".join(f"p{v:g} for {'IF' if k == '1' else f'Γ={k}'}" for k, v in settings["percentiles"].items())
    steps = settings.get("calibrate") or []
    after = (f"{' + '.join(steps)} calibrated for T = {settings.get('calibration_timesteps')} on "
             f"{settings.get('calibration_images')} images" if steps else "no calibration after conversion")
    return f"chose: thresholds {pct}, v_init {settings['v_init']:g}; {after} (-O calibrate=none for none)"


SWEEP_OPTIONS = ("gamma", "percentile", "channelwise", "v_init", "normalization", "calibrate",
                 "calibration_timesteps")
"""The burst target's options ``snnc convert`` takes as ``-O KEY=VALUE`` (``gamma`` a list: one conversion each)."""


def sweep_options(items: Optional[list[str]], **flags: Any) -> dict[str, Any]:
    """The burst options of a sweep from ``-O KEY=VALUE`` items and the deprecated flags that became them (each
    flag given warns on stderr; ``-O`` wins), validated by the burst target's options model.

    Args:
        items: the ``-O`` items.
        flags: the old flags' values by option name (None: not given), e.g. ``gamma="1,3"``.

    Returns:
        ``{"gammas": [...], "percentile", "channelwise", "v_init", "normalization", "calibrate",
        "calibration_timesteps"}`` (keywords of
        :func:`snnc.runtime.sweep.sweep`).

    Raises:
        OptionsError: an unknown option (with did-you-mean) or a bad value. SnncError: a burst option the sweep
        does not take, or a bad list of gammas.
    """
    from snnc.compiler.targets.registry import get_target
    from snnc.runtime.parsing import parse_int_list

    target = get_target("burst")
    options = deprecated_flags(parse_params(items), **flags)
    gamma = options.pop("gamma", "1,2,3,4,5")
    checked = target.options(options)
    others = [key for key in options if key not in SWEEP_OPTIONS]
    if others:
        raise SnncError(f"-O {others[0]} is not an option of snnc convert: it takes {', '.join(SWEEP_OPTIONS)} "
                        "(the time steps are --timesteps)")
    if isinstance(gamma, (list, tuple)):
        gamma = ",".join(str(g) for g in gamma)
    gammas = parse_int_list(str(gamma).lower() if isinstance(gamma, bool) else str(gamma), "-O gamma")
    for g in gammas:
        target.options({"gamma": g})  # the target's bounds
    return {"gammas": gammas, "percentile": checked.percentile, "channelwise": checked.channelwise,
            "v_init": checked.v_init, "normalization": checked.normalization, "calibrate": checked.calibrate,
            "calibration_timesteps": checked.calibration_timesteps}


def _run(rc: Any, ann: Any, calibration: Any, loader: Any, options: dict[str, Any], total: int,
         quiet: bool) -> dict[str, Any]:
    """The sweep (``options``: keywords of :func:`snnc.runtime.sweep.sweep`), under progress bars on stderr (none
    when ``quiet``): the whole sweep with the time left, and the current stage (the ANN, then each Γ) batch by
    batch with its own time left."""
    gammas, ts = options["gammas"], options["timesteps"]
    if quiet:
        return rc.sweep(ann, calibration, loader, **options)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("[progress.description]{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("batches"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    per_stage = len(loader)
    stages = ["ANN"] + [rc.gamma_label(g) for g in gammas]
    with Progress(*columns, console=err_console) as progress:
        overall = progress.add_task(f"all ({len(stages)} stages)", total=total)
        stage = progress.add_task(f"1/{len(stages)} {stages[0]}", total=per_stage)
        done = {"batches": 0}

        def on_batch(_: int) -> None:
            done["batches"] += 1
            progress.update(overall, advance=1)
            progress.update(stage, advance=1)
            k = done["batches"]
            if k % per_stage == 0 and k // per_stage < len(stages):  # the next stage starts
                i = k // per_stage
                progress.reset(stage, total=per_stage, description=f"{i + 1}/{len(stages)} {stages[i]} "
                               f"(T up to {max(ts)})")

        def on_gamma(g: int, results: dict) -> None:
            best = max(ts)
            scores = ", ".join(f"{k} {100 * v:.2f}%" for k, v in results[best].items() if k != "spikes_per_sample")
            spikes = results[best]["spikes_per_sample"]
            progress.console.print(f"{rc.gamma_label(g)}: T={best}: {scores}, {spikes:,.0f} spikes per sample")

        return rc.sweep(ann, calibration, loader, on_batch=on_batch, on_gamma=on_gamma, **options)


def burst_summary(snn: Any, name: str, width: int = 10_000) -> tuple[Table, list[str]]:
    """What a burst conversion built: one row per neuron layer with its calibrated threshold θ (a range for
    channel-wise thresholds), neurons per sample and whether its input is spikes; Γ, T and the calibration in
    the title.

    Args:
        snn: a :class:`~snnc.compiler.targets.burst.BurstSNN`.
        name: the model's name.
        width: the console width the table must fit.

    Returns:
        The table and the columns a narrow terminal left out.
    """
    from snnc.commands.tables import Column, fit_table

    cfg = snn.config
    rows = []
    for layer, neuron in snn.neurons().items():
        theta = neuron.threshold.detach().flatten().cpu()
        shown = f"{theta.item():.4g}" if theta.numel() == 1 else f"{theta.min().item():.4g}–{theta.max().item():.4g}"
        rows.append([layer, shown, "per channel" if theta.numel() > 1 else "per layer", f"{neuron.neurons:,}"])
    gamma = cfg.get("gamma")
    kind = "IF neurons" if gamma == 1 else f"burst neurons, Γ = {gamma} (up to {gamma} spikes per step)"
    title = (f"{name} → burst: {kind}, T = {snn.timesteps}, thresholds θ at percentile "
             f"{cfg.get('percentile'):g} of {cfg.get('calibration', cfg.get('calibration_samples', '?'))} "
             f"calibration samples, v_init {cfg.get('v_init'):g}·θ")
    columns = [Column("neuron layer", min_width=12), Column("θ", number=True), Column("threshold"),
               Column("neurons", number=True)]
    return fit_table(columns, rows, width, ("threshold",), title=title, header_style="bold")


def print_burst_summary(snn: Any, name: str, out: Any) -> None:
    """Print :func:`burst_summary` (and any column left out) and a line on the pooling and input layers."""
    from snnc.commands.tables import dropped_note
    from snnc.compiler.targets.burst import LIPool

    table, dropped = burst_summary(snn, name, out.width)
    out.print(table)
    if dropped:
        out.print(dropped_note(dropped, out.width))
    pools = [n for n, m in snn.network.named_modules() if isinstance(m, LIPool)]
    analog = [n for n, spikes in snn.input_is_spikes().items() if not spikes]
    out.print(f"{len(snn.neurons())} neuron layers; max-pooling by lateral inhibition (LIPool): "
              f"{', '.join(pools) or 'none'}; layers with analog input (charged as MACs): "
              f"{', '.join(analog) or 'none'}")
