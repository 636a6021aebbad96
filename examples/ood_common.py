"""A small driver for the out-of-distribution reproductions, built on :meth:`snnc.runtime.methods.Method.step`.

It is *not* snnc's trainer (``snnc train --method NAME`` is): it exists so the reproduction scripts run before
the trainer lands, and so they can train full-batch (the IRM recipe) and score every environment each epoch.
Data sits in memory as tensors; batches are sliced from them. One run:

1. compile the spec for ``ann`` or ``snn``; build the method from :data:`snnc.runtime.methods.METHODS` with its
   pydantic options and a :class:`~snnc.runtime.methods.MethodContext`;
2. pass the training set through ``method.prepare_dataset`` (``balanced`` resamples there);
3. each epoch, step over seeded batches (``batch_size=None``: one full batch a step), Adam over the model and
   ``method.modules()``; then score, in eval mode, the training environments, their held-out validation parts
   and the test environments;
4. select an epoch by each protocol (:func:`select`).

Selection protocols:

* ``oracle`` (users' report B): the best test accuracy among epochs whose mean training accuracy exceeds 70%
  (if none does, the best test accuracy overall, flagged ``qualified: false``). It reads the test set, so it is
  optimistic.
* ``val`` (DomainBed's training-domain validation): the test accuracy at the epoch with the best mean accuracy on
  held-out images of the training environments (for domain adaptation: of the labelled source only), prepared as
  the method prepares its training data (``balanced`` resamples them the same way; the others use them as they are).
* ``last``: the last epoch.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Subset

import snnc
from snnc.compiler.artifact import atomic_write_bytes
from snnc.runtime.data import load_dataset
from snnc.runtime.data.irm_colored import IRMColoredMNIST, resolve_gap
from snnc.runtime.losses import resolve_loss
from snnc.runtime.methods import METHODS, Batch, MethodContext, StepInfo
from snnc.runtime.methods.envs import WithAttribute
from snnc.runtime.metrics import scores

ORACLE_TRAIN_ACC = 0.70
"""Report B's rule: only epochs whose mean training accuracy exceeds this are eligible for its selection."""

NOISE_CEILING = 0.75
"""With 25% label noise no invariant model beats this on test: test figures above it are flagged."""


def setup(seed: int, threads: int = 2) -> None:
    """Seed torch, NumPy and Python and cap torch's CPU threads."""
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@dataclass
class Data:
    """A reproduction's data: training environments, their held-out parts and the test environments.

    Attributes:
        train: the training environments (what the method trains on).
        val: held-out images of the same environments (for training-domain validation).
        test: the test environments.
        val_envs: which environments of ``val`` count for selection (None: all).
    """

    train: IRMColoredMNIST
    val: IRMColoredMNIST
    test: IRMColoredMNIST
    val_envs: tuple[int, ...] | None = None


def load_data(name: str, *, val_fraction: float = 0.1, seed: int = 0, val_envs: tuple[int, ...] | None = None,
              data_dir: Any = None, test_per_env: int | None = None, **options) -> Data:
    """Read a dataset's train and test splits and hold out ``val_fraction`` of each training environment.

    Args:
        name: ``irm-colored-mnist`` or ``grey-colored-mnist``.
        val_fraction: share of each training environment held out.
        seed: the dataset's seed and the hold-out's.
        val_envs: environments used for selection (e.g. the source only for domain adaptation).
        data_dir: where MNIST is (default: the usual search).
        test_per_env: keep at most this many test images.
        **options: the dataset's options (``envs``, ``size``, ``channels``, ``per_env``, ``base``, ``pool`` ...).
            With ``pool="irm-code"`` (the IRM code's split: train on MNIST training images 0-49,999, test on
            50,000-59,999) nothing is held out of the training environments, which keep every image as in the IRM
            code (``val_fraction`` is not used); their validation images are all of MNIST's test images coloured
            with the training environments' flips instead (same recipe and seed as the test split, so the same
            shuffle and random draws, applied to other digits).
    """
    full = load_dataset(name, "train", data_dir, seed=seed, **options)
    test_options = {k: v for k, v in options.items() if k != "per_env"}
    test = load_dataset(name, "test", data_dir, seed=seed, **test_options)
    if test_per_env is not None:
        test = test.select(torch.arange(min(test_per_env, len(test))))
    if options.get("pool") == "irm-code":
        flips = resolve_gap(test_options.pop("gap", None), test_options.pop("envs", None))
        test_options.update(pool="mnist", test_envs=flips)
        return Data(full, load_dataset(name, "test", data_dir, seed=seed, **test_options), test, val_envs)
    gen = torch.Generator().manual_seed(seed + 1000)
    val_mask = torch.zeros(len(full), dtype=torch.bool)
    for e in range(len(full.environments)):
        idx = torch.nonzero(full.envs == e).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        val_mask[idx[: max(1, round(len(idx) * val_fraction))]] = True
    return Data(full.select(~val_mask), full.select(val_mask), test, val_envs)


