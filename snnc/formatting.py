"""How the command line writes numbers, option values and IR nodes: plain strings, no rich and no typer.

Why a module of its own: the tables of every command (``summary``, ``report``, ``zoo``, the study's report) and
the fast ``snnc validate`` path (:mod:`snnc.quick`, which must not import rich) write counts and nodes the same
way; each imports these public names instead of another command module's private helpers.
"""

from __future__ import annotations

from typing import Any


def fmt_int(n: int) -> str:
    """A count with thousands separators: ``29,826``."""
    return f"{n:,}"


def fmt_macs(n: int) -> str:
    """A large count in K, M or G with two decimals (``1.41 M``); below a thousand as it is."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def fmt_value(value: Any) -> str:
    """An option's value as it is written on the command line (``-O KEY=VALUE`` reads YAML): ``null``, ``true``,
    ``0.3``, ``fused``, ``[128, 128]``, ``{}``; a pydantic model as the mapping of its fields that differ from
    their defaults (``{}`` when none do), never a Python repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e16 else repr(value)
    if isinstance(value, (int, str)):
        text = str(getattr(value, "value", value))  # an Enum's value
        return text if text and text.strip() == text else f"'{text}'"
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_defaults=True)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{fmt_value(k)}: {fmt_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return str(value)


def describe_node(node) -> str:
    """An IR node's op in a few words, as the summary and report tables show it: ``conv2d 1→12 k5x5 s1 p0``,
    ``linear 1024→10``, ``spike (leaky, β=0.5, θ=1)``; other kinds by their kind."""
    k = node.kind
    if k == "conv2d":
        extra = f" g={node.groups}" if node.groups > 1 else ""
        return (f"conv2d {node.in_channels}→{node.out_channels} k{node.kernel_size[0]}x{node.kernel_size[1]}"
                f" s{node.stride[0]} p{node.padding[0]}{extra}")
    if k == "linear":
        return f"linear {node.in_features}→{node.out_features}"
    if k == "spike":
        n = node.neuron
        return f"spike ({n.model}, β={n.beta:.3g}, θ={n.threshold:g})"
    if k in ("maxpool2d", "avgpool2d"):
        return f"{k} k{node.kernel_size[0]} s{node.stride[0]}"
    if k == "activation":
        return node.function
    if k == "batchnorm":
        return f"batchnorm{node.dims}d"
    return k


__all__ = ["describe_node", "fmt_int", "fmt_macs", "fmt_value"]
