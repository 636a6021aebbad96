"""Reproduce users' report A: a small CNN on binary Colored MNIST (3×28×28, red/green), test accuracy by epoch.

Columns (each cell: test accuracy, mean ± std over the seeds, at epochs 1, 5, 10, 20, 30 — those within
``--epochs``):

* Origin: the ann trained with plain ERM on the 10%/20% environments (learns the colour shortcut);
* Balanced: the ann on data resampled so colour is independent of the label (``balanced``);
* SNN: the snn on the balanced data with snnTorch's MSE loss on output spike counts (``mse_count_loss``; report A
  does not say whether its SNN saw balanced data);
* DANN1: ``dann`` with the coloured training environments as the source and unlabelled test-coloured images
  (flip 0.9) as the target;
* DANN2: ``dann`` with grey MNIST as the source and Colored MNIST (flip 0.9) as the target;
* MNN / MNN-noise: wait for the mnn target (not built), reported as "—".

The selection-protocol table (training-domain validation and report B's oracle) is written too. Writes
``results.json``, ``tables.md`` and ``curves.png`` to ``--out``; ``--quick`` runs two epochs on the bundled sample.

Usage::

    PYTHONPATH=. python examples/ood_report_a.py --out runs/ood_a
    PYTHONPATH=. python examples/ood_report_a.py --quick --out /tmp/ood_a
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ood_common import (NOISE_CEILING, RunConfig, at_epoch, fmt, load_data, plot_runs,  # noqa: E402
                        train_run, write_json)

SPEC = str(Path(__file__).resolve().parents[1] / "specs" / "ood_cnn.yaml")
EPOCHS = (1, 5, 10, 20, 30)
NOT_BUILT = ("MNN", "MNN-noise")


def plan(args) -> dict[str, tuple[str, dict, dict, str, dict, tuple[int, ...] | None]]:
    """name → (method, options, RunConfig overrides, dataset, dataset options, selection environments)."""
    ann = {"target": "ann", "params": {"output_spike": False}, "lr": args.lr, "batch_size": args.batch_size}
    snn = {"target": "snn", "params": {}, "lr": args.lr, "batch_size": args.batch_size,
           "timesteps": args.timesteps, "loss": "mse_count_loss"}
    coloured = {"envs": (0.1, 0.2)}
    return {
        "Origin": ("erm", {}, ann, "irm-colored-mnist", coloured, None),
        "Balanced": ("balanced", {}, ann, "irm-colored-mnist", coloured, None),
        "SNN": ("balanced", {}, snn, "irm-colored-mnist", coloured, None),
        "DANN1": ("dann", {"source_envs": (0, 1)}, ann, "irm-colored-mnist", {"envs": (0.1, 0.2, 0.9)}, (0, 1)),
        "DANN2": ("dann", {"source_envs": (0,)}, ann, "grey-colored-mnist", {}, (0,)),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the reproduction; returns what is written to ``results.json``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/ood_report_a"))
    p.add_argument("--quick", action="store_true", help="two epochs on the bundled sample, one seed")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--per-env", type=int, default=5000, help="images per training environment")
    p.add_argument("--test-images", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--timesteps", type=int, default=4)
    p.add_argument("--only", nargs="*", help="run only these columns")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds = 2, 1
    seeds = list(range(args.seeds))
    common: dict[str, Any] = {"size": 28, "channels": "rgb"}
    common.update({"base": "mnist-sample", "test_per_env": 200} if args.quick else
                  {"per_env": args.per_env, "test_per_env": args.test_images})
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, list] = {}
    for name, (method, options, overrides, dataset, data_options, val_envs) in plan(args).items():
        if args.only and name not in args.only:
            continue
        results[name] = []
        for seed in seeds:
            data = load_data(dataset, seed=seed, val_envs=val_envs, **common, **data_options)
            cfg = RunConfig(SPEC, method=method, options=options, seed=seed, epochs=args.epochs, **overrides)
            run = train_run(cfg, data, progress=args.progress, label=f"{name} seed {seed}")
            results[name].append(run)
            print(f"  {name:9s} seed {seed}: test by epoch "
                  f"{[round(100 * r['test_mean'], 1) for r in run['history']]} ({run['seconds']:.0f} s)", flush=True)
    shown = [e for e in EPOCHS if e <= args.epochs] or [args.epochs]
    lines = [f"# Report A reproduction ({'quick' if args.quick else 'reduced'})", "", f"settings: {vars(args)}", "",
             "## Test accuracy by epoch", "", "| epoch | " + " | ".join(list(results) + list(NOT_BUILT)) + " |",
             "| --- |" + " --- |" * (len(results) + len(NOT_BUILT))]
    for epoch in shown:
        cells = [fmt([at_epoch(r["history"], epoch)["test_mean"] for r in runs], NOISE_CEILING)
                 for runs in results.values()]
        lines.append(f"| {epoch} | " + " | ".join(cells + ["—"] * len(NOT_BUILT)) + " |")
    lines += ["", "## Selected epoch's test accuracy", "", "| column | val-selected | oracle (report B) | last |",
              "| --- | --- | --- | --- |"]
    for name, runs in results.items():
        lines.append(f"| {name} | " + " | ".join(fmt([r["selection"][k]["test"] for r in runs], NOISE_CEILING)
                                               for k in ("val", "oracle", "last")) + " |")
    lines += ["", f"wall time: {time.perf_counter() - started:.0f} s (measured on a shared, busy machine)", ""]
    (args.out / "tables.md").write_text("\n".join(lines))
    if results:
        plot_runs(results, args.out / "curves.png", "report A: binary Colored MNIST, CNN")
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results,
               "seconds": time.perf_counter() - started}
    write_json(args.out / "results.json", payload)
    print("\n".join(lines))
    return payload


if __name__ == "__main__":
    main()