@dataclass
class RunConfig:
    """One training run.

    Attributes:
        spec: the spec path.
        target: ``ann`` or ``snn``.
        method: a :data:`METHODS` name.
        options: the method's options.
        epochs: passes over the training set (full batch: steps).
        batch_size: samples per step, or None for the whole set each step.
        lr: Adam's learning rate.
        weight_decay: Adam's (coupled) weight decay.
        seed: the model's and the batches' seed.
        params: spec parameter overrides (e.g. ``{"output_spike": False}``).
        timesteps: snn time steps (None: the spec's).
        loss: a loss name (None: the target's default for the spec's decoding).
        eval_every: score the environments every this many epochs (and at the last).
        eval_train_limit: score at most this many training images (in eval mode) for the train accuracy.
        threads: torch's CPU threads.
        input_noise: standard deviation of Gaussian noise added to every training batch's inputs (clipped to
            [0, 1]; report A's "trained on noisy inputs"); 0 for none.
        mnn: mnn target options: at every scored epoch, also score the test environments on simulated
            memristive crossbars (``to_mnn`` of the network as it is then; needs MemTorch), as ``test_mnn_*``.
        mnn_epochs: the epochs scored on crossbars (None: every scored epoch; the last is always scored).
        head: ``"spec"`` (the compiled model as it is) or ``"irm-code"`` (an ann as the IRM code's MLP:
            :func:`irm_code_model`).
    """

    spec: str
    target: str = "ann"
    method: str = "erm"
    options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int | None = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    timesteps: int | None = None
    loss: str | None = None
    eval_every: int = 1
    eval_train_limit: int = 10000
    head: str = "spec"
    threads: int = 2
    input_noise: float = 0.0
    mnn: dict[str, Any] | None = None
    mnn_epochs: tuple[int, ...] | None = None


class PairLogits(torch.nn.Module):
    """One logit ``z`` as two-class logits ``(−z/2, z/2)``: their softmax is ``(1 − σ(z), σ(z))``, so cross-entropy
    on them is binary cross-entropy on ``z``, scaling them by ``w`` scales ``z``, and their argmax is ``z > 0``."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([-z / 2, z / 2], dim=-1)


def irm_code_model(model: torch.nn.Module) -> torch.nn.Module:
    """Make a compiled two-class ann MLP the IRM code's (``code/colored_mnist/main.py``): Xavier-uniform weights,
    zero biases, and a last linear layer with one output read through :class:`PairLogits`. With it, the ann
    trains exactly the model, loss, penalty and ℓ₂ term (over every parameter) of the code."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears or linears[-1][1].out_features != 2:
        raise ValueError("irm-code head: the model's last linear layer must have two outputs")
    name, last = linears[-1]
    model.set_submodule(name, torch.nn.Sequential(torch.nn.Linear(last.in_features, 1), PairLogits()))
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
            torch.nn.init.zeros_(module.bias)
    return model


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, decoding: str | None, batch: int = 2000) -> torch.Tensor:
    """The class ``model`` (in eval mode) picks for each input, ``batch`` inputs at a time."""
    was = model.training
    model.eval()
    picked = torch.cat([scores(model(x[start:start + batch]), decoding).argmax(1)
                        for start in range(0, len(x), batch)])
    model.train(was)
    return picked


