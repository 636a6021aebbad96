"""Weights ↔ conductances as the mnn target maps them, in plain torch (no MemTorch).

:func:`naive_map` is the mapping routine the target hands to MemTorch's ``patch_model`` (the same arithmetic as
``memtorch.map.Parameter.naive_map``, tested bit-identical), so a network is programmed with it and
hardware-aware training (``runtime/methods/hwa.py``) perturbs weights through the same map. The device effects
are MemTorch's: :func:`quantize_states` is its finite-conductance-states model, :func:`stick` its stuck devices.
``docs/mnn.md`` ("Hardware-aware training") says how they combine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor


def convert_range(value, old_min, old_max, new_min, new_max):
    """``value`` mapped linearly from ``[old_min, old_max]`` onto ``[new_min, new_max]`` (MemTorch's)."""
    return (((value - old_min) * (new_max - new_min)) / (old_max - old_min)) + new_min


def _scheme_name(scheme) -> str:
    name = getattr(scheme, "name", scheme)
    return {"DoubleColumn": "double_column", "SingleColumn": "single_column"}.get(name, name)


def weight_range(weight: Tensor, r_on: float, r_off: float, p_l: Optional[float] = None, detach: bool = True):
    """``(w_min, w_max)``: the weight magnitudes mapped onto ``1/r_off`` and ``1/r_on``.

    Without ``p_l`` that is ``(0, max|w|)``; with it, ``w_max`` is the ``p_l``-quantile of ``|w|`` from the top
    (MemTorch's ``sorted(...)[int(p_l·(n−1))]``) and ``w_min = w_max·r_on/r_off``. ``detach=False`` keeps the
    gradient (to the weight that sets the range).
    """
    w = weight.detach() if detach else weight
    if p_l is not None:
        ordered = torch.sort(w.abs().flatten(), descending=True).values
        w_max = ordered[int(p_l * (weight.numel() - 1))]
        return w_max / (r_off / r_on), w_max
    return 0, w.abs().max()


def naive_map(weight: Tensor, r_on: float, r_off: float, scheme="double_column", p_l: Optional[float] = None):
    """MemTorch's ``naive_map``: weights onto conductances in ``[1/r_off, 1/r_on]`` (siemens).

    Args:
        weight: the layer's weights (any shape; one scale for the whole layer).
        r_on, r_off: low and high resistance state, ohms.
        scheme: ``double_column`` / ``single_column`` or a ``memtorch.bh.Scheme`` member.
        p_l: the proportion of weights kept (None: all).

    Returns:
        ``(G⁺, G⁻)`` for the double-column scheme (``G⁺`` holds the positive weights, ``G⁻`` the negated
        negative ones, each at least ``1/r_off``); one tensor ``G`` for the single-column scheme (MemTorch clamps
        the weights to ``[w_min, w_max]`` there, so negative weights map to ``1/r_off``).
    """
    if p_l is not None and not 0 <= p_l <= 1:
        raise ValueError("p_l must be None or between 0 and 1")
    w_min, w_max = weight_range(weight, r_on, r_off, p_l)
    kind = _scheme_name(scheme)
    if kind == "double_column":
        pos = weight.clone()
        neg = weight.clone() * -1
        pos[pos < 0] = 0
        neg[neg < 0] = 0
        pos = torch.clamp(pos, w_min, w_max)
        neg = torch.clamp(neg, w_min, w_max)
        return (convert_range(pos, w_min, w_max, 1 / r_off, 1 / r_on),
                convert_range(neg, w_min, w_max, 1 / r_off, 1 / r_on))
    if kind == "single_column":
        g = torch.clamp(weight.clone(), w_min, w_max)
        return convert_range(g, w_min, w_max, 1 / r_off, 1 / r_on)
    raise ValueError(f"{scheme} is not a supported scheme (double_column, single_column)")


@dataclass(frozen=True)
class Mapped:
    """A layer's weights as conductances.

    Attributes:
        crossbars: ``(G⁺, G⁻)`` (double column) or ``(G,)`` (single column), siemens, shaped like the weight.
        w_min, w_max: the weight range mapped onto ``[g_min, g_max]``.
        g_min, g_max: ``1/r_off`` and ``1/r_on``.
    """

    crossbars: tuple[Tensor, ...]
    w_min: Tensor | float
    w_max: Tensor | float
    g_min: float
    g_max: float

    def weight(self, crossbars: Optional[tuple[Tensor, ...]] = None) -> Tensor:
        """The weight the (possibly changed) conductances represent, back in weight units.

        Double column: ``(G⁺ − G⁻)·(w_max − w_min)/(g_max − g_min)``, which is what MemTorch's tuned read-out
        gives for ``V·(G⁺ − G⁻)``; single column: ``G`` mapped back onto ``[w_min, w_max]``. Unchanged
        conductances give the weight back (clamped as the map clamps it).
        """
        crossbars = self.crossbars if crossbars is None else crossbars
        if len(crossbars) == 2:
            return (crossbars[0] - crossbars[1]) * ((self.w_max - self.w_min) / (self.g_max - self.g_min))
        return convert_range(crossbars[0], self.g_min, self.g_max, self.w_min, self.w_max)


def map_weight(weight: Tensor, r_on: float, r_off: float, scheme="double_column",
               p_l: Optional[float] = None) -> Mapped:
    """:func:`naive_map` with what is needed to map back (see :class:`Mapped`)."""
    g = naive_map(weight, r_on, r_off, scheme, p_l)
    w_min, w_max = weight_range(weight, r_on, r_off, p_l)
    return Mapped(tuple(g) if isinstance(g, tuple) else (g,), w_min, w_max, 1 / r_off, 1 / r_on)


def quantize_states(g: Tensor, states: int, g_min: float, g_max: float) -> Tensor:
    """Every conductance to the nearest of ``states`` levels evenly spaced in ``[g_min, g_max]`` (MemTorch's
    finite-conductance-states model; values outside the range go to its ends)."""
    step = (g_max - g_min) / (states - 1)
    return torch.round((g.clamp(g_min, g_max) - g_min) / step) * step + g_min


def stick(g: Tensor, lrs: float, hrs: float, g_min: float, g_max: float,
          generator: Optional[torch.Generator] = None) -> Tensor:
    """Stuck devices: each device independently stuck at ``g_max`` (LRS, probability ``lrs``) or ``g_min`` (HRS,
    probability ``hrs``).

    MemTorch sticks exactly ``int(n·p)`` devices of each crossbar (tile padding included), chosen at random; the
    same proportions drawn per device give the same expected share of stuck used devices.
    """
    if not (lrs or hrs):
        return g
    u = torch.rand(g.shape, generator=generator, device=g.device if generator is None else generator.device)
    u = u.to(g.device)
    out = torch.where(u < hrs, torch.full_like(g, g_min), g)
    return torch.where((u >= hrs) & (u < hrs + lrs), torch.full_like(g, g_max), out)
