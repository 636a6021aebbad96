"""``NeuronLoop``: the module that replaces a spike node (a ReLU in the ann target).

It owns one snnTorch neuron (``snn.Leaky`` or ``snn.Synaptic``, see :mod:`.neurons`), whose ``beta`` and
``threshold`` are the layer's buffers or parameters, and runs it over all time steps of one call: the input
is the current of every step folded into the batch (``[T * B, ...]``), or the time-invariant current
(``[B, ...]``) when the layers before it do not depend on time; the output is the spikes, folded the same way,
so the stateless layers that follow run once over all ``T * B`` samples.

The module holds no state between calls: the state is an explicit input and output (``mem0``/``syn0`` in,
``mem_last``/``syn_last`` out), so when a call is cut into chunks of a few steps, the fx body passes each
chunk's last membrane (and synaptic current) into the next, with its autograd history, and every call starts
from rest.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import snntorch as snn
import torch
from torch import Tensor, nn

from ...errors import UnsupportedError
from ...ir.neuron import NeuronParams
from .neurons import build_neuron, build_surrogate_grad
from .recurrence import Dynamics, Result, fused_recurrence, reference_recurrence, unrolled_recurrence


def _fused(loop: "NeuronLoop", current: Tensor, mem0, syn0, dyn: Dynamics) -> Result:
    beta, alpha, threshold = loop.coefficients()
    return fused_recurrence(current, mem0, syn0, beta, alpha, threshold, dyn)


def _unrolled(loop: "NeuronLoop", current: Tensor, mem0, syn0, dyn: Dynamics) -> Result:
    beta, alpha, threshold = loop.coefficients()
    return unrolled_recurrence(current, mem0, syn0, beta, alpha, threshold, dyn)


def _reference(loop: "NeuronLoop", current: Tensor, mem0, syn0, dyn: Dynamics) -> Result:
    return reference_recurrence(loop.neuron, current, mem0, syn0, dyn)


MODES: dict[str, Callable[..., Result]] = {
    "fused": _fused,
    "reference": _reference,
    "unrolled": _unrolled,
}
"""How a neuron loop runs: ``fused`` (default, one autograd node per sequence), ``reference`` (snnTorch module
step by step) or ``unrolled`` (stateless torch ops, for ``torch.compile``)."""


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is a known neuron-loop mode.

    Args:
        mode: the requested mode.

    Returns:
        ``mode`` unchanged.

    Raises:
        UnsupportedError: ``mode`` is not one of :data:`MODES`.
    """
    if mode not in MODES:
        raise UnsupportedError(f"unknown snn mode '{mode}'; supported: {', '.join(sorted(MODES))}")
    return mode


class NeuronLoop(nn.Module):
    """A spiking neuron layer run over time (replaces one spike node).

    Attributes:
        neuron: the snnTorch neuron (its ``beta``/``threshold`` are this layer's buffers or parameters).
        params: the resolved IR parameters it was built from.
        mode: ``fused``, ``reference`` or ``unrolled`` (see :data:`MODES`).
        record: count spikes on every call (see :meth:`spike_count`).
    """

    def __init__(
        self, params: NeuronParams, *, shape: tuple[int, ...] = (), mode: str = "fused", record: bool = False
    ):
        super().__init__()
        self.neuron = build_neuron(params)
        self.surrogate_grad = build_surrogate_grad(params)
        self.params = params
        self.mode = check_mode(mode)
        self.record = record
        self._spikes = 0
        self._neuron_steps = 0
        self._neurons = math.prod(shape) if shape else 0

    def extra_repr(self) -> str:
        p = self.params
        return f"model={p.model}, reset={p.reset}, surrogate={p.surrogate}, mode={self.mode}"

    def coefficients(self) -> tuple[Tensor, Optional[Tensor], Tensor]:
        """``(beta, alpha, threshold)`` as snnTorch uses them: decays clamped to [0, 1]; alpha None for Leaky."""
        alpha = self.neuron.alpha.clamp(0, 1) if isinstance(self.neuron, snn.Synaptic) else None
        return self.neuron.beta.clamp(0, 1), alpha, self.neuron.threshold

    def forward(
        self,
        current: Tensor,
        steps: int,
        mem0: Optional[Tensor] = None,
        syn0: Optional[Tensor] = None,
        constant: bool = False,
        record_mem: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
        """Run ``steps`` time steps from the given state.

        Args:
            current: ``[steps * B, ...]`` (step-major), or ``[B, ...]`` if ``constant``.
            steps: number of time steps in this chunk.
            mem0: membrane at the end of the previous chunk ``[B, ...]``, or None to start from rest.
            syn0: synaptic current at the end of the previous chunk (``synaptic`` only), or None.
            constant: the same current at every step.
            record_mem: return the membrane of every step.

        Returns:
            ``(spk, mem, mem_last, syn_last)``: spikes ``[steps * B, ...]``; the membrane ``[steps * B, ...]``
            with ``record_mem`` (or when a gradient is needed), else only its last step ``[B, ...]``; the
            state to pass to the next chunk (``syn_last`` is None for leaky and ``if`` neurons).
        """
        needs_grad = torch.is_grad_enabled() and (
            current.requires_grad
            or any(p.requires_grad for p in self.neuron.parameters())
            or (mem0 is not None and mem0.requires_grad)
        )
        dyn = Dynamics(
            synaptic=isinstance(self.neuron, snn.Synaptic),
            reset=self.params.reset,
            steps=steps,
            constant=constant,
            spike_fn=self.neuron.spike_grad,
            surrogate_grad=self.surrogate_grad,
            record_mem=record_mem or needs_grad,
        )
        spk, mem, syn = MODES[self.mode](self, current, mem0, syn0, dyn)
        if self.record:
            self._count(spk)
        return spk.flatten(0, 1), mem.flatten(0, 1), mem[-1], syn

    def _count(self, spk: Tensor) -> None:
        with torch.no_grad():
            self._spikes = self._spikes + torch.count_nonzero(spk)
        self._neuron_steps += spk.numel()
        self._neurons = spk[0, 0].numel()

    def reset_counts(self) -> None:
        """Forget the recorded spike counts."""
        self._spikes = 0
        self._neuron_steps = 0

    def spike_count(self) -> int:
        """Total spikes emitted while recording (over every step, sample and neuron)."""
        return int(self._spikes)

    def neuron_count(self) -> int:
        """Neurons per sample (from the IR shape; else known once the layer has run while recording)."""
        return self._neurons

    def firing_rate(self) -> float:
        """Spikes per neuron per time step while recording (0.0 when nothing was recorded)."""
        return float(self._spikes) / self._neuron_steps if self._neuron_steps else 0.0
