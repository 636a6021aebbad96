"""Input encodings (static data → spikes over time) and output decodings (spikes → class scores).

The IR's ``encoding``/``decoding`` models (or a plain kind string, or a mapping) are resolved into the small
frozen :class:`Encoding`/:class:`Decoding` here, so the rest of the target never depends on the spec or IR
classes. Encodings mirror :mod:`snntorch.spikegen`:

* ``direct``: the input is the current at every step (no spikes; the layers before the first neuron run
  once and their output is reused for every step).
* ``rate``: ``spikegen.rate(x, num_steps=T, gain=gain)`` — Bernoulli spikes with probability ``gain * x``
  (clipped to [0, 1]); uses torch's global random generator, so ``torch.manual_seed`` makes it repeatable.
* ``latency``: ``spikegen.latency(x, num_steps=T, tau, threshold, linear, normalize)`` — one spike per input,
  earlier for larger values; ``x`` must lie in [0, 1].

Decodings turn ``spk``/``mem`` ``[T, B, classes]`` into scores ``[B, classes]``: ``rate`` (mean spikes),
``count`` (total spikes) and ``membrane`` (mean membrane over time).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from snntorch import spikegen
from torch import Tensor

from ...errors import DataError, UnsupportedError


@dataclass(frozen=True)
class Encoding:
    """A resolved input encoding (fields as in ``snntorch.spikegen``; unused ones are ignored)."""

    kind: str = "direct"
    gain: float = 1.0
    tau: float = 5.0
    threshold: float = 0.01
    linear: bool = True
    normalize: bool = True


@dataclass(frozen=True)
class Decoding:
    """A resolved output decoding."""

    kind: str = "rate"


def _rate(x: Tensor, steps: int, enc: Encoding) -> Tensor:
    return spikegen.rate(x, num_steps=steps, gain=enc.gain)


def _latency(x: Tensor, steps: int, enc: Encoding) -> Tensor:
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise DataError(
            f"latency encoding needs inputs in [0, 1], got values in [{low:.4g}, {high:.4g}]: "
            "normalise the data (e.g. divide pixels by 255) or use encoding: rate or direct"
        )
    return spikegen.latency(
        x,
        num_steps=steps,
        threshold=enc.threshold,
        tau=enc.tau,
        linear=enc.linear,
        normalize=enc.normalize,
    )


def _direct(x: Tensor, steps: int, enc: Encoding) -> Tensor:
    return x.unsqueeze(0).expand(steps, *x.shape)


ENCODERS: dict[str, Callable[[Tensor, int, Encoding], Tensor]] = {
    "direct": _direct,
    "rate": _rate,
    "latency": _latency,
}
"""Encoding kind → ``fn(x [B, ...], steps, encoding) -> [steps, B, ...]``."""

DECODERS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "rate": lambda spk, mem: spk.mean(0),
    "count": lambda spk, mem: spk.sum(0),
    "membrane": lambda spk, mem: mem.mean(0),
}
"""Decoding kind → ``fn(spk, mem) -> scores [B, ...]`` (time is the first dimension)."""


def _resolve(value: Any, cls: type, table: Mapping[str, Any], what: str):
    if isinstance(value, cls):
        found = value
    elif isinstance(value, str):
        found = cls(kind=value)
    else:
        names = [f.name for f in fields(cls)]
        if isinstance(value, Mapping):
            found = cls(**{k: value[k] for k in names if k in value})
        else:
            found = cls(**{k: getattr(value, k) for k in names if hasattr(value, k)})
    if found.kind not in table:
        raise UnsupportedError(
            f"the snn target has no {what} '{found.kind}'; supported: {', '.join(sorted(table))}"
        )
    return found


def resolve_encoding(value: Any) -> Encoding:
    """Resolve an encoding given as a kind string, a mapping, the IR model or an :class:`Encoding`.

    Args:
        value: e.g. ``"rate"``, ``{"kind": "rate", "gain": 0.5}`` or ``graph.encoding``.

    Returns:
        The resolved encoding (missing fields take snnc's defaults).

    Raises:
        UnsupportedError: the kind is not one of :data:`ENCODERS`.
    """
    return _resolve(value, Encoding, ENCODERS, "input encoding")


def resolve_decoding(value: Any) -> Decoding:
    """Resolve a decoding given as a kind string, a mapping, the IR model or a :class:`Decoding`.

    Args:
        value: e.g. ``"count"`` or ``graph.decoding``.

    Returns:
        The resolved decoding.

    Raises:
        UnsupportedError: the kind is not one of :data:`DECODERS`.
    """
    return _resolve(value, Decoding, DECODERS, "output decoding")


def encode(x: Tensor, steps: int, encoding: Encoding) -> Tensor:
    """Turn a static batch into a sequence.

    Args:
        x: input batch ``[B, ...]``.
        steps: number of time steps.
        encoding: the resolved encoding.

    Returns:
        ``[steps, B, ...]`` (for ``direct``, an expanded view: no copy).

    Raises:
        DataError: latency encoding of inputs outside [0, 1].
    """
    return ENCODERS[encoding.kind](x, steps, encoding)


def decode(spk: Tensor, mem: Tensor, decoding: Decoding) -> Tensor:
    """Turn recorded output spikes/membrane ``[T, B, ...]`` into scores ``[B, ...]``.

    Args:
        spk: output spikes over time.
        mem: output membrane over time.
        decoding: the resolved decoding.

    Returns:
        The scores (``rate``: mean spikes; ``count``: total spikes; ``membrane``: mean membrane).
    """
    return DECODERS[decoding.kind](spk, mem)

