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

One job per module: :mod:`.energy` (technologies and ``E``), :mod:`.activity` (recording spikes and SOPs),
:mod:`.breakdown` (the per-layer report), :mod:`.api` (:func:`report`); this package re-exports their names.

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

from .activity import FANOUT, UNIT_KINDS, Activity, measure_activity
from .api import DEFAULT_BATCHES, report
from .breakdown import NOTE_ANN, NOTE_FREE, NOTE_MAC, NOTE_SOP, CostReport, LayerCost, build_report
from .energy import DEFAULT_TECHNOLOGY, TECHNOLOGIES, Technology, energy_uj, load_technology

__all__ = ["Activity", "CostReport", "DEFAULT_BATCHES", "DEFAULT_TECHNOLOGY", "FANOUT", "LayerCost", "NOTE_ANN",
           "NOTE_FREE", "NOTE_MAC", "NOTE_SOP", "TECHNOLOGIES", "Technology", "UNIT_KINDS", "build_report",
           "energy_uj", "load_technology", "measure_activity", "report"]
