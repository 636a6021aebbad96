"""Calibration after conversion (Li et al., ICML 2021, "A Free Lunch From ANN", github:yhhhli/SNN_Calibration):
threshold search, bias correction and initial-membrane (potential) correction from the calibration images.

A converted network errs where its neurons' mean output over ``T`` steps differs from the ANN activation it
replaces: the quantisation (steps of ``theta / T``) and clipping (at ``gamma * theta`` per step) of each neuron,
and the error its inputs carry from upstream. Three steps, each optional (``calibrate=...`` of
:func:`~.convert.convert`), all aimed at one ``T`` (``calibration_timesteps``, :data:`DEFAULT_TIMESTEPS`):

* ``threshold`` — each neuron's threshold is the candidate that minimises the squared error between the ANN
  activation ``a`` and its ``T``-step burst quantisation (:func:`quantize`) over the calibration activations
  (per layer or per channel, as ``channelwise``). Candidates: :data:`CANDIDATES` clipping levels
  ``gamma * theta`` from the largest activation down to 5 % of it (Li et al.'s grid, the clip at
  ``gamma * theta`` instead of ``theta``), and the percentile threshold the conversion gave (kept on a tie, so
  a neuron that is already exact keeps its threshold). Sites whose threshold was trained (a QCFS λ, observers
  with ``trained = True``) keep it.
* ``bias`` — layer by layer in graph order, each with the layers before it already corrected: run the network
  for ``T`` steps on the calibration images, and add the per-channel mean of ``ANN activation - SNN mean
  output`` to the neuron's bias current (:attr:`~.neurons.BurstNeuron.bias`, added to its input every step).
* ``potential`` — in the same pass, the rest of that error, per neuron (element), times ``T``, is added to the
  initial membrane (:attr:`~.neurons.BurstNeuron.v_offset`): a charge given once, so its effect on the mean
  output is ``1 / T``, right at the calibration ``T`` (Li et al.'s ``mem_pot_init``, on its own their best on
  CIFAR).

Why these and not weight calibration (the paper's "advanced" on ImageNet): it trains every layer's weights for
thousands of iterations, minutes per layer; these take one pass of the network per neuron layer.

The corrections use at most :data:`MAX_SAMPLES` calibration images (the first ones), the threshold search a
fixed-size random subsample of their activations at each site (:data:`VALUES_PER_SITE`), so the cost does not
grow with a large calibration set.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import nn

from snnc.compiler.errors import SnncError, did_you_mean

from .neurons import BurstNeuron

STEPS = ("threshold", "bias", "potential")
"""The calibration steps, in the order they run."""
ALIASES = {"none": (), "full": STEPS}
"""Names of step sets: ``none`` (no calibration) and ``full`` (every step)."""
DEFAULT_TIMESTEPS = 8
"""The ``T`` the search and corrections aim at when ``calibration_timesteps`` is not given. Why 8: on the
Fashion-MNIST ResNet of ``examples/burst_fashion_mnist.py`` (ANN 89.73 %, 3,000 test images, 512 calibration
images, Γ = 5, p95) threshold + bias at T_cal = 8 gave 76.4 / 86.9 / 89.1 / 89.4 / 89.8 / 89.8 % at T = 1, 2, 4,
8, 16, 32 against plain 59.4 / 75.1 / 86.1 / 88.7 / 89.2 / 89.6, never below plain; T_cal = 2 is better at T <= 4
(84.9 / 89.2 / 89.5) but below plain at T = 16, 32 (89.0, 89.0); T_cal = 4, 16, 32 lie between."""
MAX_SAMPLES = 1024
"""The most calibration images the corrections and the threshold search use (the first ones)."""
VALUES_PER_SITE = 1 << 18
"""Activations kept per site for the threshold search (a seeded uniform subsample; all when fewer)."""
CANDIDATES = 100
"""Clipping levels ``gamma * theta`` tried per layer (or channel), from the largest activation down to 5 %."""
CPU_FOLD = 256
"""The most samples (images × steps) one correction run folds on CPU. Why not the network's ``fold_batch``:
measured on the Fashion-MNIST ResNet, 256 ran the corrections 3.7× faster than 2048 (activations that stay in
the cache); other devices use ``fold_batch``."""
_SEARCH_ELEMENTS = 1 << 22
"""Elements (candidates × activations) of one block of the threshold search: bounds its memory (16 MiB)."""


def parse_steps(value: Any) -> tuple[str, ...]:
    """The calibration steps a ``calibrate`` option names, in :data:`STEPS` order.

    Args:
        value: None or ``"none"`` (no calibration), ``"full"`` (every step), a step name, a comma-separated
            string of step names (``"threshold,bias"``, as ``-O calibrate=threshold,bias`` gives it) or a list of
            them.

    Raises:
        SnncError: an unknown name (with did-you-mean), ``none``/``full`` mixed with others, or a value that
            is neither a string nor a list of strings.
    """
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise SnncError(f"calibrate must be a string or a list of strings, got {value!r}; e.g. calibrate='full' or "
                        "calibrate=['threshold', 'bias']")
    names = [n.strip().lower() for n in names if n.strip()]
    choices = [*ALIASES, *STEPS]
    for name in names:
        if name not in choices:
            raise SnncError(f"unknown calibration step {name!r} in calibrate={value!r}; choose from "
                            f"{', '.join(choices)} (or a list of {', '.join(STEPS)})." + did_you_mean(name, choices))
    if len(names) > 1 and any(n in ALIASES for n in names):
        raise SnncError(f"calibrate={value!r}: 'none' and 'full' stand alone; list the steps instead "
                        f"({', '.join(STEPS)})")
    chosen = set(ALIASES[names[0]] if names and names[0] in ALIASES else names)
    return tuple(step for step in STEPS if step in chosen)


def check_timesteps(value: Any) -> int:
    """``calibration_timesteps`` as an int (None: :data:`DEFAULT_TIMESTEPS`).

    Raises:
        SnncError: not a positive integer.
    """
    if value is None:
        return DEFAULT_TIMESTEPS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise SnncError(f"calibration_timesteps must be a positive integer (the T the calibration aims at), "
                        f"got {value!r}")
    return int(value)


def quantize(a: torch.Tensor, theta: torch.Tensor, gamma: int, timesteps: int, v_init: float) -> torch.Tensor:
    """The mean output over ``timesteps`` steps of a burst neuron driven by the constant input ``a``:
    ``theta / T * clamp(floor(a * T / theta + v_init), 0, gamma * T)``.

    Why this is the neuron's: with reset by subtraction the membrane after ``T`` steps is ``v_init * theta + T
    * a - n * theta`` with ``n`` the spikes so far, and a neuron that may fire ``gamma`` per step never falls
    behind an input of at most ``gamma * theta``, so ``n`` is the largest integer that leaves it non-negative.
    """
    count = torch.floor(a * (timesteps / theta) + v_init).clamp_(0, gamma * timesteps)
    return count * (theta / timesteps)


def search_threshold(values: torch.Tensor, current: torch.Tensor, gamma: int, timesteps: int, v_init: float,
                     candidates: int = CANDIDATES) -> torch.Tensor:
    """The threshold of each row of ``values`` whose :func:`quantize` has the least squared error.

    Args:
        values: ANN activations ``[rows, n]`` (one row per channel, or one row for the layer).
        current: the thresholds now, ``[rows]``: a candidate too, kept unless another is strictly better.
        gamma, timesteps, v_init: the neuron's burst size, the ``T`` aimed at and its initial membrane.
        candidates: clipping levels ``gamma * theta`` tried between the largest value of the row and 5 % of it.

    Returns:
        The chosen thresholds ``[rows]``; a row with no positive value keeps its threshold.
    """
    values = values.float()
    current = current.float().reshape(-1)
    top = values.amax(dim=1)
    fractions = torch.linspace(1.0, 0.05, candidates, dtype=values.dtype, device=values.device)
    grid = torch.cat([current[None], fractions[:, None] * top[None] / gamma])  # [1 + candidates, rows]
    errors = torch.empty_like(grid)
    block = max(1, _SEARCH_ELEMENTS // max(1, values.numel()))
    for i in range(0, grid.shape[0], block):
        theta = grid[i:i + block, :, None].clamp_min(torch.finfo(values.dtype).tiny)
        q = quantize(values[None], theta, gamma, timesteps, v_init)
        errors[i:i + block] = (q - values[None]).square_().sum(dim=2)
    best = errors.argmin(dim=0)
    best = torch.where(errors.gather(0, best[None])[0] < errors[0], best, torch.zeros_like(best))
    chosen = grid.gather(0, best[None])[0]
    return torch.where(top > 0, chosen, current)


class SiteStatistics:
    """What one site's ANN activations tell the calibration, over the kept calibration images: the sum of each
    element (for the means the corrections aim at) and a subsample of values per channel (for the search).

    Args:
        budget: values to keep per sample (so :data:`VALUES_PER_SITE` over :data:`MAX_SAMPLES`).
        seed: of the subsample.
    """

    def __init__(self, budget: float, seed: int) -> None:
        self.budget = budget
        self.generator = torch.Generator().manual_seed(seed)
        self.total: torch.Tensor | None = None
        self.count = 0
        self.values: list[torch.Tensor] = []

    def add(self, y: torch.Tensor) -> None:
        """Record a batch of activations ``[B, ...]``."""
        y = y.detach()
        total = y.sum(dim=0, dtype=torch.float64)
        self.total = total if self.total is None else self.total + total
        self.count += y.shape[0]
        rows = y.transpose(0, 1).reshape(y.shape[1], -1) if y.dim() >= 2 else y.reshape(1, -1)
        keep = max(1, math.ceil(self.budget * y.shape[0] / rows.shape[0]))
        if keep < rows.shape[1]:
            pick = torch.randperm(rows.shape[1], generator=self.generator)[:keep].to(rows.device)
            rows = rows[:, pick]
        self.values.append(rows.float())

    def mean(self) -> torch.Tensor:
        """The mean activation of each element of one sample (float64)."""
        return self.total / max(self.count, 1)

    def rows(self) -> torch.Tensor:
        """The kept values, ``[channels, n]``."""
        return torch.cat(self.values, dim=1)


class Statistics:
    """Collects :class:`SiteStatistics` from the observers during the conversion's calibration pass and keeps
    the images they came from (for the corrections' runs of the converted network).

    Args:
        observers: site name → observer (from :func:`~.observe.insert_observers`); hooked until :meth:`close`.
        limit: the most images kept (:data:`MAX_SAMPLES`).
    """

    def __init__(self, observers: dict[str, nn.Module], limit: int = MAX_SAMPLES) -> None:
        self.limit = limit
        self.kept: list[torch.Tensor] = []
        self.samples = 0
        self.rows = 0  # how many leading rows of the batch now running are kept (0: none)
        self.observers = observers
        self.sites = {name: SiteStatistics(VALUES_PER_SITE / limit, seed=i) for i, name in enumerate(observers)}
        self._hooks = [observer.register_forward_hook(self._hook(name)) for name, observer in observers.items()]

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if self.rows:
                self.sites[name].add(output[:self.rows])
        return hook

    def stream(self, batches: Iterable[torch.Tensor], max_batches: int | None) -> Iterator[torch.Tensor]:
        """``batches`` (at most ``max_batches``), recording the statistics of the first :attr:`limit` images."""
        for x in itertools.islice(batches, max_batches):
            self.rows = max(0, min(self.limit - self.samples, x.shape[0]))
            if self.rows:  # (the rest of a batch is calibrated on as before, without statistics)
                self.kept.append(x[:self.rows])
                self.samples += self.rows
            yield x
        self.rows = 0

    def close(self) -> None:
        """Remove the hooks."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []


def neuron_order(network: nn.Module) -> list[tuple[str, BurstNeuron]]:
    """The burst neurons of a converted graph module in the order its graph calls them (upstream first)."""
    found: list[tuple[str, BurstNeuron]] = []
    seen: set[str] = set()
    for node in network.graph.nodes:
        if node.op == "call_module" and node.target not in seen:
            module = network.get_submodule(node.target)
            if isinstance(module, BurstNeuron):
                found.append((node.target, module))
                seen.add(node.target)
    return found


def search_thresholds(network: nn.Module, stats: Statistics, timesteps: int) -> int:
    """Set each neuron's threshold by :func:`search_threshold` on its site's activations (per layer or per
    channel, as its threshold's shape says); trained thresholds stay. Returns how many neurons changed."""
    changed = 0
    for name, neuron in neuron_order(network):
        site, observer = stats.sites.get(name), stats.observers.get(name)
        if site is None or not site.values or getattr(observer, "trained", False):
            continue
        theta = neuron.threshold
        values = site.rows()
        values = values.reshape(1, -1) if theta.numel() == 1 else values
        if values.shape[0] != theta.numel():
            raise SnncError(f"neuron '{name}': {theta.numel()} thresholds for {values.shape[0]} channels of "
                            "calibration activations; this is a bug of the burst target, please report it")
        new = search_threshold(values, theta.reshape(-1), neuron.gamma, timesteps, neuron.v_init)
        new = new.reshape(theta.shape).to(theta)
        changed += int(not torch.equal(new, theta))
        with torch.no_grad():
            theta.copy_(new)
    return changed


class _Reached(Exception):
    """Raised by the hook of the neuron being corrected: the layers after it need not run."""


def snn_mean(snn: nn.Module, neuron: BurstNeuron, batches: Sequence[torch.Tensor], timesteps: int,
             stop: bool) -> torch.Tensor:
    """The mean output of ``neuron`` per element of one sample over ``timesteps`` steps of ``snn`` on
    ``batches`` (float64); with ``stop`` (each run one chunk of steps) the layers after it are skipped."""
    total: torch.Tensor | None = None
    count = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal total, count
        part = output.sum(dim=0, dtype=torch.float64)
        total = part if total is None else total + part
        count += output.shape[0]
        if stop:
            raise _Reached

    handle = neuron.register_forward_hook(hook)
    try:
        for x in batches:
            try:
                snn(x, timesteps)
            except _Reached:
                pass
    finally:
        handle.remove()
        snn.reset()
    return total / max(count, 1)


def _channel_mean(error: torch.Tensor) -> torch.Tensor:
    """The mean over all but the channel dimension (dim 0 of one sample), keeping dims to broadcast."""
    return error.mean(dim=tuple(range(1, error.dim())), keepdim=True) if error.dim() > 1 else error


def correct(snn: nn.Module, stats: Statistics, steps: Sequence[str], timesteps: int,
            device: torch.device) -> int:
    """Bias and/or potential correction, layer by layer upstream first (see the module docstring).

    Returns:
        How many neuron layers were corrected.
    """
    fold = min(snn.fold_batch, CPU_FOLD) if device.type == "cpu" else snn.fold_batch
    per = max(1, fold // timesteps)  # images per run: the run's T steps fit one chunk
    stop = per * timesteps <= snn.fold_batch
    batches = torch.cat([x.to(device) for x in stats.kept]).split(per)
    corrected = 0
    for name, neuron in neuron_order(snn.network):
        site = stats.sites.get(name)
        if site is None or not site.count:
            continue
        error = site.mean() - snn_mean(snn, neuron, batches, timesteps, stop)
        shift = _channel_mean(error) if "bias" in steps else torch.zeros_like(error)
        if "bias" in steps:
            neuron.set_correction("bias", shift if neuron.bias is None else neuron.bias + shift)
        if "potential" in steps:
            charge = (error - shift) * timesteps
            neuron.set_correction("v_offset", charge if neuron.v_offset is None else neuron.v_offset + charge)
        corrected += 1
    return corrected


def calibrate_network(snn: nn.Module, stats: Statistics, steps: Sequence[str], timesteps: int,
                      device: torch.device) -> dict[str, Any]:
    """Run the chosen calibration ``steps`` on a converted :class:`~.module.BurstSNN` (modified).

    Args:
        snn: the converted network, thresholds from the percentile.
        stats: what the conversion's calibration pass recorded.
        steps: names from :data:`STEPS`.
        timesteps: the ``T`` aimed at.
        device: where the network runs.

    Returns:
        The record for ``snn.config``: the steps, the ``T``, the images used, how many thresholds the search
        changed, how many layers were corrected and the seconds it took.
    """
    start = time.perf_counter()
    record: dict[str, Any] = {"calibrate": list(steps), "calibration_timesteps": timesteps,
                              "calibration_images": stats.samples}
    if "threshold" in steps:
        record["thresholds_searched"] = search_thresholds(snn.network, stats, timesteps)
    if "bias" in steps or "potential" in steps:
        record["layers_corrected"] = correct(snn, stats, steps, timesteps, device)
    snn.reset_counts()
    record["calibration_seconds"] = round(time.perf_counter() - start, 3)
    return record