def accuracy_by_env(model: torch.nn.Module, data: IRMColoredMNIST, decoding: str | None,
                    limit: int | None = None, batch: int = 2000) -> dict[int, float]:
    """Accuracy of ``model`` (in eval mode) on each environment of ``data``."""
    x, y, env = data.tensors()
    if limit is not None and len(x) > limit:
        x, y, env = x[:limit], y[:limit], env[:limit]
    correct = predict(model, x, decoding, batch) == y
    return {int(e): float(correct[env == e].float().mean()) for e in torch.unique(env)}


def colour_checks(model: torch.nn.Module, data: IRMColoredMNIST, decoding: str | None,
                  batch: int = 2000) -> dict[str, float]:
    """How much of a test accuracy is shape and how much colour, over all of ``data``.

    ``test_clean``: accuracy against the clean label ``digit < 5`` (the shape task; the 25% label noise is not in it);
    ``test_swapped``: accuracy on the same images with red and green swapped (a model that ignores colour scores the
    same as on the images themselves; one that reads colour moves towards ``1 - test``). Both pool every image of
    ``data`` (the reproductions test on one environment, so this is the same population as ``test_mean``).
    """
    x, y, _ = data.tensors()
    swapped = x.clone()
    swapped[:, [0, 1]] = x[:, [1, 0]]
    clean = (data.digits < 5).long()
    return {"test_clean": float((predict(model, x, decoding, batch) == clean).float().mean()),
            "test_swapped": float((predict(model, swapped, decoding, batch) == y).float().mean())}


def _mean(values: dict[int, float], keep: Sequence[int] | None = None) -> float:
    picked = [v for k, v in values.items() if keep is None or k in keep]
    return float(sum(picked) / len(picked)) if picked else float("nan")


