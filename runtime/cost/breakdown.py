"""The cost breakdown: :class:`LayerCost` per IR node and the :class:`CostReport` of a whole model, assembled by
:func:`build_report` from the IR, a target and (optionally) measured :class:`~.activity.Activity`.

Pure arithmetic on the graph: no torch. Which layers receive spikes comes from the ``infer-spike-values`` pass,
parameters and MACs from :mod:`snnc.compiler.ir.costs`, energies from :mod:`.energy`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.costs import graph_costs
from snnc.compiler.passes.spike_values import SpikeValue, infer_spike_values
from snnc.compiler.targets.base import Target
from snnc.compiler.targets.registry import get_target

from .activity import Activity
from .energy import DEFAULT_TECHNOLOGY, Technology, energy_uj, load_technology


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
    layers = [_layer(graph, node, costs[node.name], values, spiking, steps, activity, assume_rate, tech)
              for node in graph.nodes]
    totals = _totals(costs, layers, activity, tech)
    notes = _notes(graph, tgt, values, layers, activity, assume_rate, steps, tech)
    hardware = tgt.hardware_costs(graph, tgt.options(options), source=source)
    if hardware:
        notes += [n for n in list(tgt.cost_notes) + list(hardware.get("notes", [])) if n not in notes]
    accuracy = (activity.correct / activity.labelled) if activity is not None and activity.labelled else None
    return CostReport(graph.name, tgt.name, steps, tech, layers, totals, dynamic=activity is not None,
                      samples=samples, accuracy=accuracy, assumed_rate=assume_rate, weights=weights, notes=notes,
                      hardware=hardware, graph=graph)


def _layer(graph, node, cost, values: Mapping[str, SpikeValue], spiking: bool, steps: int,
           activity: Activity | None, assume_rate: float | None, tech: Technology) -> LayerCost:
    """One node's costs: how its MACs are charged (AC for spike input, else MAC once or every step), its
    measured (or assumed) input spikes and SOPs, its neurons' spikes, and its energy."""
    value = values[node.name]
    samples = activity.samples if activity else 0
    layer = LayerCost(node.name, node.kind, list(node.shape), cost.params, cost.macs)
    if cost.macs and spiking and value.input_spikes:
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
    elif cost.macs:
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
    return layer


def _totals(costs: Mapping[str, Any], layers: list[LayerCost], activity: Activity | None,
            tech: Technology) -> dict[str, Any]:
    """The whole model's totals; the energy (and SOPs) only when every layer's is known."""
    known = all(layer.energy_uj is not None for layer in layers)
    macs = sum(c.macs for c in costs.values())
    ann_energy = energy_uj(macs, 0, tech)
    energy = sum(layer.energy_uj for layer in layers) if known else None
    return {
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


__all__ = ["CostReport", "LayerCost", "NOTE_ANN", "NOTE_FREE", "NOTE_MAC", "NOTE_SOP", "build_report"]
