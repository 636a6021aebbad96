"""The neuron recurrence over time, three ways that give the same spikes.

All three take the input current of one neuron layer for ``steps`` time steps, folded into the batch
(``[steps * B, ...]``, step-major) or time-invariant (``[B, ...]``, the same current at every step), an
optional carried-in state (``mem0``, ``syn0``: the last step of the previous chunk) and return
``(spk, mem, syn_last)`` with ``spk`` and ``mem`` shaped ``[steps, B, ...]``.

* :func:`reference_recurrence` calls the snnTorch neuron module step by step, exactly like the snnTorch
  tutorials. It is the definition the other two are tested against.
* :func:`fused_recurrence` is one ``torch.autograd.Function`` for the whole sequence: the forward writes
  membrane and spikes into preallocated buffers with in-place ops (no autograd graph per step) and the
  backward runs the adjoint recurrence in reverse, with the surrogate gradient of snnTorch's spike function
  evaluated once over all steps (by the in-place twin from :data:`.neurons.SURROGATE_GRADS`).
* :func:`unrolled_recurrence` writes snnTorch's update with plain differentiable torch ops and no module
  state, so that ``torch.compile`` can trace and fuse it.

Equations (snnTorch ``Leaky``/``Synaptic`` with ``reset_delay=True``; ``r[t] = H(U[t-1] - thr)`` detached):

* leaky, subtract: ``U[t] = beta * U[t-1] + I[t] - thr * r[t]``
* leaky, zero:     ``U[t] = beta * (1 - r[t]) * U[t-1] + I[t]``
* synaptic:        ``S[t] = alpha * S[t-1] + I[t]``, then ``U[t] = beta * U[t-1] + S[t]``, minus ``thr * r[t]``
  (subtract) or times ``1 - r[t]`` (zero)
* ``none`` skips the reset; spikes are ``Z[t] = H(U[t] - thr)``, with the surrogate gradient in backward.

Why the fused forward gives the same spikes as snnTorch, bit for bit: it performs the same float32
operations in the same order (``beta * U``, then ``+ I``, then ``- thr * r`` where ``thr * r`` is exact since
``r`` is 0 or 1), and ``U > thr`` equals ``U - thr > 0`` for finite floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import snntorch as snn
import torch
from torch import Tensor


@dataclass(frozen=True)
class Dynamics:
    """What the recurrence needs besides tensors.

    Attributes:
        synaptic: whether a synaptic current ``S`` sits between the input and the membrane.
        reset: ``subtract``, ``zero`` or ``none``.
        steps: number of time steps in this call.
        constant: the input current is ``[B, ...]`` and the same at every step (not folded).
        spike_fn: the snnTorch spike function (Heaviside forward, surrogate backward).
        surrogate_grad: the same surrogate gradient with in-place ops (``fn(x, g)`` overwrites ``x``), or None
            to differentiate ``spike_fn`` itself.
        record_mem: keep the membrane of every step; if False (no gradient needed, membrane not returned) the
            fused forward updates one ``[B, ...]`` buffer in place and returns only the last step.
    """

    synaptic: bool
    reset: str
    steps: int
    constant: bool
    spike_fn: Callable[[Tensor], Tensor]
    surrogate_grad: Optional[Callable[[Tensor, Tensor], Tensor]] = None
    record_mem: bool = True


Result = tuple[Tensor, Tensor, Optional[Tensor]]
"""``(spk, mem, syn_last)``: spikes and membrane ``[steps, B, ...]``; synaptic current of the last step."""


def _sequence_buffer(current: Tensor, steps: int, constant: bool) -> Tensor:
    """An empty ``[steps, B, ...]`` buffer laid out like ``current`` (keeps channels-last)."""
    if not constant:
        return torch.empty_like(current).unflatten(0, (steps, -1))
    channels_last = (
        current.dim() == 4
        and not current.is_contiguous()
        and current.is_contiguous(memory_format=torch.channels_last)
    )
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    folded = torch.empty(
        (steps * current.shape[0], *current.shape[1:]),
        dtype=current.dtype,
        device=current.device,
        memory_format=fmt,
    )
    return folded.unflatten(0, (steps, -1))


def _per_step(current: Tensor, steps: int, constant: bool) -> Callable[[int], Tensor]:
    if constant:
        return lambda t: current
    seq = current.unflatten(0, (steps, -1))
    return lambda t: seq[t]


class _FusedRecurrence(torch.autograd.Function):
    """Forward and backward of a whole neuron sequence; see the module docstring for the equations."""

    @staticmethod
    def forward(ctx, current, mem0, syn0, beta, alpha, threshold, dyn: Dynamics):
        ctx.set_materialize_grads(False)
        steps = dyn.steps
        drive_at = _per_step(current, steps, dyn.constant)
        spk = _sequence_buffer(current, steps, dyn.constant)
        # Why a single buffer without history: it stays in cache, and a fresh [T, B, ...] buffer costs a page
        # fault per 4 KiB on first touch.
        mem = _sequence_buffer(current, steps, dyn.constant) if dyn.record_mem else torch.empty_like(spk[:1])
        thr = float(threshold)
        prev = mem0
        reset = None
        if mem0 is not None and dyn.reset != "none":
            reset = (mem0 > threshold).to(mem.dtype)
        syn = syn0
        for t in range(steps):
            drive = drive_at(t)
            if dyn.synaptic:
                # The first update allocates; later ones reuse it (syn0 belongs to the caller).
                syn = drive.clone() if syn is None else (
                    torch.mul(syn, alpha).add_(drive) if t == 0 else syn.mul_(alpha).add_(drive)
                )
                drive = syn
            m = mem[t] if dyn.record_mem else mem[0]
            if prev is None:
                m.copy_(drive)
            else:
                torch.mul(prev, beta, out=m)
                if reset is not None and dyn.reset == "zero" and not dyn.synaptic:
                    m.masked_fill_(reset.bool(), 0.0)
                m.add_(drive)
                if reset is not None and dyn.reset == "zero" and dyn.synaptic:
                    m.masked_fill_(reset.bool(), 0.0)
                if reset is not None and dyn.reset == "subtract":
                    m.sub_(reset, alpha=thr)
            torch.gt(m, threshold, out=spk[t])
            prev = m
            reset = spk[t] if dyn.reset != "none" else None
        ctx.dyn = dyn
        ctx.save_for_backward(mem, spk, mem0, beta, alpha, threshold)
        return spk, mem, syn

    @staticmethod
    def backward(ctx, g_spk, g_mem, g_syn):
        mem, spk, mem0, beta, alpha, threshold = ctx.saved_tensors
        dyn: Dynamics = ctx.dyn
        need_current, need_mem0, need_syn0, need_beta, _, need_threshold, _ = ctx.needs_input_grad
        steps = dyn.steps
        g_threshold = None
        # grad[t] starts as the gradient arriving at U[t] directly: from the mem output and, through the
        # surrogate, from the spike output (over all steps at once, in one buffer).
        if g_spk is not None:
            shifted = torch.sub(mem, threshold.detach())
            if dyn.surrogate_grad is not None:
                grad = dyn.surrogate_grad(shifted, g_spk)
            else:
                shifted.requires_grad_()
                with torch.enable_grad():
                    (grad,) = torch.autograd.grad(dyn.spike_fn(shifted), shifted, g_spk)
                if grad.data_ptr() == g_spk.data_ptr():
                    grad = grad.clone()
            if need_threshold:
                g_threshold = -grad.sum()
            if g_mem is not None:
                grad.add_(g_mem)
        elif g_mem is not None:
            grad = torch.empty_like(mem).copy_(g_mem)
        else:
            return (None,) * 7

        # Adjoint of U[t] = k[t] * beta * U[t-1] + ...: grad[t] += beta * k[t+1] * grad[t+1], backwards.
        b = float(beta)
        keep = (1.0 - spk) if dyn.reset == "zero" else None  # keep[t] = 1 - r[t+1]
        for t in range(steps - 2, -1, -1):
            if keep is None:
                grad[t].add_(grad[t + 1], alpha=b)
            else:
                grad[t].addcmul_(grad[t + 1], keep[t], value=b)
        keep0 = None
        if dyn.reset == "zero" and mem0 is not None:
            keep0 = (mem0 <= threshold).to(mem.dtype)

        g_beta = g_mem0 = g_syn0 = None
        if need_beta:
            total = grad[1:].mul(mem[:-1])
            if keep is not None:
                total.mul_(keep[:-1])
            g_beta = total.sum()
            if mem0 is not None:
                first = grad[0] * mem0
                g_beta = g_beta + (first if keep0 is None else first * keep0).sum()
            g_beta = g_beta.reshape(beta.shape)
        if need_threshold and dyn.reset == "subtract":
            from_reset = grad[1:].mul(spk[:-1]).sum()
            if mem0 is not None:
                from_reset = from_reset + (grad[0] * (mem0 > threshold).to(mem.dtype)).sum()
            g_threshold = -from_reset if g_threshold is None else g_threshold - from_reset
        if g_threshold is not None:
            g_threshold = g_threshold.reshape(threshold.shape)
        if need_mem0 and mem0 is not None:
            g_mem0 = grad[0] * b if keep0 is None else grad[0] * keep0 * b

        if dyn.synaptic:
            # The membrane sees S[t] scaled by k[t] (zero reset); then S[t] = alpha * S[t-1] + I[t].
            if keep is not None:
                grad[1:].mul_(keep[:-1])
                if keep0 is not None:
                    grad[0].mul_(keep0)
            if g_syn is not None:
                grad[-1].add_(g_syn)
            a = float(alpha)
            for t in range(steps - 2, -1, -1):
                grad[t].add_(grad[t + 1], alpha=a)
            if need_syn0:
                g_syn0 = grad[0] * a
        g_current = None
        if need_current:
            g_current = grad.sum(0) if dyn.constant else grad.flatten(0, 1)
        return g_current, g_mem0, g_syn0, g_beta, None, g_threshold, None


def fused_recurrence(
    current: Tensor,
    mem0: Optional[Tensor],
    syn0: Optional[Tensor],
    beta: Tensor,
    alpha: Optional[Tensor],
    threshold: Tensor,
    dyn: Dynamics,
) -> Result:
    """Run the neuron over ``dyn.steps`` steps as one autograd node.

    Args:
        current: input current, ``[steps * B, ...]`` or ``[B, ...]`` when ``dyn.constant``.
        mem0: membrane carried in from the previous chunk (``[B, ...]``), or None for a fresh start.
        syn0: synaptic current carried in (synaptic only), or None.
        beta: membrane decay, clamped to [0, 1] (0-dim tensor, may require grad).
        alpha: synaptic decay clamped to [0, 1] (synaptic only; not learnable), or None.
        threshold: firing threshold (0-dim tensor, may require grad).
        dyn: model, reset, steps and surrogate.

    Returns:
        ``(spk, mem, syn_last)`` with ``spk`` and ``mem`` shaped ``[steps, B, ...]`` (``mem`` only the last step,
        ``[1, B, ...]``, without ``dyn.record_mem``).
    """
    spk, mem, syn = _FusedRecurrence.apply(current, mem0, syn0, beta, alpha, threshold, dyn)
    return spk, mem, syn


def unrolled_recurrence(
    current: Tensor,
    mem0: Optional[Tensor],
    syn0: Optional[Tensor],
    beta: Tensor,
    alpha: Optional[Tensor],
    threshold: Tensor,
    dyn: Dynamics,
) -> Result:
    """snnTorch's update written with stateless torch ops (for ``torch.compile``); same arguments and result
    as :func:`fused_recurrence`."""
    drive_at = _per_step(current, dyn.steps, dyn.constant)
    first = drive_at(0)
    mem = torch.zeros_like(first) if mem0 is None else mem0
    syn = torch.zeros_like(first) if (dyn.synaptic and syn0 is None) else syn0
    spks, mems = [], []
    for t in range(dyn.steps):
        drive = drive_at(t)
        reset = dyn.spike_fn(mem - threshold).detach()
        if dyn.synaptic:
            syn = alpha * syn + drive
            drive = syn
        if dyn.reset == "zero" and not dyn.synaptic:
            mem = (1 - reset) * mem
        base = beta * mem + drive
        if dyn.reset == "subtract":
            mem = base - reset * threshold
        elif dyn.reset == "zero" and dyn.synaptic:
            mem = base - base * reset
        else:
            mem = base
        spks.append(dyn.spike_fn(mem - threshold))
        mems.append(mem)
    return torch.stack(spks), torch.stack(mems), syn


def reference_recurrence(
    neuron: snn.SpikingNeuron,
    current: Tensor,
    mem0: Optional[Tensor],
    syn0: Optional[Tensor],
    dyn: Dynamics,
) -> Result:
    """Call the snnTorch neuron step by step, as in the snnTorch tutorials.

    Args:
        neuron: an ``snn.Leaky`` or ``snn.Synaptic`` built with ``init_hidden=False``.
        current: as in :func:`fused_recurrence`.
        mem0: carried-in membrane, or None (zeros).
        syn0: carried-in synaptic current (``Synaptic`` only), or None (zeros).
        dyn: steps and whether the current is time-invariant.

    Returns:
        ``(spk, mem, syn_last)`` with ``spk`` and ``mem`` shaped ``[steps, B, ...]``.
    """
    drive_at = _per_step(current, dyn.steps, dyn.constant)
    first = drive_at(0)
    mem = torch.zeros_like(first) if mem0 is None else mem0
    syn = torch.zeros_like(first) if syn0 is None else syn0
    spks, mems = [], []
    for t in range(dyn.steps):
        if isinstance(neuron, snn.Synaptic):
            spk, syn, mem = neuron(drive_at(t), syn, mem)
        else:
            spk, mem = neuron(drive_at(t), mem)
        spks.append(spk)
        mems.append(mem)
    # Why: snnTorch keeps the last state in a buffer; drop it so the module holds no autograd graph
    # (and stays deep-copyable) between calls.
    neuron.reset_mem()
    return torch.stack(spks), torch.stack(mems), (syn if isinstance(neuron, snn.Synaptic) else None)
