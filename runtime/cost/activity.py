"""Activity recording: run a spiking network on data and count, per neuron layer, the spikes it emits, and per
synaptic layer (conv/linear) fed by spikes, the spikes it receives and the synaptic operations they cause.

A synaptic layer's SOPs are ``Σ over its input elements of (spikes received × fan-out of that element)``, counted
exactly by a forward pre-hook (:data:`FANOUT` gives each element's fan-out, so padding and borders are handled); a
burst of ``k`` spikes counts ``k`` (an input is divided by the value one spike carries, :data:`UNIT_KINDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from snnc.compiler.errors import DataError, UnsupportedError
from snnc.compiler.passes.spike_values import SpikeValue, infer_spike_values
from snnc.compiler.pipeline import target_of
from snnc.compiler.targets.base import Target, is_spiking
from snnc.compiler.targets.registry import get_target

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


@dataclass
class Activity:
    """Spiking activity measured on data (totals over every sample and step; see :func:`measure_activity`).

    Attributes:
        samples: samples run.
        timesteps: steps per sample.
        spikes: neuron layer → spikes emitted (a burst of ``k`` counts ``k``).
        neurons: neuron layer → neurons per sample.
        input_spikes: synaptic layer fed by spikes → spikes received.
        sops: synaptic layer fed by spikes → synaptic operations.
        correct: correct predictions (when labels were given).
        labelled: labelled predictions made (0 without labels).
    """

    samples: int
    timesteps: int
    spikes: dict[str, float] = field(default_factory=dict)
    neurons: dict[str, int] = field(default_factory=dict)
    input_spikes: dict[str, float] = field(default_factory=dict)
    sops: dict[str, float] = field(default_factory=dict)
    correct: int = 0
    labelled: int = 0



def _conv2d_fanout(node, in_shape: tuple[int, ...]) -> "torch.Tensor":
    import torch
    import torch.nn.functional as F

    probe = torch.zeros(1, *in_shape, dtype=torch.float64, requires_grad=True)
    ones = torch.ones(node.out_channels, node.in_channels // node.groups, *node.kernel_size, dtype=torch.float64)
    with torch.enable_grad():
        F.conv2d(probe, ones, None, node.stride, node.padding, node.dilation, node.groups).sum().backward()
    return probe.grad[0]


def _linear_fanout(node, in_shape: tuple[int, ...]) -> "torch.Tensor":
    import torch

    return torch.full(in_shape, float(node.out_features), dtype=torch.float64)


FANOUT: dict[str, Callable[[Any, tuple[int, ...]], "torch.Tensor"]] = {
    "conv2d": _conv2d_fanout,
    "linear": _linear_fanout,
}
"""Node kind → fan-out map: for each input element (shape = the input's, no batch), how many (output, weight)
pairs it feeds, i.e. how many accumulates one spike there causes. Every kind with MACs needs an entry."""


def _unit_ops() -> dict[str, Callable[[Any, list["torch.Tensor"]], "torch.Tensor"]]:
    import torch
    import torch.nn.functional as F

    return {
        "maxpool2d": lambda n, xs: F.max_pool2d(xs[0], n.kernel_size, n.stride, n.padding, ceil_mode=n.ceil_mode),
        "flatten": lambda n, xs: xs[0].flatten(1),
        "reshape": lambda n, xs: xs[0].reshape(xs[0].shape[0], *n.target),
        "slice": lambda n, xs: xs[0].narrow(n.dim, n.start, n.stop - n.start),
        "dropout": lambda n, xs: xs[0],
        "identity": lambda n, xs: xs[0],
        "activation": lambda n, xs: xs[0],
        "concat": lambda n, xs: torch.cat(xs, n.dim),
        "upsample": lambda n, xs: F.interpolate(xs[0], size=tuple(n.size), mode="nearest"),
        "multiply": lambda n, xs: xs[0],
    }


UNIT_KINDS = ("maxpool2d", "flatten", "reshape", "slice", "dropout", "identity", "activation", "concat", "upsample",
              "multiply")
"""Kinds through which the value of one spike (the burst threshold θ of each element) is carried when counting
burst spikes: the value-preserving kinds of the spike-value tables."""


def _spike_units(module, graph, values: Mapping[str, SpikeValue]) -> dict[str, "torch.Tensor"]:
    """Per spike-valued node, the value one spike has at each element (from the network's ``spike_values``);
    empty when every spike is worth 1 (then a non-zero input is one spike)."""
    import torch

    worth = module.spike_values()
    if all(isinstance(v, (int, float)) and v == 1 for v in worth.values()):
        return {}
    ops = _unit_ops()
    units: dict[str, torch.Tensor] = {}
    for node in graph.nodes:
        value = values[node.name]
        if not value.spikes:
            continue
        if value.role == "spikes":
            if node.name not in worth:
                raise UnsupportedError(f"the network has no neuron for spike node '{node.name}' (neurons: "
                                       f"{', '.join(worth)}); cannot count its spikes")
            theta = torch.as_tensor(worth[node.name]).detach().to(torch.float64).cpu()
            units[node.name] = torch.ones(1, *node.shape, dtype=torch.float64) * theta
        else:
            units[node.name] = ops[node.kind](node, [units[i] for i in node.inputs])
    return units


def _batches(data: Any) -> Iterable[tuple["torch.Tensor", "torch.Tensor | None"]]:
    import torch

    if isinstance(data, torch.Tensor):
        data = [data]
    for batch in data:
        if isinstance(batch, (tuple, list)):
            yield batch[0], (batch[1] if len(batch) > 1 and isinstance(batch[1], torch.Tensor) else None)
        else:
            yield batch, None


def measure_activity(module: "nn.Module", graph, data: Any, *, timesteps: int | None = None,
                     max_batches: int | None = None, seed: int = 0, target: "str | Target | None" = None
                     ) -> Activity:
    """Run a spiking network on data and count spikes and synaptic operations per layer.

    Neuron layers report their own spike counts (the network's ``recording()``; a burst of ``k`` counts ``k``).
    For every conv/linear layer whose input is spikes (by ``infer-spike-values``), a forward pre-hook counts the
    spikes arriving at each input element (a non-zero input, or ``x / v`` where ``v`` is the value one spike
    carries, from the network's ``spike_values``) and adds ``Σ spikes × fan-out`` (see :data:`FANOUT`). Hooks
    are removed and training modes restored afterwards; the global random state is left untouched (rate
    encoding draws from a generator seeded with ``seed``).

    Args:
        module: a spiking network built by snnc from ``graph``'s spec (snn, burst).
        graph: the IR graph the module was compiled from.
        data: a tensor ``[N, ...]`` or an iterable of batches (tensors or ``(x, y)`` pairs).
        timesteps: ``T`` (default: the module's).
        max_batches: stop after this many batches.
        seed: seeds torch's generator for the run (rate encoding).
        target: the target the network was built for (default: the one it carries, when snnc built it).

    Returns:
        The :class:`Activity` (totals over all samples and steps).

    Raises:
        UnsupportedError: not a spiking network built by snnc, or a layer of the graph is missing from it.
        DataError: no data.
    """
    import itertools

    import torch

    target = get_target(target) if target is not None else target_of(module)
    if not is_spiking(module):
        raise UnsupportedError(f"measure_activity needs a spiking network, got {type(module).__name__}")
    if target is None:
        raise UnsupportedError("this network does not say which target it was built for (it was not built by "
                               "snnc.compile / snnc.convert of a spec-built ANN): pass target='burst' or 'snn'")
    values = infer_spike_values(graph, target=target.spike_roles)
    units = _spike_units(module, graph, values)
    steps = int(timesteps or module.timesteps)
    activity = Activity(samples=0, timesteps=steps)
    hooks = []
    modes = {m: m.training for m in module.modules()}
    try:
        for node in graph.nodes:
            if node.kind not in FANOUT or not values[node.name].input_spikes:
                continue
            try:
                layer = module.layer(node.name)
            except AttributeError:
                raise UnsupportedError(f"the {target.name} network has no layer '{node.name}'; was it compiled "
                                       "from this spec?") from None
            in_shape = tuple(graph.node(node.inputs[0]).shape)
            unit = units.get(node.inputs[0])
            hooks.append(layer.register_forward_pre_hook(
                _counter(node.name, in_shape, FANOUT[node.kind](node, in_shape), unit, activity)))
            activity.input_spikes[node.name] = 0.0
            activity.sops[node.name] = 0.0
        module.eval()
        device = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
        # Why the device: rate encoding on a GPU draws from that device's generator, which must be restored too.
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            with module.recording():
                _loop(module, data, max_batches, activity, steps)
                activity.spikes = {k: float(v) for k, v in module.spike_counts().items()}
            activity.neurons = dict(module.neuron_counts())
    finally:
        for hook in hooks:
            hook.remove()
        for m, training in modes.items():
            m.training = training
    if not activity.samples:
        raise DataError("no data to measure spikes on: the data gave no batches")
    return activity


def _counter(name: str, in_shape: tuple[int, ...], fanout, unit, activity: Activity):
    import torch

    cache: dict[str, torch.Tensor] = {}

    def hook(layer, args):
        x = args[0]
        if "fanout" not in cache:
            cache["fanout"] = fanout.to(x.device)
            if unit is not None:
                cache["unit"] = unit.to(device=x.device, dtype=x.dtype)
        if unit is None:
            per_element = x.ne(0).reshape(-1, *in_shape).sum(0, dtype=torch.float64)
        else:
            per_element = torch.round(x / cache["unit"]).reshape(-1, *in_shape).sum(0, dtype=torch.float64)
        activity.input_spikes[name] += float(per_element.sum())
        activity.sops[name] += float((per_element * cache["fanout"]).sum())

    return hook


def _loop(module, data: Any, max_batches: int | None, activity: Activity, steps: int) -> None:
    params = list(module.parameters())
    device = params[0].device if params else None
    for i, (x, y) in enumerate(_batches(data)):
        if max_batches is not None and i >= max_batches:
            break
        if device is not None:
            x = x.to(device)
        scores = module.scores(x, steps)
        activity.samples += x.shape[0]
        if y is not None and scores.dim() >= 2:
            y = y.to(scores.device)
            activity.correct += int((scores.argmax(1) == y).sum())
            activity.labelled += y.numel()


__all__ = ["Activity", "FANOUT", "UNIT_KINDS", "measure_activity"]
