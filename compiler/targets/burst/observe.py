"""Steps 3 and 4 of the burst rewrite: put an observer at each ReLU call site, then calibrate.

An :class:`ActivationObserver` *is* the ReLU during calibration (it returns ``max(x, 0)``) and records, per
calibration batch, a high percentile (or the maximum) of that site's activations, over the whole layer or per
channel. After calibration its :meth:`~ActivationObserver.threshold` is the neuron's threshold ``theta``:

* ``normalization="percentile"``: the mean over batches of each batch's ``percentile``-th percentile
  (linear interpolation between order statistics, zeros included, as SpikingJelly's; BrainCog takes one sorted
  element and the largest over batches instead: docs/burst.md, "BrainCog as the reference");
* ``normalization="max"``: the largest activation seen in any batch.

Why a percentile: the maximum is set by rare outliers; a threshold that high makes every other neuron fire
slowly and needs many steps. Burst neurons release the charge of the few activations above the percentile
(up to ``gamma * theta`` per step), so little is lost.

A site (or channel) whose percentile is 0 (mostly silent) gets its largest activation instead; one that
never activates gets the layer's largest threshold, or 1.0 if the whole layer is silent.

A QCFS site (an ANN trained with :mod:`snnc.compiler.qcfs`) gets a :class:`TrainedThreshold` instead: its
threshold is the trained λ, whatever the calibration data, and during calibration it computes the QCFS
activation itself, so the sites after it are calibrated on the network that was trained.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import torch
from torch import fx, nn

from snnc.compiler.errors import SnncError

from .ops import is_qcfs, is_relu, signal_nodes
from .sites import SiteNamer

NORMALIZATIONS = ("percentile", "max")


def percentile(values: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q``-th percentile of each row of ``values`` ``[rows, n]``, interpolating linearly (like numpy).

    Why not ``torch.quantile``: it refuses inputs of more than 2**24 elements, which one conv layer of a
    calibration batch easily exceeds.
    """
    n = values.shape[1]
    position = q / 100.0 * (n - 1)
    low = int(position)
    high = min(low + 1, n - 1)
    v_low = values.kthvalue(low + 1, dim=1).values
    if high == low or position == low:
        return v_low
    v_high = values.kthvalue(high + 1, dim=1).values
    return v_low + (v_high - v_low) * (position - low)


class ActivationObserver(nn.Module):
    """A ReLU that records the statistics its neuron's threshold is set from.

    Args:
        normalization: ``"percentile"`` or ``"max"``.
        q: the percentile, in (0, 100] (``"percentile"`` only).
        channelwise: one threshold per channel (dim 1) instead of one per layer.

    Attributes:
        sample_shape: the shape of one sample's activation (neurons per sample = its product).
    """

    def __init__(self, normalization: str = "percentile", q: float = 99.99, channelwise: bool = False) -> None:
        super().__init__()
        self.normalization = normalization
        self.q = q
        self.channelwise = channelwise
        self.records: list[torch.Tensor] = []
        self.maxima: list[torch.Tensor] = []
        self.sample_shape: torch.Size | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x)
        self.record(y.detach())
        return y

    def record(self, y: torch.Tensor) -> None:
        """Record one batch of activations ``[B, ...]``."""
        self.sample_shape = y.shape[1:]
        if self.channelwise and y.dim() >= 2:
            rows = y.transpose(0, 1).reshape(y.shape[1], -1)
        else:
            rows = y.reshape(1, -1)
        rows = rows.float()
        largest = rows.amax(dim=1)
        self.maxima.append(largest)
        self.records.append(largest if self.normalization == "max" else percentile(rows, self.q))

    @property
    def neurons(self) -> int:
        """Neurons per sample at this site (0 before calibration)."""
        return int(torch.Size(self.sample_shape).numel()) if self.sample_shape is not None else 0

    def neuron_settings(self, gamma: int) -> tuple[torch.Tensor, int]:
        """``(threshold, Γ)`` of this site's neuron in a conversion with burst size ``gamma``: the calibrated
        threshold and the conversion's Γ (a QCFS site overrides this, :class:`TrainedThreshold`)."""
        return self.threshold(), int(gamma)

    def threshold(self) -> torch.Tensor:
        """The threshold: a scalar, or ``[C, 1, ...]`` broadcastable to one sample when channel-wise.

        Raises:
            SnncError: no batch was observed.
        """
        if not self.records:
            raise SnncError("an activation observer saw no calibration batch; is the calibration data empty?")
        stacked = torch.stack(self.records)
        value = stacked.amax(dim=0) if self.normalization == "max" else stacked.mean(dim=0)
        largest = torch.stack(self.maxima).amax(dim=0)
        value = torch.where(value > 0, value, largest)
        fallback = value.max() if bool((value > 0).any()) else value.new_tensor(1.0)
        value = torch.where(value > 0, value, fallback)
        if self.channelwise and len(self.sample_shape) >= 1:
            return value.reshape(-1, *([1] * (len(self.sample_shape) - 1)))
        return value.reshape(())

    def extra_repr(self) -> str:
        what = "max" if self.normalization == "max" else f"p{self.q}"
        return f"{what}, channelwise={self.channelwise}"


