"""Reproduce the snnTorch MNIST tutorials with snnc, over several seeds, and print mean ± std test accuracy.

Two experiments, each the tutorial's own recipe (Adam, betas (0.9, 0.999), batch 128, 25 time steps, direct input,
trained on all 60,000 training images and tested on the 10,000 test images):

* ``fc`` — ``specs/mnist_fc.yaml`` (784-1000-10 LIF, snnTorch tutorial 5): lr 5e-4, 1 epoch, per-step
  cross-entropy on the output membrane (``ce_membrane_per_step``). Target: ≥ 93 % test accuracy.
* ``conv`` — ``specs/mnist_conv.yaml`` (12C5-MP2-64C5-MP2-1024FC10, tutorial 6): lr 1e-2, 3 epochs,
  ``ce_rate_loss``. Target: ≥ 98 % test accuracy. The tutorial keeps the learning rate constant; at 1e-2 Adam
  the last epoch's accuracy then varies by about a point between seeds (97.2-98.1 % measured), so by default the
  learning rate follows a cosine decay from 1e-2 over the 3 epochs (``--schedule cosine``, per batch);
  ``--schedule none`` is the tutorial's constant rate.

Usage (from the repository root; the full MNIST IDX files in ``../shared/data/mnist``)::

    python examples/reproduce_mnist.py                       # both experiments, seeds 0 1 2
    python examples/reproduce_mnist.py --which fc            # the fast one only
    python examples/reproduce_mnist.py --which conv --seeds 0 --data-dir /path/to/mnist

Each run writes ``runs/reproduce/<experiment>-seed<k>/`` (see ``snnc train``); an interrupted reproduction is
resumed from those run directories when started again. The same runs with the CLI::

    snnc train specs/mnist_fc.yaml --dataset mnist --epochs 1 --lr 5e-4 --batch-size 128 \\
        --loss ce_membrane_per_step --val-fraction 0 --seed 0
    snnc train specs/mnist_conv.yaml --dataset mnist --epochs 3 --lr 1e-2 --batch-size 128 \\
        --loss ce_rate_loss --val-fraction 0 --seed 0 --schedule cosine
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from snnc.runtime.run_dir import write_json
from snnc.runtime.train import train

SPECS = Path(__file__).resolve().parents[1] / "specs"


@dataclass(frozen=True)
class Experiment:
    """One tutorial recipe.

    Attributes:
        spec: the spec file.
        lr: Adam's learning rate.
        epochs: training epochs.
        loss: the loss name.
        goal: the test accuracy to reach (mean over seeds).
        tutorial: where the recipe comes from.
        schedule: the default learning-rate schedule (None: constant, as in the tutorials).
    """

    spec: Path
    lr: float
    epochs: int
    loss: str
    goal: float
    tutorial: str
    schedule: str | None = None


EXPERIMENTS = {
    "fc": Experiment(SPECS / "mnist_fc.yaml", 5e-4, 1, "ce_membrane_per_step", 0.93, "snnTorch tutorial 5"),
    "conv": Experiment(SPECS / "mnist_conv.yaml", 1e-2, 3, "ce_rate_loss", 0.98, "snnTorch tutorial 6",
                       "cosine"),
}
"""Experiment name → recipe."""


def run_experiment(name: str, seed: int, args: argparse.Namespace, console: Console) -> dict:
    """Train one experiment with one seed (resuming its run directory if it exists).

    Args:
        name: a key of :data:`EXPERIMENTS`.
        seed: the seed.
        args: the parsed command line.
        console: where progress goes.

    Returns:
        ``{"experiment", "seed", "accuracy", "train_seconds", "run_dir"}``.
    """
    exp = EXPERIMENTS[name]
    schedule = exp.schedule if args.schedule == "default" else (None if args.schedule == "none" else args.schedule)
    run_dir = args.runs / f"{name}-seed{seed}"
    console.rule(f"{name} ({exp.tutorial}), seed {seed}")
    result = train(exp.spec, target="snn", dataset=args.dataset, data_dir=args.data_dir, epochs=exp.epochs,
                   batch_size=128, lr=exp.lr, betas=(0.9, 0.999), optimizer="adam", schedule=schedule,
                   loss=exp.loss, seed=seed,
                   val_fraction=0.0, timesteps=args.timesteps, limit_train=args.limit_train,
                   limit_test=args.limit_test, run_dir=run_dir, resume=(run_dir / "last.pt").is_file(),
                   plots=not args.no_plots, progress=not args.quiet, console=console)
    return {"experiment": name, "seed": seed, "schedule": schedule, "accuracy": result.test_accuracy,
            "train_seconds": sum(r["seconds"] for r in result.epochs), "run_dir": str(run_dir)}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summary_table(rows: list[dict]) -> Table:
    """Mean ± std test accuracy and training wall time per experiment, with the tutorial's goal."""
    table = Table(title="MNIST reproduction (test accuracy over seeds)", header_style="bold")
    for column in ("experiment", "seeds", "test accuracy", "per seed", "train time / run", "goal"):
        table.add_column(column, justify="left" if column in ("experiment", "per seed") else "right")
    for name, exp in EXPERIMENTS.items():
        mine = [r for r in rows if r["experiment"] == name]
        if not mine:
            continue
        acc_mean, acc_std = _mean_std([100 * r["accuracy"] for r in mine])
        t_mean, t_std = _mean_std([r["train_seconds"] for r in mine])
        met = "[green]met[/]" if acc_mean >= 100 * exp.goal else "[red]missed[/]"
        table.add_row(name, ",".join(str(r["seed"]) for r in mine), f"{acc_mean:.2f} ± {acc_std:.2f} %",
                      " ".join(f"{100 * r['accuracy']:.2f}" for r in mine), f"{t_mean:.0f} ± {t_std:.0f} s",
                      f"≥ {100 * exp.goal:.0f} % {met}")
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--which", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--dataset", default="mnist", help="dataset name (mnist-sample for a smoke test)")
    parser.add_argument("--data-dir", type=Path, default=None, help="folder with the MNIST IDX files "
                        "(default: $SNNC_DATA_DIR/mnist, then ../shared/data/mnist)")
    parser.add_argument("--runs", type=Path, default=Path("runs") / "reproduce", help="where run directories go")
    parser.add_argument("--schedule", choices=["default", "none", "cosine", "step"], default="default",
                        help="learning-rate schedule (default: each experiment's, see above)")
    parser.add_argument("--timesteps", type=int, default=None, help="override the specs' 25 steps (smoke tests)")
    parser.add_argument("--limit-train", type=int, default=None, help="first N training images (smoke tests)")
    parser.add_argument("--limit-test", type=int, default=None, help="first N test images (smoke tests)")
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the chosen experiments over the seeds, print the table and write ``<runs>/summary.json``.

    Returns:
        One row per (experiment, seed).
    """
    args = parse_args(argv)
    console = Console(highlight=False)
    rows = [run_experiment(name, seed, args, console) for name in args.which for seed in args.seeds]
    console.print(summary_table(rows))
    write_json(args.runs / "summary.json", {"rows": rows, "settings": {k: str(v) if isinstance(v, Path) else v
                                                                        for k, v in vars(args).items()}})
    console.print(f"details: {args.runs / 'summary.json'}")
    return rows


if __name__ == "__main__":
    main()
