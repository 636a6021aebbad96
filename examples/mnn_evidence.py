"""Evidence for the mnn target on full MNIST (``docs/mnn.md``, "Evidence"): ``mnist_conv`` trained as an ANN and
as an SNN, plainly and with hardware-aware training, evaluated as float networks and on simulated crossbars with
ideal and with realistic devices; writes ``results.json``, ``results.md`` and the sweep plots.

    nice -n 10 python examples/mnn_evidence.py --data-dir ../shared/data/mnist --out runs/mnn_evidence

Every step prints the ``snnc`` command that does the same from the shell.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

SPEC = "specs/mnist_conv.yaml"
REALISTIC: dict[str, Any] = {"adc_bits": 6, "nonidealities": {
    "device_faults": {"lrs_proportion": 0.05, "hrs_proportion": 0.05},
    "finite_conductance_states": {"states": 16}}}
"""The realistic settings: 10 % stuck devices (half LRS, half HRS), 16 conductance states, a 6-bit ADC."""
IDEAL: dict[str, Any] = {"adc_bits": None, "nonidealities": {}}
"""Ideal devices: MemTorch's mapping and tuning, no ADC, no non-idealities."""
SWEEP_POINTS = {"fault_proportion": (0.0, 0.05, 0.1, 0.2, 0.3), "conductance_states": (2, 4, 8, 16, 64, 256),
                "adc_bits": (2, 3, 4, 6, 8), "on_off_ratio": (2, 5, 20, 100)}
"""Sweep points (a subset of the sweep's defaults, to keep the run short)."""


def _options(text: str) -> str:
    return "'nonidealities={device_faults: {lrs_proportion: 0.05, hrs_proportion: 0.05}, " \
           "finite_conductance_states: {states: 16}}'" if text == "realistic" else "'nonidealities={}'"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/mnist", help="folder with the MNIST IDX files")
    p.add_argument("--out", type=Path, default=Path("runs/mnn_evidence"), help="output folder")
    p.add_argument("--plots", type=Path, default=None, help="also copy the PNG plots here (e.g. docs/img)")
    p.add_argument("--ann-epochs", type=int, default=2)
    p.add_argument("--snn-epochs", type=int, default=1)
    p.add_argument("--snn-timesteps", type=int, default=10, help="T of the SNN (the spec says 25)")
    p.add_argument("--snn-limit-train", type=int, default=None, help="train the SNN on the first N images only")
    p.add_argument("--snn-hwa-limit-train", type=int, default=30000, help="images of the SNN's hwa fine-tuning")
    p.add_argument("--hwa-epochs", type=int, default=1, help="hwa fine-tuning epochs from the plain checkpoint")
    p.add_argument("--hwa-lr", type=float, default=1e-3, help="learning rate of the ANN's hwa fine-tuning")
    p.add_argument("--snn-hwa-lr", type=float, default=5e-3, help="learning rate of the SNN's hwa fine-tuning")
    p.add_argument("--hwa-scratch", action="store_true", help="train hwa from scratch (as long as the plain run) "
                   "instead of fine-tuning the plain checkpoint")
    p.add_argument("--test-limit", type=int, default=None, help="test images for the ANN rows (default: all 10,000)")
    p.add_argument("--snn-test-limit", type=int, default=5000, help="test images for the SNN rows")
    p.add_argument("--seeds", default="0,1,2", help="chip seeds of the realistic crossbars (faults differ per seed)")
    p.add_argument("--snn-seeds", default="0,1", help="chip seeds for the SNN rows")
    p.add_argument("--sweep-limit", type=int, default=500, help="test images per sweep point (0: no sweep)")
    p.add_argument("--sweep-axes", default="fault_proportion,conductance_states,adc_bits,on_off_ratio")
    p.add_argument("--batch-size", type=int, default=500, help="evaluation batch size")
    p.add_argument("--no-control", action="store_true", help="skip the control: the plain checkpoint fine-tuned "
                   "exactly as hwa fine-tunes it, without hwa")
    p.add_argument("--skip-snn", action="store_true")
    p.add_argument("--reuse", action="store_true", help="reuse finished runs in --out (assumes the same settings)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--quick", action="store_true", help="a smoke run: 256 training images per run, T = 3, 100 test "
                   "images, a two-point sweep (its numbers mean nothing)")
    args = p.parse_args(argv)
    if args.quick:
        args.ann_epochs = args.snn_epochs = args.hwa_epochs = 1
        args.snn_timesteps, args.limit_train, args.snn_hwa_limit_train = 3, 256, 256
        args.test_limit, args.snn_test_limit, args.sweep_limit = 100, 50, 100
        args.seeds, args.snn_seeds = "0", "0"
        args.sweep_points = {"adc_bits": (4, 8), "fault_proportion": (0.0, 0.1)}
    else:
        args.limit_train, args.sweep_points = None, SWEEP_POINTS
    return args