class TrainedThreshold(ActivationObserver):
    """The observer of a QCFS site: its threshold is the activation's trained λ (Bu et al., ICLR 2022), not a
    statistic of the calibration data.

    Args:
        activation: the :class:`~snnc.compiler.qcfs.QCFS` module it stands for (run as it is).
        channelwise: give λ the ``[C, 1, ...]`` shape channel-wise thresholds have (every channel λ), so a
            converted network's state has the shapes its settings imply.

    How it fires depends on the conversion's Γ (:meth:`neuron_settings`): with bursts (Γ > 1) the neuron has
    threshold ``λ / L`` and fires up to ``L`` spikes per step, so one step computes the activation exactly
    (``λ/L · clamp(floor(x·L/λ + 0.5), 0, L)`` with ``v_init = 0.5``) and more steps refine it; with IF neurons
    (Γ = 1, ``method="if"``) it is the paper's rule, threshold ``λ``, one spike per step, exact at ``T = L`` for a
    constant input only, and much worse at low T on the networks of docs/burst.md ("QCFS").

    Attributes:
        trained: True — a calibration that searches thresholds should leave this site's alone.
    """

    trained = True

    def __init__(self, activation: nn.Module, channelwise: bool = False) -> None:
        super().__init__("max", 100.0, channelwise)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(x)
        self.sample_shape = y.shape[1:]
        self.records.append(self.activation.threshold.detach().reshape(1))
        return y

    def neuron_settings(self, gamma: int) -> tuple[torch.Tensor, int]:
        """``(threshold, Γ)`` of this site's neuron in a conversion with burst size ``gamma``: ``(λ / L, L)``
        for bursts (``gamma`` > 1), ``(λ, 1)`` for IF neurons."""
        lam = self.threshold()
        if int(gamma) == 1:
            return lam, 1
        levels = int(self.activation.levels)
        return lam / levels, levels

    def threshold(self) -> torch.Tensor:
        if not self.records:
            raise SnncError("an activation observer saw no calibration batch; is the calibration data empty?")
        lam = self.activation.threshold.detach().clone().reshape(())
        if self.channelwise and len(self.sample_shape) >= 1:
            return lam.expand(self.sample_shape[0]).reshape(-1, *([1] * (len(self.sample_shape) - 1))).clone()
        return lam

    def extra_repr(self) -> str:
        return f"trained λ = {float(self.activation.threshold.detach()):.4g}"


def insert_observers(gm: fx.GraphModule, normalization: str = "percentile", q: float = 99.99,
                     channelwise: bool = False) -> dict[str, ActivationObserver]:
    """Replace every ReLU call site on a signal by its own :class:`ActivationObserver` (a QCFS site by a
    :class:`TrainedThreshold`).

    A ReLU module used at ``n`` sites gives ``n`` observers (and later ``n`` neurons). Each new node keeps the
    old node's ``meta`` (so an ann-target spike node keeps ``meta["snnc_node"]``). The observer's name is the
    name its neuron will have (see :class:`~.sites.SiteNamer`).

    Args:
        gm: the private graph module (modified).
        normalization: ``"percentile"`` or ``"max"``.
        q: the percentile.
        channelwise: per-channel thresholds.

    Returns:
        Mapping site name → observer, in graph order.
    """
    modules = dict(gm.named_modules())
    signals = signal_nodes(gm.graph)
    namer = SiteNamer(gm)
    observers: dict[str, ActivationObserver] = {}
    for node in list(gm.graph.nodes):
        if node not in signals or not (is_relu(node, modules) or is_qcfs(node, modules)):
            continue
        name = namer.name(node)
        observer = TrainedThreshold(modules[node.target], channelwise) if is_qcfs(node, modules) else \
            ActivationObserver(normalization, q, channelwise)
        gm.add_submodule(name, observer)
        observers[name] = observer
        replace_node(gm, node, name)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return observers


def replace_node(gm: fx.GraphModule, node: fx.Node, module_name: str) -> fx.Node:
    """Replace ``node`` by a call of module ``module_name`` on its first argument, keeping ``node.meta``."""
    source = node.args[0] if node.args else node.kwargs.get("input", node.kwargs.get("self"))
    with gm.graph.inserting_after(node):
        new = gm.graph.call_module(module_name, (source,))
    new.meta = dict(node.meta)
    node.replace_all_uses_with(new)
    gm.graph.erase_node(node)
    return new


def iter_batches(calibration: Any, batch_size: int = 256) -> Iterator[torch.Tensor]:
    """The input tensors of a calibration set.

    Args:
        calibration: a tensor ``[N, ...]`` (cut into batches of ``batch_size``), or an iterable (e.g. a
            DataLoader) of tensors or of ``(x, y, ...)`` tuples/lists.
        batch_size: the batch size for a tensor.

    Yields:
        Input batches.

    Raises:
        SnncError: an element is neither a tensor nor a tuple starting with one.
    """
    if isinstance(calibration, torch.Tensor):
        yield from calibration.split(batch_size)
        return
    if not isinstance(calibration, Iterable):
        raise SnncError(f"calibration must be a tensor or an iterable of batches, not {type(calibration).__name__}")
    for batch in calibration:
        if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
            batch = batch[0]
        if not isinstance(batch, torch.Tensor):
            raise SnncError(
                f"a calibration batch is {type(batch).__name__}; expected a tensor or an (x, y) tuple"
            )
        yield batch


def calibrate(gm: fx.GraphModule, batches: Iterable[torch.Tensor], max_batches: int | None = None,
              device: torch.device | None = None) -> int:
    """Run calibration batches through the observed graph.

    Args:
        gm: the graph module with observers in place.
        batches: input batches.
        max_batches: stop after this many batches (None: all).
        device: move each batch here first (None: leave it).

    Returns:
        The number of samples seen.

    Raises:
        SnncError: no sample was seen.
    """
    samples = 0
    with torch.no_grad():
        for i, x in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            gm(x.to(device) if device is not None else x)
            samples += x.shape[0]
    if samples == 0:
        raise SnncError("the calibration data is empty; pass at least one batch of inputs")
    return samples
