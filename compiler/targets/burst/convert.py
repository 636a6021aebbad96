"""``convert``: a trained ANN → a burst-spiking network (Li & Zeng, IJCAI 2022, arXiv:2204.13271).

The life cycle, one function per step (each in its own module and testable alone):

1. :func:`~.trace.trace` a private copy, then normalise it (:func:`~.trace.functionalize_inplace`,
   :func:`~.trace.remove_dropout`, :func:`~.trace.split_head`, :func:`~.support.check_interface`,
   :func:`~.trace.propagate_shapes`) and :func:`~.support.check_supported` — every unsupported op is reported
   before any work is done;
2. :func:`~.fold_bn.fold_batch_norm`;
3. :func:`~.observe.insert_observers` at each ReLU call site;
4. :func:`~.observe.calibrate` on the calibration data;
5. :func:`~.replace.replace_activations` (observers → burst neurons) and :func:`~.replace.replace_max_pooling`
   (max-pool → LIPool);
6. :func:`~.replace.finalize` (``graph.lint()``, ``recompile()``), wrapped in a :class:`~.module.BurstSNN`;
7. with ``calibrate``: :func:`~.calibrate.calibrate_network` (threshold search, bias and potential correction)
   from statistics recorded during step 4.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import torch
from torch import nn

from snnc.compiler.errors import SnncError, did_you_mean

from .calibrate import Statistics, calibrate_network, check_timesteps, parse_steps
from .fold_bn import fold_batch_norm
from .module import BurstSNN
from .observe import NORMALIZATIONS, insert_observers, iter_batches
from .observe import calibrate as observe_activations  # (the name calibrate is the option's)
from .replace import finalize, replace_activations, replace_max_pooling
from .support import check_interface, check_supported
from .trace import functionalize_inplace, propagate_shapes, remove_dropout, split_head, trace

METHODS = {"burst": None, "if": 1}
"""Conversion methods → the gamma they force (None: the caller's gamma, default :data:`DEFAULT_GAMMA`)."""
DEFAULT_GAMMA = 5
"""Γ = 5, as in BrainCog's burst-conversion examples."""
IF_PERCENTILE = 99.0
"""The default threshold percentile of IF neurons (Γ = 1): their best at T = 8-16 in the threshold study of
``docs/burst.md`` (both Fashion-MNIST networks; 99.99 was the worst there)."""
BURST_PERCENTILE = 95.0
"""The default threshold percentile of burst neurons (Γ ≥ 2): the study's best at small T, where a burst passes
up to Γ·θ per step and a low threshold gives a fine quantisation step without clipping."""


DEFAULT_CALIBRATION = ("threshold", "bias")
"""The calibration after conversion a user gets by passing nothing: threshold search and per-channel bias
correction at ``calibration_timesteps`` = 8. Why these: on the four networks of ``examples/low_latency.py`` and
the calibration study of docs/burst.md they were never below plain conversion at any T, while the initial-membrane
correction (``potential``) helps at T <= 2 but wobbles at large T (a one-off charge tuned for one T)."""


def default_percentile(gamma: int) -> float:
    """The threshold percentile used when none is given: :data:`IF_PERCENTILE` for Γ = 1, else
    :data:`BURST_PERCENTILE`."""
    return IF_PERCENTILE if int(gamma) == 1 else BURST_PERCENTILE
_SHAPE_BATCH = 7
"""Rows of the shape-propagation batch. Why 7: an odd size unlikely to equal a channel count, so a layer
that moves or mixes the batch dimension shows up as a changed dim 0."""


def convert(model: nn.Module, calibration: Any, method: str = "burst", *, gamma: int | None = None,
            percentile: float | None = None, channelwise: bool = False, normalization: str = "percentile",
            timesteps: int = 64, v_init: float = 0.5, max_batches: int | None = None,
            fold_batch: int = 256, calibrate: str | Sequence[str] | None = None,
            calibration_timesteps: int | None = None) -> BurstSNN:
    """Convert a trained ReLU network to a burst-spiking network.

    Each ReLU call site (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()``, ``clamp(min=0)``,
    ``clamp_min(0)``; a reused ``nn.ReLU`` gives one neuron per site) becomes an integrate-and-fire neuron
    with reset by subtraction that fires up to ``gamma`` spikes per step; its threshold comes from the
    activations on the calibration data. Batch-norm is folded into the preceding conv/linear layer, max
    pooling becomes LIPooling, dropout is removed; average pooling, residual additions, concatenation and
    reshapes stay as they are. A final softmax / log-softmax / sigmoid is applied to the time-averaged
    output.

    Args:
        model: a trained, torch.fx-traceable module with one tensor input and one tensor output (e.g. a
            GraphModule from snnc's ann target). Never modified.
        calibration: a DataLoader / iterable of batches (tensors or ``(x, y)`` tuples) or a tensor ``[N, ...]``.
            Use training data, in the model's input format.
        method: ``"burst"``, or ``"if"`` for ordinary integrate-and-fire neurons (``gamma = 1``).
        gamma: the largest burst Γ per neuron and step (default 5; 1 gives IF neurons).
        percentile: the activation percentile that sets each threshold, in (0, 100]; default by Γ
            (:func:`default_percentile`: 99 for IF neurons, 95 for bursts, from the threshold study in
            ``docs/burst.md``).
        channelwise: one threshold per channel instead of per layer.
        normalization: ``"percentile"`` or ``"max"`` (the largest activation seen).
        timesteps: the default number of steps ``T`` of :meth:`BurstSNN.forward`.
        v_init: the initial membrane as a fraction of the threshold. Default 0.5 (membrane starts at
            ``theta / 2``, which turns the neuron's floor into rounding and halves the quantisation error);
            0.0 reproduces the paper and BrainCog, whose membranes start at 0.
        max_batches: use at most this many calibration batches (None: all).
        fold_batch: the most samples (steps × batch) folded into one pass at run time.
        calibrate: calibration after conversion (:mod:`.calibrate`, Li et al. 2021): ``"threshold"``
            (searched), ``"bias"`` (per-channel current), ``"potential"`` (initial membrane), ``"full"`` (all),
            a list or comma-separated string of those, or ``"none"``; None (default): :data:`DEFAULT_CALIBRATION`
            (threshold search and bias correction, the best recipe of docs/burst.md "Conversion at low latency").
            What it did is in ``config`` (``calibrate``, ``calibration_timesteps``, ``calibration_seconds``, ...).
        calibration_timesteps: the ``T`` it aims at (default :data:`~.calibrate.DEFAULT_TIMESTEPS`).

    Returns:
        The converted network.

    Raises:
        UnsupportedError: the model has ops the burst target cannot convert (all are listed, each with the
            node, the op and what to do), or it cannot be traced.
        SnncError: an invalid option or empty calibration data.
    """
    gamma = _resolve_gamma(method, gamma)
    percentile = default_percentile(gamma) if percentile is None else percentile
    _check_options(percentile, normalization, v_init)
    steps = DEFAULT_CALIBRATION if calibrate is None else parse_steps(calibrate)
    calibration_timesteps = check_timesteps(calibration_timesteps)
    flags = {module: module.training for module in model.modules()}
    try:
        gm = trace(model)
        device = next(itertools.chain(gm.parameters(), gm.buffers()), torch.empty(0)).device
        batches = iter_batches(calibration)
        first = next(batches, None)
        if first is None:
            raise SnncError("the calibration data is empty; pass at least one batch of inputs")
        first = first.to(device)
        head = _normalize(gm, first)
        fold_batch_norm(gm)
        observers = insert_observers(gm, normalization, percentile, channelwise)
        stats = Statistics(observers) if steps else None
        samples = _observe(gm, itertools.chain([first], batches), stats, max_batches, device)
        replace_activations(gm, observers, gamma=gamma, v_init=v_init)
        replace_max_pooling(gm)
        finalize(gm)
    finally:
        for module, training in flags.items():
            module.training = training
    config = {"method": method, "gamma": gamma, "percentile": percentile, "channelwise": channelwise,
              "normalization": normalization, "v_init": v_init, "calibration_samples": samples}
    snn = BurstSNN(gm, head, timesteps=timesteps, fold_batch=fold_batch, config=config)
    snn.config.update(calibrate_network(snn, stats, steps, calibration_timesteps, device) if steps
                      else {"calibrate": []})
    return snn


def _normalize(gm: torch.fx.GraphModule, first: torch.Tensor) -> nn.Module | None:
    """Step 1 after tracing: in-place ops made functional, dropout removed, the head split off (returned), the
    interface checked, shapes annotated from ``first``, and every unsupported op reported."""
    functionalize_inplace(gm)
    remove_dropout(gm)
    head = split_head(gm)
    check_interface(gm)
    propagate_shapes(gm, first[:1].expand(_SHAPE_BATCH, *first.shape[1:]).contiguous())
    check_supported(gm)
    return head


def _observe(gm: torch.fx.GraphModule, batches: Any, stats: Statistics | None, max_batches: int | None,
             device: torch.device) -> int:
    """Step 4: the calibration pass (recording ``stats`` for calibration after conversion, when asked)."""
    if stats is None:
        return observe_activations(gm, batches, max_batches, device)
    try:
        return observe_activations(gm, stats.stream(batches, max_batches), max_batches, device)
    finally:
        stats.close()


def _resolve_gamma(method: str, gamma: int | None) -> int:
    if method not in METHODS:
        raise SnncError(f"unknown conversion method {method!r}; choose one of {sorted(METHODS)}."
                        + did_you_mean(method, METHODS))
    forced = METHODS[method]
    if forced is not None:
        if gamma is not None and gamma != forced:
            raise SnncError(f"method={method!r} means gamma={forced}; got gamma={gamma}. Use method='burst'.")
        return forced
    gamma = DEFAULT_GAMMA if gamma is None else gamma
    if isinstance(gamma, bool) or int(gamma) != gamma or gamma < 1:
        raise SnncError(f"gamma must be an integer >= 1, got {gamma!r}")
    return int(gamma)


def _check_options(percentile: float, normalization: str, v_init: float) -> None:
    if normalization not in NORMALIZATIONS:
        raise SnncError(f"unknown normalization {normalization!r}; choose one of {list(NORMALIZATIONS)}."
                        + did_you_mean(normalization, NORMALIZATIONS))
    if not 0 < percentile <= 100:
        raise SnncError(f"percentile must be in (0, 100], got {percentile!r} (99.99 means the 99.99th)")
    if not 0 <= v_init < 1:
        raise SnncError(f"v_init is a fraction of the threshold in [0, 1), got {v_init!r}")