def say(text: str) -> None:
    print(text, flush=True)


def train_run(name: str, out: Path, command: str, reuse: bool = False, **settings) -> Path:
    """Train (or reuse a finished run in ``out/name``) and return its best checkpoint."""
    from snnc.runtime.train import train

    run = out / name
    say(f"\n== {name}: {command}")
    if reuse and (run / "best.pt").is_file() and (run / "metrics.json").is_file():
        say(f"   (reusing {run})")
        return run / "best.pt"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    t0 = time.perf_counter()
    train(SPEC, run_dir=run, dataset="mnist", limit_test=0, plots=False, **settings)
    say(f"   trained in {time.perf_counter() - t0:.0f} s")
    return run / "best.pt"


def main(argv=None) -> dict[str, Any]:
    args = parse(argv)
    import torch

    import snnc
    from snnc.compiler.targets.mnn.build import build_mnn
    from snnc.compiler.targets.mnn.options import _merge
    from snnc.runtime.sweep import classification_accuracy, mnn_sweep
    from snnc.runtime.sweep_report import plot_mnn_sweep
    from snnc.runtime.data import load_for, make_loader

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    started = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = {"data_dir": args.data_dir, "progress": not args.quiet}
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    hwa_options = {"memristor": {"nonidealities": REALISTIC["nonidealities"]}}
    hwa_cli = ("--method hwa --method-option lrs_proportion=0.05 --method-option hrs_proportion=0.05 "
               "--method-option states=16")
    d = f"-d mnist --data-dir {args.data_dir}"

    if args.limit_train:  # --quick: every run on the first images only
        args.snn_limit_train = args.limit_train
    ann_limit = {"limit_train": args.limit_train} if args.limit_train else {}
    common = {"reuse": args.reuse, **data}
    runs: dict[str, Path] = {}
    runs["ann"] = train_run("ann", out, f"snnc train {SPEC} -t ann {d} -e {args.ann_epochs} --lr 2e-3 "
                            f"--schedule cosine --val-fraction 0 -o {out}/ann", target="ann",
                            epochs=args.ann_epochs, lr=2e-3, schedule="cosine", val_fraction=0.0, **ann_limit,
                            **common)
    ann_hwa = dict(target="ann", val_fraction=0.0, method="hwa", method_options=hwa_options, **ann_limit, **common)
    if args.hwa_scratch:
        runs["ann_hwa"] = train_run("ann_hwa", out, f"snnc train {SPEC} -t ann {d} -e {args.ann_epochs} --lr 2e-3 "
                                    f"--schedule cosine --val-fraction 0 {hwa_cli} -o {out}/ann_hwa",
                                    epochs=args.ann_epochs, lr=2e-3, schedule="cosine", **ann_hwa)
    else:
        runs["ann_hwa"] = train_run("ann_hwa", out, f"snnc train {SPEC} -t ann {d} -e {args.hwa_epochs} --lr "
                                    f"{args.hwa_lr:g} --schedule cosine --val-fraction 0 --init {out}/ann/best.pt "
                                    f"{hwa_cli} -o {out}/ann_hwa", epochs=args.hwa_epochs, lr=args.hwa_lr,
                                    schedule="cosine", init=str(runs["ann"]), **ann_hwa)
    control = not (args.no_control or args.hwa_scratch)
    if control:
        runs["ann_ft"] = train_run("ann_ft", out, f"snnc train {SPEC} -t ann {d} -e {args.hwa_epochs} --lr "
                                   f"{args.hwa_lr:g} --schedule cosine --val-fraction 0 --init {out}/ann/best.pt "
                                   f"-o {out}/ann_ft   # the control: the same fine-tuning without hwa",
                                   target="ann", val_fraction=0.0, epochs=args.hwa_epochs, lr=args.hwa_lr,
                                   schedule="cosine", init=str(runs["ann"]), **ann_limit, **common)
    if not args.skip_snn:
        T = args.snn_timesteps
        limit = {"limit_train": args.snn_limit_train} if args.snn_limit_train else {}
        lim = f" --limit-train {args.snn_limit_train}" if args.snn_limit_train else ""
        runs["snn"] = train_run("snn", out, f"snnc train {SPEC} -t snn {d} -T {T} -e {args.snn_epochs}{lim} "
                                f"-o {out}/snn   # the spec's recipe: Adam 1e-2, cosine, rate cross-entropy",
                                target="snn", timesteps=T, epochs=args.snn_epochs, **limit, **common)
        if args.hwa_scratch:
            runs["snn_hwa"] = train_run("snn_hwa", out, f"snnc train {SPEC} -t snn {d} -T {T} -e {args.snn_epochs}"
                                        f"{lim} {hwa_cli} -o {out}/snn_hwa", target="snn", timesteps=T,
                                        epochs=args.snn_epochs, method="hwa", method_options=hwa_options, **limit,
                                        **common)
        else:
            n = args.snn_hwa_limit_train
            runs["snn_hwa"] = train_run("snn_hwa", out, f"snnc train {SPEC} -t snn {d} -T {T} -e {args.hwa_epochs}"
                                        + (f" --limit-train {n}" if n else "") + f" --lr {args.snn_hwa_lr:g} "
                                        f"--init {out}/snn/best.pt {hwa_cli} -o {out}/snn_hwa", target="snn",
                                        timesteps=T, epochs=args.hwa_epochs, lr=args.snn_hwa_lr,
                                        init=str(runs["snn"]),
                                        method="hwa", method_options=hwa_options,
                                        **({"limit_train": n} if n else {}), **common)
            if control:
                runs["snn_ft"] = train_run("snn_ft", out, f"snnc train {SPEC} -t snn {d} -T {T} -e "
                                           f"{args.hwa_epochs}" + (f" --limit-train {n}" if n else "")
                                           + f" --lr {args.snn_hwa_lr:g} --init {out}/snn/best.pt -o {out}/snn_ft"
                                           "   # the control", target="snn", timesteps=T, epochs=args.hwa_epochs,
                                           lr=args.snn_hwa_lr, init=str(runs["snn"]),
                                           **({"limit_train": n} if n else {}), **common)
    trained = time.perf_counter() - started

    graph = snnc.build_graph(SPEC)
    test = load_for(graph, "mnist", "test", args.data_dir, limit=args.test_limit)
    ann_batches = list(make_loader(test, args.batch_size))
    snn_test = load_for(graph, "mnist", "test", args.data_dir, limit=args.snn_test_limit)
    snn_batches = list(make_loader(snn_test, args.batch_size))
    rows: list[dict[str, Any]] = []

    snn_seeds = [int(x) for x in args.snn_seeds.split(",") if x.strip()]

    def evaluate(name: str, kind: str, training: str, batches, chips=seeds) -> dict[str, Any]:
        net = snnc.load(runs[name])
        acc = classification_accuracy(batches)
        row: dict[str, Any] = {"network": kind, "training": training, "checkpoint": str(runs[name]),
                               "samples": sum(int(y.numel()) for _, y in batches)}
        t0 = time.perf_counter()
        row["float"] = acc(net)
        row["ideal"] = acc(build_mnn(net, IDEAL).network)
        real = []
        for seed in chips:
            real.append(acc(build_mnn(net, _merge(REALISTIC, {"seed": seed})).network))
        row["realistic_seeds"] = real
        row["realistic"] = sum(real) / len(real)
        row["seconds"] = time.perf_counter() - t0
        say(f"   {kind} {training}: float {row['float']:.2%}, ideal mnn {row['ideal']:.2%}, realistic mnn "
            f"{row['realistic']:.2%} (seeds {', '.join(f'{r:.2%}' for r in real)}; {row['seconds']:.0f} s)")
        return row

    say(f"\n== evaluate on crossbars: snnc compile {SPEC} -t mnn -c RUN/best.pt -O adc_bits=6 -O "
        f"{_options('realistic')} -O seed=S -o net_mnn.pt && snnc eval --checkpoint net_mnn.pt {d}")
    for kind, batches, chips in (("ann", ann_batches, seeds), ("snn", snn_batches, snn_seeds)):
        if kind not in runs:
            continue
        label = "ANN" if kind == "ann" else f"SNN (T={args.snn_timesteps})"
        rows.append(evaluate(kind, label, "plain", batches, chips))
        if f"{kind}_ft" in runs:
            rows.append(evaluate(f"{kind}_ft", label, "plain, fine-tuned as hwa is (control)", batches, chips))
        rows.append(evaluate(f"{kind}_hwa", label, "hwa", batches, chips))

    summary = summarize(rows)

    plots: list[str] = []
    sweeps: dict[str, Any] = {}
    if args.sweep_limit:
        say(f"\n== sweep: snnc mnn-sweep {SPEC} -c {runs['ann']} {d} --limit {args.sweep_limit} -o {out}/sweep_ann")
        small = list(make_loader(load_for(graph, "mnist", "test", args.data_dir, limit=args.sweep_limit),
                                 args.batch_size))
        axes = [a for a in args.sweep_axes.split(",") if a]
        t0 = time.perf_counter()
        for name in ("ann", "ann_hwa"):
            net = snnc.load(runs[name])
            which = axes if name == "ann" else [a for a in axes if a == "fault_proportion"]
            if not which:
                continue
            if args.sweep_points:
                which = {a: args.sweep_points[a] for a in which if a in args.sweep_points}
            sweeps[name] = mnn_sweep(net, classification_accuracy(small), {}, which, progress=not args.quiet)
        (out / "sweep_ann").mkdir(exist_ok=True)
        plots.append(str(plot_mnn_sweep(sweeps["ann"], out / "sweep_ann" / "sweep.png",
                                        title=f"mnist_conv ANN on memristive crossbars ({args.sweep_limit} test images)")))
        if "ann_hwa" in sweeps:
            plots.append(str(_plot_faults(sweeps, out / "faults_plain_vs_hwa.png", args.sweep_limit)))
        say(f"   sweeps in {time.perf_counter() - t0:.0f} s")

    result = {"spec": SPEC, "realistic": REALISTIC, "ideal": IDEAL, "seeds": seeds, "snn_seeds": snn_seeds,
              "rows": rows,
              "summary": summary, "sweeps": sweeps, "plots": plots, "args": {k: str(v) for k, v in vars(args).items()},
              "seconds": {"training": trained, "total": time.perf_counter() - started}}
    table = markdown(result)
    from snnc.compiler.artifact import atomic_write_bytes

    atomic_write_bytes(out / "results.json", json.dumps(result, indent=2, default=str).encode("utf-8"))
    atomic_write_bytes(out / "results.md", table.encode("utf-8"))
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(plots):
            target = args.plots / ("mnn_sweep_ann.png" if i == 0 else "mnn_faults_plain_vs_hwa.png")
            atomic_write_bytes(target, Path(p).read_bytes())
    say("\n" + table)
    say(f"wrote {out / 'results.json'}, {out / 'results.md'}" + (f" and {', '.join(plots)}" if plots else "")
        + f"; {result['seconds']['total']:.0f} s in all")
    return result


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per network (its rows with training ``plain`` and ``hwa``): the ideal devices' gap to the float network,
    the realistic settings' loss (float − realistic of the plain network), hwa's gain on them and the share of
    the loss it recovers (the target: at least one half)."""
    out = []
    for network in dict.fromkeys(r["network"] for r in rows):
        mine = {r["training"]: r for r in rows if r["network"] == network}
        plain, hwa = mine["plain"], mine["hwa"]
        loss = plain["float"] - plain["realistic"]
        gain = hwa["realistic"] - plain["realistic"]
        out.append({"network": network, "ideal_gap_points": 100 * (plain["float"] - plain["ideal"]),
                    "realistic_loss_points": 100 * loss, "hwa_gain_points": 100 * gain,
                    "recovered": gain / loss if loss > 0 else None})
    return out


def markdown(result: dict[str, Any]) -> str:
    """The evidence table (accuracy in %) and the recovery line per network."""
    lines = ["| network | training | float | mnn, ideal devices | mnn, realistic (mean; per chip seed) | test images |",
             "|---|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        chips = r["realistic_seeds"]
        lines.append(f"| {r['network']} | {r['training']} | {100 * r['float']:.2f} | {100 * r['ideal']:.2f} | "
                     f"**{100 * r['realistic']:.2f}**" + (f" ({', '.join(f'{100 * s:.2f}' for s in chips)})"
                                                        if len(chips) > 1 else "") + f" | {r['samples']:,} |")
    lines.append("")
    for s in result["summary"]:
        rec = f"{100 * s['recovered']:.0f} %" if s["recovered"] is not None else "n/a"
        lines.append(f"* {s['network']}: ideal devices {s['ideal_gap_points']:+.2f} points from float; realistic "
                     f"settings lose {s['realistic_loss_points']:.2f} points; hwa gains "
                     f"{s['hwa_gain_points']:+.2f} points on them: **{rec} of the loss recovered**")
    lines.append("")
    lines.append("Realistic: 10 % stuck devices (5 % LRS, 5 % HRS), 16 conductance states, 6-bit ADC; otherwise "
                 "MemTorch's tutorial settings (VTEAM, 1T1R, 128×128 tiles, 0.3 V inputs).")
    return "\n".join(lines) + "\n"


def _plot_faults(sweeps: dict[str, Any], path: Path, samples: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for name, label in (("ann", "plain training"), ("ann_hwa", "hwa fine-tuned")):
        axis = sweeps[name]["axes"]["fault_proportion"]
        ax.plot(axis["values"], [100 * s for s in axis["scores"]], "o-", label=label)
    ax.axhline(100 * sweeps["ann"]["float"], color="k", ls="--", lw=1, label="float (plain)")
    ax.set_xlabel("stuck devices (proportion, half LRS half HRS)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"mnist_conv ANN, 8-bit ADC ({samples} test images)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
