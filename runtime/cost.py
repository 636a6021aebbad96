"""Cost reports: parameters, MACs, spikes, synaptic operations and energy per layer, for ann, snn and burst models.

Three layers of work, each usable alone:

* **static** (:func:`build_report` without activity) — from the IR alone: parameters and MACs per node
  (:mod:`snnc.compiler.ir.costs`), which layers receive spikes (the ``infer-spike-values`` pass), and the
  ANN's energy;
* **dynamic** (:func:`measure_activity`) — runs a spiking module on data and counts, per neuron layer, the
  spikes it emits, and per synaptic layer (conv/linear) fed by spikes, the spikes it receives and the synaptic
  operations they cause;
* **energy** — ``E = ΣMAC·E_MAC + ΣSOP·E_AC`` with a :class:`Technology` (a preset or a user's YAML/JSON file).

:func:`report` does all three from a spec, a checkpoint and a dataset name (it is what ``snnc report`` calls).

Conventions (``docs/costs.md`` has the long form):

* A **MAC** is one multiply-accumulate of a conv/linear layer with a real-valued input, counted as in
  :mod:`snnc.compiler.ir.costs` (padding taps included, bias/BN/pooling/neurons excluded).
* A **SOP** (synaptic operation) is one accumulate caused by one spike reaching one synapse. A synaptic layer
  whose input is spikes costs ``Σ over its input elements of (spikes received × fan-out of that element)``,
  counted exactly on the data: the fan-out of an input element is the number of (output, weight) pairs it
  feeds, so zero padding and borders are handled (a padded zero never spikes). A burst of ``k`` spikes counts
  ``k``. ``MACs × input firing rate × T`` is the usual approximation of the same number (equal when spikes are
  spread evenly and there is no padding).
* A layer with **real input** (the first layer under direct encoding; anything after average pooling, a
  residual add of spikes, an un-folded batch-norm, bilinear up-sampling or an analog gate) is charged its MACs:
  once per inference when its input is the same at every step (direct encoding, before the first neuron),
  else ``T`` times.
* Neuron updates, BN, pooling and additions are not charged (as in the SNN energy literature).
* Energies are per inference (one sample; for spiking targets all ``T`` steps), in μJ. The ANN energy beside
  it is the same network as an ANN: all MACs, one pass.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from snnc.compiler.artifact import Artifact, read_artifact
from snnc.compiler.errors import DataError, SnncError, UnsupportedError, did_you_mean
from snnc.compiler.ir.costs import graph_costs
from snnc.compiler.passes.spike_values import SpikeValue, infer_spike_values
from snnc.compiler import pipeline
from snnc.compiler.pipeline import build_graph, graph_of, load, load_ann, load_weights, target_of
from snnc.compiler.targets.base import Target, is_spiking
from snnc.compiler.targets.registry import get_target

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

# --- energy ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Technology:
    """Energy per operation of one hardware technology.

    Attributes:
        name: a short name (``45nm-fp32``).
        e_mac_pj: energy of one multiply-accumulate, in picojoules.
        e_ac_pj: energy of one accumulate (one synaptic operation), in picojoules.
        reference: where the numbers come from.
        description: what the numbers are (e.g. "fp32 mult 3.7 + add 0.9").
    """

    name: str
    e_mac_pj: float
    e_ac_pj: float
    reference: str
    description: str = ""


_HOROWITZ = "M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014, 45 nm, 0.9 V"

TECHNOLOGIES: Mapping[str, Technology] = {
    "45nm-fp32": Technology("45nm-fp32", 4.6, 0.9, _HOROWITZ, "fp32: MAC = mult 3.7 pJ + add 0.9 pJ; AC = add"),
    "45nm-fp16": Technology("45nm-fp16", 1.5, 0.4, _HOROWITZ, "fp16: MAC = mult 1.1 pJ + add 0.4 pJ; AC = add"),
    "45nm-int32": Technology("45nm-int32", 3.2, 0.1, _HOROWITZ, "int32: MAC = mult 3.1 pJ + add 0.1 pJ; AC = add"),
    "45nm-int8": Technology("45nm-int8", 0.23, 0.03, _HOROWITZ, "int8: MAC = mult 0.2 pJ + add 0.03 pJ; AC = add"),
}
"""The preset technologies (Horowitz 2014's 45 nm figures)."""

DEFAULT_TECHNOLOGY = "45nm-fp32"
"""The technology used when none is named (the usual choice of SNN energy comparisons)."""

_TECH_FIELDS = ("name", "e_mac_pj", "e_ac_pj", "reference")


def load_technology(tech: "str | Path | Technology | Mapping[str, Any]" = DEFAULT_TECHNOLOGY) -> Technology:
    """A technology from a preset name, a YAML/JSON file, a mapping, or a :class:`Technology`.

    A file (or mapping) holds ``name``, ``e_mac_pj``, ``e_ac_pj`` (positive numbers, picojoules) and
    ``reference``, optionally ``description``.

    Raises:
        SnncError: neither a preset nor an existing file (the message lists the presets).
        DataError: the file is unreadable or its fields are missing or invalid.
    """
    if isinstance(tech, Technology):
        return tech
    if isinstance(tech, Mapping):
        return _technology_from_mapping(dict(tech), "the technology table")
    text = str(tech)
    if text in TECHNOLOGIES:
        return TECHNOLOGIES[text]
    path = Path(text)
    if not path.is_file():
        raise SnncError(f"unknown technology '{text}': not a preset and no such file.{did_you_mean(text, TECHNOLOGIES)}"
                        f" Presets: {', '.join(TECHNOLOGIES)}; or give a YAML/JSON file with "
                        f"{', '.join(_TECH_FIELDS)}")
    try:
        raw = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            import yaml

            data = yaml.safe_load(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read the technology file '{path}': {exc}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise DataError(f"cannot parse the technology file '{path}': {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise DataError(f"the technology file '{path}' must hold a mapping with {', '.join(_TECH_FIELDS)}")
    return _technology_from_mapping(data, f"the technology file '{path}'")


def _technology_from_mapping(data: dict[str, Any], where: str) -> Technology:
    missing = [k for k in _TECH_FIELDS if k not in data]
    unknown = [k for k in data if k not in (*_TECH_FIELDS, "description")]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise DataError(f"{where}: {'; '.join(parts)} (fields: {', '.join(_TECH_FIELDS)}, description)")
    values = {}
    for key in ("e_mac_pj", "e_ac_pj"):
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise DataError(f"{where}: {key} must be a positive number of picojoules, got {v!r}")
        values[key] = float(v)
    return Technology(str(data["name"]), values["e_mac_pj"], values["e_ac_pj"], str(data["reference"]),
                      str(data.get("description", "")))


def energy_uj(macs: float, sops: float, tech: Technology) -> float:
    """``macs·E_MAC + sops·E_AC`` in microjoules."""
    return (macs * tech.e_mac_pj + sops * tech.e_ac_pj) * 1e-6


# --- the report -----------------------------------------------------------------------------------------------


@dataclass
class LayerCost:
    """Costs of one IR node, per inference (one sample; spiking targets: all ``T`` steps).

    Attributes:
        name: the node's name.
        kind: its IR kind.
        shape: its output shape (without batch).
        params: trainable parameters.
        macs: multiply-accumulates of one dense pass (one step), from the IR.
        input: ``"binary"`` (spikes; in the burst target spikes of ``k·θ``, a burst of ``k`` counting ``k``),
            ``"real"``, or None for layers without MACs.
        charged_as: ``"MAC"``, ``"AC"`` or ``""`` (not charged).
        runs: how many times a MAC layer is charged per inference (1 or ``T``).
        reason: why it is charged so.
        charged_macs: MACs charged per inference (``macs × runs``).
        sops: synaptic operations per inference (AC layers; None when unknown without data).
        input_spikes: spikes received per inference (AC layers, measured).
        input_rate: spikes per input element per step (AC layers; measured or assumed).
        firing_rate: spikes per neuron per step (neuron layers, measured).
        spikes: spikes emitted per inference (neuron layers, measured).
        neurons: neurons per sample (neuron layers).
        energy_uj: energy per inference in μJ (None when unknown).
    """

    name: str
    kind: str
    shape: list[int]
    params: int
    macs: int
    input: str | None = None
    charged_as: str = ""
    runs: int = 0
    reason: str = ""
    charged_macs: int = 0
    sops: float | None = None
    input_spikes: float | None = None
    input_rate: float | None = None
    firing_rate: float | None = None
    spikes: float | None = None
    neurons: int | None = None
    energy_uj: float | None = 0.0


@dataclass
class CostReport:
    """A whole model's costs: per layer (:class:`LayerCost`) and in total.

    Attributes:
        model: the graph's name.
        target: ``ann``, ``snn`` or ``burst``.
        timesteps: ``T`` per inference (1 for ann).
        technology: the energy table used.
        layers: one entry per IR node, in graph order.
        totals: ``params``, ``macs`` (one dense pass), ``charged_macs``, ``sops``, ``spikes``, ``energy_uj``
            (None when unknown), ``ann_energy_uj``, ``energy_ratio`` (ANN ÷ this; None when unknown).
        dynamic: whether spikes were measured on data.
        samples: samples measured (0 when static).
        accuracy: accuracy on the measured samples when they had labels, else None.
        assumed_rate: the assumed input firing rate of an estimate, else None.
        weights: ``"trained"`` (a checkpoint or a given model), ``"untrained"`` or ``"none"`` (static).
        notes: the conventions and caveats that apply, in words.
        hardware: the target's own hardware figures (the mnn target's crossbar tiles, devices, ADC conversions
            and energy: ``layers``, ``totals``, ``energy``, ``notes``), or None.
        graph: the IR graph (not serialised).
    """

    model: str
    target: str
    timesteps: int
    technology: Technology
    layers: list[LayerCost]
    totals: dict[str, Any]
    dynamic: bool = False
    samples: int = 0
    accuracy: float | None = None
    assumed_rate: float | None = None
    weights: str = "none"
    notes: list[str] = field(default_factory=list)
    hardware: dict[str, Any] | None = None
    graph: Any = field(default=None, repr=False, compare=False)

    def layer(self, name: str) -> LayerCost:
        """The layer called ``name`` (KeyError if absent)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (everything but the graph)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("graph", "technology", "layers")}
        out["technology"] = asdict(self.technology)
        out["layers"] = [asdict(layer) for layer in self.layers]
        return out


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


NOTE_SOP = ("SOPs = Σ over a layer's input elements of spikes received × that element's fan-out, counted exactly "
            "on the data (padding handled; a burst of k spikes counts k); ≈ MACs × input rate × T")
NOTE_MAC = ("layers with real-valued input are charged MACs: once per inference when their input is the same at "
            "every step (direct encoding, before the first neuron), else T times")
NOTE_FREE = "neuron updates, batch-norm, pooling and additions are not charged"
NOTE_ANN = "ANN energy = all MACs × E_MAC, one pass (the same network with ReLUs)"


def _input_elements(graph, node) -> int:
    return sum(math.prod(graph.node(i).shape) for i in node.inputs)


def _real_origin(graph, values: Mapping[str, SpikeValue], node) -> str:
    """Why ``node``'s input is real: the first analog node up the chain of value-preserving nodes."""
    name = next((i for i in node.inputs if not values[i].spikes), node.inputs[0])
    while values[name].role == "preserve" and graph.node(name).inputs:
        src = graph.node(name)
        name = next((i for i in src.inputs if not values[i].spikes), src.inputs[0])
    origin = graph.node(name)
    if origin.kind == "input":
        return "analog input (direct encoding)"
    return f"real input from {origin.kind} '{origin.name}'"


def build_report(graph, *, target: "str | Target" = "ann", technology: "str | Path | Technology" = DEFAULT_TECHNOLOGY,
                 activity: Activity | None = None, timesteps: int | None = None,
                 assume_rate: float | None = None, weights: str = "none", options: Any = None,
                 source: Mapping[str, Any] | None = None) -> CostReport:
    """Assemble the cost report of ``graph`` on ``target`` (pure arithmetic: no torch).

    Args:
        graph: the IR graph.
        target: the target (name or object) whose execution is costed.
        technology: the energy table (preset name, file, or :class:`Technology`).
        activity: spikes measured by :func:`measure_activity`; without it spiking targets get a static report.
        timesteps: ``T`` (default: the activity's, else the graph's; ann: 1).
        assume_rate: without activity, estimate SOPs of spike-fed layers as ``MACs × assume_rate × T`` (the
            report says it is an estimate).
        weights: what the weights were, for the record (``trained``, ``untrained``, ``none``).
        options: the target's options (validated or plain; None: its defaults), for its hardware figures.
        source: what the network was built from, as an artifact of the target records it (see
            :meth:`~snnc.compiler.targets.base.Target.hardware_costs`).

    Returns:
        The :class:`CostReport`.

    Raises:
        UnsupportedError: an unknown target. SnncError: ``assume_rate`` out of range.
    """
    tech = load_technology(technology)
    tgt = get_target(target)
    if assume_rate is not None and not (0.0 <= assume_rate and math.isfinite(assume_rate)):
        raise SnncError(f"assume_rate must be a firing rate >= 0 (spikes per element per step), got {assume_rate}")
    spiking = tgt.spiking
    steps = 1 if not spiking else int(activity.timesteps if activity else (timesteps or graph.timesteps))
    if activity is not None:
        assume_rate = None
    costs = graph_costs(graph)
    values = infer_spike_values(graph, target=tgt.spike_roles)
    samples = activity.samples if activity else 0
    layers: list[LayerCost] = []
    for node in graph.nodes:
        cost, value = costs[node.name], values[node.name]
        layer = LayerCost(node.name, node.kind, list(node.shape), cost.params, cost.macs)
        if cost.macs:
            if spiking and value.input_spikes:
                layer.input, layer.charged_as, layer.reason = "binary", "AC", "spike input"
                elements = _input_elements(graph, node)
                if activity is not None and samples:
                    layer.input_spikes = activity.input_spikes.get(node.name, 0.0) / samples
                    layer.sops = activity.sops.get(node.name, 0.0) / samples
                    layer.input_rate = layer.input_spikes / (elements * steps) if elements else 0.0
                elif assume_rate is not None:
                    layer.input_rate = assume_rate
                    layer.sops = cost.macs * assume_rate * steps
                    layer.reason = f"spike input (SOPs estimated at an assumed rate {assume_rate:g})"
            else:
                layer.input, layer.charged_as = "real", "MAC"
                layer.runs = 1 if (not spiking or value.input_time_invariant) else steps
                layer.charged_macs = cost.macs * layer.runs
                layer.reason = ("ANN layer" if not spiking else _real_origin(graph, values, node)
                                + (", time-invariant: charged once" if layer.runs == 1 else ", every step"))
        if spiking and value.role == "spikes" and node.kind != "input":
            layer.neurons = math.prod(node.shape)
            if activity is not None and samples and node.name in activity.spikes:
                neurons = activity.neurons.get(node.name) or layer.neurons
                layer.spikes = activity.spikes[node.name] / samples
                layer.firing_rate = layer.spikes / (neurons * steps) if neurons else 0.0
        layer.energy_uj = (None if layer.charged_as == "AC" and layer.sops is None
                           else energy_uj(layer.charged_macs, layer.sops or 0.0, tech))
        layers.append(layer)
    known = all(layer.energy_uj is not None for layer in layers)
    macs = sum(c.macs for c in costs.values())
    ann_energy = energy_uj(macs, 0, tech)
    energy = sum(layer.energy_uj for layer in layers) if known else None
    totals = {
        "params": sum(c.params for c in costs.values()),
        "macs": macs,
        "activations": sum(c.activations for c in costs.values()),
        "charged_macs": sum(layer.charged_macs for layer in layers),
        "sops": sum(layer.sops or 0.0 for layer in layers) if known else None,
        "spikes": sum(layer.spikes or 0.0 for layer in layers) if activity is not None else None,
        "energy_uj": energy,
        "ann_energy_uj": ann_energy,
        "energy_ratio": (ann_energy / energy) if energy else None,
    }
    notes = _notes(graph, tgt, values, layers, activity, assume_rate, steps, tech)
    hardware = tgt.hardware_costs(graph, tgt.options(options), source=source)
    if hardware:
        notes += [n for n in list(tgt.cost_notes) + list(hardware.get("notes", [])) if n not in notes]
    accuracy = (activity.correct / activity.labelled) if activity is not None and activity.labelled else None
    return CostReport(graph.name, tgt.name, steps, tech, layers, totals, dynamic=activity is not None,
                      samples=samples, accuracy=accuracy, assumed_rate=assume_rate, weights=weights, notes=notes,
                      hardware=hardware, graph=graph)


def _notes(graph, target: Target, values: Mapping[str, SpikeValue], layers: list[LayerCost],
           activity: Activity | None, assume_rate: float | None, steps: int, tech: Technology) -> list[str]:
    notes = [f"energy per inference in μJ with {tech.name}: E_MAC {tech.e_mac_pj:g} pJ, E_AC {tech.e_ac_pj:g} pJ "
             f"({tech.reference})"]
    if not target.spiking:
        return notes + ["every conv/linear layer is a MAC layer, one pass; " + NOTE_FREE]
    ac = [layer.name for layer in layers if layer.charged_as == "AC"]
    mac = [f"{layer.name} (×{layer.runs})" for layer in layers if layer.charged_as == "MAC"]
    notes.append(f"charged as AC (spike input): {', '.join(ac) or 'none'}")
    notes.append(f"charged as MAC (real input): {', '.join(mac) or 'none'}")
    notes += [NOTE_SOP, NOTE_MAC, NOTE_FREE, NOTE_ANN]
    if activity is not None:
        notes.append(f"measured on {activity.samples} samples, T = {steps}")
    elif assume_rate is not None:
        notes.append(f"ESTIMATE, not measured: every spike-fed layer's input is assumed to fire at rate "
                     f"{assume_rate:g} per element per step (SOPs = MACs × rate × T)")
    elif ac:
        notes.append("dynamic costs (firing rates, SOPs, the spiking energy) need data: pass --dataset "
                     "(Python: data= or dataset=), or --assume-rate R for a labelled estimate")
    notes += list(target.cost_notes)
    if values[graph.input.name].spikes:
        notes.append(f"{graph.encoding.kind} encoding: the input is spikes, so the first layer is charged as AC")
    return notes


# --- measuring activity ---------------------------------------------------------------------------------------


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
    import torch

    import itertools

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
    old_steps = module.timesteps
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
        module.timesteps = steps
        device = next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device
        # Why the device: rate encoding on a GPU draws from that device's generator, which must be restored too.
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            with module.recording():
                _loop(module, data, max_batches, activity)
                activity.spikes = {k: float(v) for k, v in module.spike_counts().items()}
            activity.neurons = dict(module.neuron_counts())
    finally:
        for hook in hooks:
            hook.remove()
        for m, training in modes.items():
            m.training = training
        module.timesteps = old_steps
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


def _loop(module, data: Any, max_batches: int | None, activity: Activity) -> None:
    params = list(module.parameters())
    device = params[0].device if params else None
    for i, (x, y) in enumerate(_batches(data)):
        if max_batches is not None and i >= max_batches:
            break
        if device is not None:
            x = x.to(device)
        scores = module.scores(x)
        activity.samples += x.shape[0]
        if y is not None and scores.dim() >= 2:
            y = y.to(scores.device)
            activity.correct += int((scores.argmax(1) == y).sum())
            activity.labelled += y.numel()


# --- from a spec, a checkpoint and a dataset ------------------------------------------------------------------


DEFAULT_BATCHES = 32
"""Batches a report measures on by default (x 32 = 1,024 images). Why: on the trained mnist_conv SNN, 128 images
(the old default) gave SOPs 1.5 % from 1,024 images and 4 % from the whole test set; 1,024 take about 2 s."""


def report(spec: Any = None, *, target: "str | Target" = "ann", model: "nn.Module | None" = None,
           checkpoint: "str | Path | None" = None, data: Any = None, dataset: str | None = None,
           data_dir: "str | Path | None" = None, split: str = "test",
           batches: int = DEFAULT_BATCHES, batch_size: int = 32,
           timesteps: int | None = None, tech: "str | Path | Technology" = DEFAULT_TECHNOLOGY,
           params: dict[str, Any] | None = None, assume_rate: float | None = None, gamma: int | None = None,
           calibration: Any = None, seed: int = 0, options: Mapping[str, Any] | None = None) -> CostReport:
    """The cost report of a model: static from the spec, dynamic when data is given.

    Args:
        spec: the spec (path, YAML text, dict or loaded spec); may be omitted with ``checkpoint`` (its embedded
            spec is used) or with a ``model`` built by snnc.
        target: the target (name or object) to cost.
        model: an already built module for ``target`` (e.g. after training or conversion); else one is built
            from the spec, with the checkpoint's weights if given (untrained otherwise).
        checkpoint: an artifact or training checkpoint. A checkpoint of ``target`` itself is loaded as it is;
            ANN weights load into an snn (the neurons keep their spec values) and are converted for burst.
        data: batches to measure on (a DataLoader, an iterable of tensors or ``(x, y)``, or a tensor).
        dataset: a dataset name for :func:`snnc.runtime.data.load_dataset` when ``data`` is not given.
        data_dir: where the dataset's files are.
        split: the dataset split to measure on.
        batches: measure on at most this many batches.
        batch_size: batch size for ``dataset``.
        timesteps: ``T`` (default: the checkpoint's or the target's).
        tech: the energy technology (preset name, YAML/JSON file, or :class:`Technology`).
        params: spec parameter overrides.
        assume_rate: without data, estimate spiking costs at this input firing rate (clearly labelled).
        gamma: the burst target's largest burst (when converting an ANN checkpoint).
        calibration: calibration batches for a conversion (default: ``batches`` batches of the dataset's train
            split, or ``data``).
        seed: seeds rate encoding during measurement.
        options: target options (``snnc report -O``) for the target's hardware figures, merged over those the
            spec sets (the mnn target's ``memristor:`` section) or, for an artifact of the target, those it was
            built with.

    Returns:
        The :class:`CostReport` (``.to_dict()`` for JSON).

    Raises:
        SpecError, UnsupportedError, DataError: a bad spec, target, checkpoint, dataset or technology; a
        checkpoint whose weights do not fit the spec (also without data).
    """
    technology = load_technology(tech)
    tgt = get_target(target)
    if batches < 1 or batch_size < 1:
        raise SnncError(f"batches and batch_size must be >= 1, got {batches} and {batch_size}")
    art = read_artifact(checkpoint) if checkpoint is not None else None
    where = f"'{checkpoint}'" if checkpoint is not None else None
    source, src_params = _spec_source(spec, art, params)
    graph = _graph_of(source, src_params, model)
    target_options, built_from = _target_options(tgt, source, src_params, art, options, timesteps)
    if data is None and dataset is not None:
        data = _loader(graph, dataset, data_dir, split, batches, batch_size)
    if model is None and art is not None:
        # Why also without data: a checkpoint that does not fit the spec must be refused, not ignored.
        model = _build_module(source, src_params, graph, tgt, art, timesteps, gamma, calibration, data, dataset,
                              data_dir, batches, batch_size, need_data=data is not None and tgt.spiking,
                              where=where)
    if not tgt.spiking or data is None:  # the ann's costs do not depend on data or weights
        return build_report(graph, target=tgt, technology=technology, timesteps=timesteps,
                            assume_rate=assume_rate, options=target_options, source=built_from)
    weights = "trained" if (model is not None or art is not None) else "untrained"
    if model is None:
        model = _build_module(source, src_params, graph, tgt, None, timesteps, gamma, calibration, data, dataset,
                              data_dir, batches, batch_size, need_data=True)
    activity = measure_activity(model, graph, data, timesteps=timesteps, max_batches=batches, seed=seed)
    rep = build_report(graph, target=tgt, technology=technology, activity=activity, weights=weights,
                       options=target_options, source=built_from)
    if weights == "untrained":
        rep.notes.append("UNTRAINED weights (no checkpoint): firing rates and SOPs are those of a random network")
    return rep


def _target_options(target: Target, source: Any, params: dict | None, art: Artifact | None,
                    options: Mapping[str, Any] | None, timesteps: int | None) -> tuple[Any, dict | None]:
    """The target's options and what its network was built from: an artifact of the target gives both (its
    options and ``extra["source"]``); else the spec's defaults (e.g. its ``memristor:`` section) under
    ``options``, and ``timesteps`` given says the source is spiking."""
    if art is not None and get_target(art.target) is target:
        built = dict((art.extra or {}).get("source") or {})
        return target.options(dict(options or {}), defaults=dict(art.options or {})), built or None
    loaded = pipeline.load_spec(source, params) if source is not None else None
    defaults = target.spec_defaults(loaded.spec) if loaded is not None else {}
    built = {"timesteps": timesteps} if timesteps else None
    if art is not None and target.takes_spiking_source and get_target(art.target).spiking:
        # the same rule as pipeline.compile: the target carries the checkpoint's own spiking network
        steps = timesteps or (art.options or {}).get("timesteps") or (loaded.spec.timesteps if loaded else None)
        built = {"kind": art.target, **({"timesteps": int(steps)} if steps else {})}
    return target.options(dict(options or {}), defaults=defaults), built


def _spec_source(spec: Any, art: Artifact | None, params: dict | None) -> tuple[Any, dict | None]:
    if spec is not None:
        return spec, params
    if art is not None:
        return art.spec, {**art.params, **(params or {})} or None
    return None, params


def _graph_of(source: Any, params: dict | None, model: Any):
    if source is not None:
        return build_graph(source, params)
    graph = graph_of(model) if model is not None else None
    if graph is None:
        raise SnncError("a cost report needs the spec (or a checkpoint that embeds it, or a module built by "
                        "snnc.compile)")
    return graph


def _loader(graph, dataset: str, data_dir, split: str, batches: int, batch_size: int):
    from snnc.runtime.data import load_for, make_loader

    return make_loader(load_for(graph, dataset, split, data_dir, limit=batches * batch_size), batch_size=batch_size)


def _build_module(source, params, graph, target: Target, art: Artifact | None, timesteps, gamma, calibration,
                  data, dataset, data_dir, batches: int, batch_size: int, *, need_data: bool, where: str | None = None):
    """The module to measure: the checkpoint's own, or built from the spec (with ANN weights if given)."""
    steps = {"timesteps": timesteps} if timesteps else {}
    if art is not None and get_target(art.target) is target:
        return load(art, spec=source, params=params, options=steps, where=where)
    if target.needs_trained_ann:
        if not need_data:
            return None
        if calibration is None and target.calibrates:
            calibration = (_loader(graph, dataset, data_dir, "train", batches, batch_size)
                           if dataset is not None else data)
        options = {**steps, **({"gamma": gamma} if gamma else {})}
        if art is not None:  # the compile rule: an ann's weights, or a spiking source where the target takes one
            return pipeline.compile(source, target, params=params, options=options, checkpoint=art,
                                    calibration=calibration)
        ann = pipeline.compile(source, "ann", params=params).eval()
        return pipeline.lower(ann, target, options, calibration=calibration)
    module = pipeline.compile(source, target, params=params, options=steps)
    if art is not None:
        load_weights(module, art.state_dict, where=where or f"the checkpoint ({art.target})", made_from=art.spec_name,
                     built_from=graph.name, strict=get_target(art.target) is target)
        missing = [k for k in set(module.state_dict()) - set(art.state_dict)
                   if k.rsplit(".", 1)[-1] not in ("beta", "threshold", "alpha") and ".neuron." not in k]
        if missing and art.spec_name != graph.name:
            raise DataError(f"the checkpoint was made from spec '{art.spec_name}', but the model is built from spec "
                            f"'{graph.name}': their layers differ. Pass the '{art.spec_name}' spec, or leave the "
                            "spec out to use the checkpoint's own")
        if missing:
            raise DataError(f"the checkpoint lacks weights of this model: {', '.join(sorted(missing)[:4])}"
                            + (" ..." if len(missing) > 4 else ""))
    return module.eval()
