"""Whether the burst spike counts that differ between two runtimes are threshold ties of float rounding.

A burst neuron fires ``k = clamp(floor(V / theta), 0, gamma)`` spikes, with ``V`` summed over the steps. Two
runtimes that compute the same currents with a different summation order (onnxruntime's convolutions and matrix
products against PyTorch's) give membranes a few float32 roundings apart; summed over many steps, a membrane
can sit within that distance of a threshold, and one runtime fires where the other does not. Reset by
subtraction then makes the other fire a step later, and the layers after see different spikes.

:class:`TieExplainer` takes every neuron layer's ``V / theta`` at every step in both runtimes (graph order,
one sample at a time, as :func:`~.onnx.check_onnx` probes them) and sorts each neuron whose count differs at
some step by its *first* differing step:

* a **threshold tie**: there the two ``V / theta`` are at most ``tolerance`` apart (so both lie within
  ``tolerance`` of the count's threshold between them);
* **downstream**: an earlier neuron layer (graph order) of the same sample differed at that step or before,
  so this layer's currents differ by whole spikes, not by rounding;
* otherwise **unexplained**: the runtimes compute something else.

Why the first step only: after a neuron's first difference its own membrane differs by a threshold, so its
later steps differ by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np


@dataclass
class _Event:
    """One neuron's first differing step, for the messages."""

    step: int
    order: int
    layer: str
    sample: int
    neuron: tuple[int, ...]
    reference: float
    other: float

    def words(self, names: tuple[str, str]) -> str:
        edge = np.floor(max(self.reference, self.other))
        return (f"step {self.step}, layer '{self.layer}', sample {self.sample}, neuron {self.neuron}: V/θ = "
                f"{self.reference:.9g} in {names[0]}, {self.other:.9g} in {names[1]} (count threshold at "
                f"V/θ = {edge:g}, |Δ| = {abs(self.reference - self.other):.3g})")


@dataclass
class TieExplainer:
    """Accumulates, sample by sample, which differing spike counts are threshold ties (see the module).

    Args:
        layers: the neuron layers' names, in graph order.
        gammas: each layer's largest burst.
        tolerance: the largest ``|ΔV/θ|`` (in thresholds) of a tie.
        names: the two runtimes, for the messages.

    Attributes:
        differing: differing spike counts (neuron × step) per layer.
        ties, downstream, unexplained: neurons whose first difference is each of those.
        largest_tie: the largest ``|ΔV/θ|`` of a tie.
        samples: the samples with any differing count.
    """

    layers: Sequence[str]
    gammas: Sequence[int]
    tolerance: float
    names: tuple[str, str] = ("PyTorch", "onnxruntime")
    differing: dict[str, int] = field(default_factory=dict)
    ties: int = 0
    downstream: int = 0
    unexplained: int = 0
    largest_tie: float = 0.0
    samples: list[int] = field(default_factory=list)
    _first: Optional[_Event] = None
    _first_unexplained: Optional[_Event] = None

    def add(self, sample: int, reference: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> None:
        """Take one sample's ``V / theta`` per layer, ``[T, ...]`` each, in both runtimes."""
        upstream = np.inf  # the earliest step an earlier layer of this sample differed
        for order, (layer, gamma, ref, got) in enumerate(zip(self.layers, self.gammas, reference, other)):
            ref, got = ref.reshape(ref.shape[0], -1), got.reshape(got.shape[0], -1)
            diff = np.clip(np.floor(ref), 0, gamma) != np.clip(np.floor(got), 0, gamma)
            self.differing[layer] = self.differing.get(layer, 0) + int(diff.sum())
            neurons = np.flatnonzero(diff.any(axis=0))
            if not len(neurons):
                continue
            first = diff[:, neurons].argmax(axis=0)
            gap = np.abs(ref[first, neurons] - got[first, neurons])
            tie = gap <= self.tolerance
            down = ~tie & (first >= upstream)
            self.ties += int(tie.sum())
            self.downstream += int(down.sum())
            self.unexplained += int((~tie & ~down).sum())
            if tie.any():
                self.largest_tie = max(self.largest_tie, float(gap[tie].max()))
            shape = reference[order].shape[1:]
            self._note(first, neurons, ~tie & ~down, order, layer, sample, shape, ref, got)
            if sample not in self.samples:
                self.samples.append(sample)
            upstream = min(upstream, int(first.min()))

    def _note(self, first, neurons, bad, order, layer, sample, shape, ref, got) -> None:
        """Keep the earliest divergence, and the earliest unexplained one."""
        for which, mask in (("_first", np.ones_like(bad)), ("_first_unexplained", bad)):
            if not mask.any():
                continue
            i = int(np.flatnonzero(mask)[first[mask].argmin()])
            t, n = int(first[i]), int(neurons[i])
            event = _Event(t, order, layer, sample, tuple(int(j) for j in np.unravel_index(n, shape)),
                           float(ref[t, n]), float(got[t, n]))
            known = getattr(self, which)
            if known is None or (event.step, event.order) < (known.step, known.order):
                setattr(self, which, event)

    @property
    def explained(self) -> bool:
        """Every differing count is a threshold tie or downstream of one."""
        return self.unexplained == 0

    def first(self) -> Optional[str]:
        """The first divergence (earliest step, then graph order), in words."""
        return self._first.words(self.names) if self._first is not None else None

    def first_unexplained(self) -> Optional[str]:
        """The earliest divergence that is neither a tie nor downstream, in words."""
        return self._first_unexplained.words(self.names) if self._first_unexplained is not None else None

    def summary(self) -> str:
        """The neurons by kind of first difference, and the differing counts per layer."""
        layers = ", ".join(f"{k} {v}" for k, v in self.differing.items() if v)
        return (f"{self.ties + self.downstream + self.unexplained} neurons differ in some step: {self.ties} first "
                f"at a threshold tie (|ΔV/θ| ≤ {self.tolerance:g}, largest {self.largest_tie:.3g}), "
                f"{self.downstream} downstream of an earlier layer's difference, {self.unexplained} unexplained; "
                f"differing counts per layer: {layers or 'none'}")