def train_run(cfg: RunConfig, data: Data, *, progress: bool = False, label: str = "") -> dict[str, Any]:
    """Train one configuration and score every environment (see the module docstring).

    Returns:
        ``{"config", "history" (per evaluated epoch), "selection" (oracle/val/last), "seconds"}``.
    """
    setup(cfg.seed, cfg.threads)
    graph = snnc.build_graph(cfg.spec, cfg.params or None)
    spiking = cfg.target != "ann"
    options = {"timesteps": cfg.timesteps} if spiking and cfg.timesteps else {}
    model = snnc.compile(cfg.spec, cfg.target, params=cfg.params or None, **options)
    if cfg.head == "irm-code":
        if spiking:
            raise ValueError("the irm-code head is for the ann target")
        model = irm_code_model(model)
    elif cfg.head != "spec":
        raise ValueError(f"head: 'spec' or 'irm-code', got {cfg.head!r}")
    model.train()
    decoding = graph.decoding.kind if spiking else None
    from snnc.runtime.evaluate import describe_model

    _, loss_fn = resolve_loss(cfg.loss, describe_model(model, graph).form, graph.decoding.kind)
    train_set = data.train
    n = len(train_set)
    cls = METHODS.get(cfg.method)
    dummy = MethodContext(graph, spiking, decoding, loss_fn, cfg.epochs, 1)
    method = cls(cls.Options(**cfg.options), dummy)
    prepared = method.prepare_dataset(train_set)
    attr = None
    if isinstance(prepared, WithAttribute):  # the method reads each image's colour (Batch.attr)
        attr, prepared = prepared.attribute, prepared.dataset
    x, y, env = as_irm_dataset(prepared, train_set).tensors()
    # Why: held-out images are scored as the method sees its training data (``balanced`` resamples them the same
    # way), so training-domain validation measures what the method optimises; other methods leave them as they are.
    prepared_val = method.prepare_dataset(data.val)
    val_set = as_irm_dataset(prepared_val.dataset if isinstance(prepared_val, WithAttribute) else prepared_val,
                             data.val)
    n = len(x)
    bs = n if cfg.batch_size is None else min(cfg.batch_size, n)
    steps = max(1, n // bs)
    method.context = MethodContext(graph, spiking, decoding, loss_fn, cfg.epochs, steps)
    params = list(model.parameters()) + [p for m in method.modules().values() for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    start = time.perf_counter()
    step = 0
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn(label or f"{cfg.method} {cfg.target}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("{task.fields[info]}"))
        task = bar.add_task("train", total=cfg.epochs, info="")
        bar.start()
    try:
        for epoch in range(1, cfg.epochs + 1):
            order = torch.randperm(n, generator=gen) if cfg.batch_size is not None else torch.arange(n)
            sums: dict[str, float] = {}
            for s in range(steps):
                pick = order[s * bs:(s + 1) * bs]
                xb = x[pick]
                if cfg.input_noise > 0:
                    xb = (xb + cfg.input_noise * torch.randn(xb.shape, generator=gen)).clamp_(0, 1)
                batch = Batch(xb, y[pick], env[pick], None if attr is None else attr[pick])
                out = method.step(model, batch, StepInfo(epoch, cfg.epochs, step, steps))
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
                step += 1
                loss = float(out.loss.detach())
                if not math.isfinite(loss):
                    raise FloatingPointError(f"{cfg.method}: the loss is {loss} at step {step}")
                for k, v in {"loss": loss, **out.metrics}.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or epoch == 1:
                record = {"epoch": epoch, **{k: v / steps for k, v in sums.items()}}
                record["train_acc"] = accuracy_by_env(model, train_set, decoding, cfg.eval_train_limit)
                record["val_acc"] = accuracy_by_env(model, val_set, decoding)
                record["test_acc"] = accuracy_by_env(model, data.test, decoding)
                if cfg.mnn is not None and (cfg.mnn_epochs is None or epoch in cfg.mnn_epochs
                                            or epoch == cfg.epochs):
                    from snnc.compiler.targets.mnn import to_mnn

                    was = model.training
                    record["test_mnn_acc"] = accuracy_by_env(to_mnn(model.eval(), cfg.mnn), data.test, decoding)
                    record["test_mnn_mean"] = _mean(record["test_mnn_acc"])
                    model.train(was)
                record["train_mean"] = _mean(record["train_acc"], data.val_envs)
                record["val_mean"] = _mean(record["val_acc"], data.val_envs)
                record["test_mean"] = _mean(record["test_acc"])
                if epoch == cfg.epochs:
                    record.update(colour_checks(model, data.test, decoding))
                record["seconds"] = time.perf_counter() - start
                history.append(record)
                if bar is not None:
                    bar.update(task, info=f"train {100 * record['train_mean']:.1f}%  val "
                               f"{100 * record['val_mean']:.1f}%  test {100 * record['test_mean']:.1f}%")
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return {"config": asdict(cfg), "history": history, "selection": select(history),
            "seconds": time.perf_counter() - start}


def as_irm_dataset(prepared: Any, base: IRMColoredMNIST) -> IRMColoredMNIST:
    """``method.prepare_dataset(base)`` as an :class:`IRMColoredMNIST` (a ``Subset`` of ``base`` becomes its
    selection)."""
    if isinstance(prepared, Subset) and prepared.dataset is base:
        return base.select(torch.as_tensor(list(prepared.indices), dtype=torch.long))
    if not isinstance(prepared, IRMColoredMNIST):
        raise TypeError(f"prepare_dataset returned a {type(prepared).__name__}; expected the dataset or a Subset")
    return prepared


def on_crossbars(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs trained with ``mnn`` options as seen on the crossbars: each scored epoch's test accuracy is its
    ``test_mnn`` one (train and validation accuracy stay the float network's), selections recomputed."""
    out = []
    for run in runs:
        history = [dict(r, test_acc=r["test_mnn_acc"], test_mean=r["test_mnn_mean"]) for r in run["history"]
                   if "test_mnn_acc" in r]
        out.append(dict(run, history=history, selection=select(history)))
    return out


def select(history: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The epoch each protocol picks, with its train, validation and test accuracy (module docstring)."""

    def pick(record, **extra):
        return {"epoch": record["epoch"], "train": record["train_mean"], "val": record["val_mean"],
                "test": record["test_mean"], **extra}

    eligible = [r for r in history if r["train_mean"] > ORACLE_TRAIN_ACC]
    oracle = max(eligible or history, key=lambda r: r["test_mean"])
    val = max(history, key=lambda r: (r["val_mean"], r["epoch"]))
    return {"oracle": pick(oracle, qualified=bool(eligible)), "val": pick(val), "last": pick(history[-1])}


def at_epoch(history: Sequence[dict[str, Any]], epoch: int) -> dict[str, Any] | None:
    """The evaluated record of ``epoch`` (None if it was not evaluated)."""
    return next((r for r in history if r["epoch"] == epoch), None)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation; std 0 for one value."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.pstdev(values) if len(values) > 1 else 0.0)


def fmt(values: Sequence[float], flag_above: float | None = None) -> str:
    """``"68.9 ± 1.2"`` in percent (``"—"`` when empty), with `` ⚠`` when the mean exceeds ``flag_above``."""
    m, s = mean_std(values)
    if math.isnan(m):
        return "—"
    flag = " ⚠" if flag_above is not None and m > flag_above else ""
    return f"{100 * m:.1f} ± {100 * s:.1f}{flag}"


def colour_table(columns: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown lines of the last epoch's shape-or-colour check (:func:`colour_checks`) for the settings whose
    every run has it (runs merged from before the check existed are left out); no lines if none has."""
    checked = {name: runs for name, runs in columns.items()
               if runs and all("test_clean" in r["history"][-1] for r in runs)}
    if not checked:
        return []
    lines = ["", "## Shape or colour (last epoch)", "",
             "Test accuracy against the clean label (digit < 5: the shape task) and with red and green swapped (an "
             "invariant network scores as on the test images; one that reads colour moves towards 100% minus it).",
             "", "| setting | test | clean label | colours swapped |", "| --- | --- | --- | --- |"]
    for name, runs in checked.items():
        last = [r["history"][-1] for r in runs]
        lines.append(f"| {name} | {fmt([h['test_mean'] for h in last], NOISE_CEILING)} | "
                     f"{fmt([h['test_clean'] for h in last])} | {fmt([h['test_swapped'] for h in last])} |")
    return lines


def read_runs(path: Path, key: str) -> dict[str, list[dict[str, Any]]]:
    """The runs under ``key`` of a ``results.json`` written by a reproduction, with environment keys as ints again
    (JSON made them strings)."""
    runs = json.loads(Path(path).read_text())[key]
    for results in runs.values():
        for run in results:
            for record in run["history"]:
                for name, value in record.items():
                    if name.endswith("_acc") and isinstance(value, dict):
                        record[name] = {int(k): v for k, v in value.items()}
    return runs


def merge_runs(into: dict[str, list], more: dict[str, list]) -> None:
    """Add the runs (seeds) of ``more`` to ``into``, setting by setting."""
    for name, results in more.items():
        into.setdefault(name, []).extend(results)


def write_json(path: Path, payload: Any) -> Path:
    """Write JSON atomically."""
    return atomic_write_bytes(path, (json.dumps(payload, indent=2, default=float) + "\n").encode())


def write_results(path: Path, args: Any, **parts: Any) -> dict[str, Any]:
    """Write a reproduction's results (its arguments, then ``parts``) as JSON, atomically, and return them:
    ``results.json`` at the end, ``results.partial.json`` after every finished run (so an interruption loses
    none; ``--merge`` reads both)."""
    payload = {"args": {k: str(v) for k, v in vars(args).items()}, **parts}
    write_json(path, payload)
    return payload


def plot_runs(runs: dict[str, list[dict[str, Any]]], path: Path, title: str) -> Path:
    """Train (dashed) and test (solid) accuracy by epoch for each setting (mean over its seeds)."""
    from matplotlib.figure import Figure

    from snnc.runtime.plots import _save

    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (name, results) in enumerate(runs.items()):
        epochs = [r["epoch"] for r in results[0]["history"]]
        colour = f"C{i % 10}"
        for key, style in (("train_mean", "--"), ("test_mean", "-")):
            series = [statistics.fmean(at_epoch(res["history"], e)[key] for res in results) for e in epochs]
            ax.plot(epochs, [100 * v for v in series], style, color=colour,
                    label=f"{name} ({'train' if key == 'train_mean' else 'test'})")
    ax.axhline(75, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title, ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
