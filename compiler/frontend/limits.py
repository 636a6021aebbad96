"""Sizes and limits: the memory limit (``--max-memory`` / ``SNNC_MAX_MEMORY``), and the checks run on a lowered
graph before anything is allocated — its parameters and one sample's activations against the limit, and a
classifier's output against ``task.classes``.

Why a module of its own: the command line parses sizes (``snnc validate --max-memory 2G``) with the same rule the
front end applies, and neither needs the expander or the lowering table for it.
"""

from __future__ import annotations

import os

from ..errors import SpecError
from ..ir import Graph
from ..ir.costs import graph_costs

DEFAULT_MAX_MEMORY = 8 << 30
"""Default memory limit (bytes) for parameters, and separately for one sample's activations (float32)."""

BYTES_PER_VALUE = 4


def max_memory_from_env() -> int:
    """The memory limit: ``SNNC_MAX_MEMORY`` (bytes, or with a K/M/G suffix) or :data:`DEFAULT_MAX_MEMORY`."""
    raw = os.environ.get("SNNC_MAX_MEMORY", "").strip()
    if not raw:
        return DEFAULT_MAX_MEMORY
    return parse_size(raw)


def parse_size(text: str) -> int:
    """Parse ``"8G"``, ``"512M"``, ``"1024"`` into bytes.

    Raises:
        ValueError: not a size.
    """
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "KMGT" else t
    value = float(num)
    if value <= 0:
        raise ValueError(f"not a positive size: {text!r}")
    return int(value * mult)


def check_task(graph: Graph, origins: dict, source) -> None:
    """Refuse a classifier whose single output does not give ``(task.classes,)``.

    Raises:
        SpecError: located at the output layer.
    """
    if graph.task.kind != "classification" or len(graph.outputs) != 1:
        return
    out = graph.node(graph.outputs[0])
    if tuple(out.shape) != (graph.task.classes,):
        raise SpecError([source.diagnostic(origins[out.name].path, f"the output '{out.name}' gives shape "
                                                                   f"{list(out.shape)}, but the task has "
                                                                   f"{graph.task.classes} classes",
                                           f"end with a layer of {graph.task.classes} outputs (e.g. linear "
                                           f"out_features: {graph.task.classes}) or fix task.classes")])


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def check_memory(graph: Graph, origins: dict, source, limit: int) -> None:
    """Refuse a model whose parameters, or one sample's activations, would need more than ``limit`` bytes.

    Raises:
        SpecError: one diagnostic per exceeded total, located at its largest node.
    """
    costs = graph_costs(graph)
    params = sum(c.params for c in costs.values()) * BYTES_PER_VALUE
    acts = sum(c.activations for c in costs.values()) * BYTES_PER_VALUE
    problems = []
    for what, total, key in (("parameters", params, "params"), ("activations of one sample", acts, "activations")):
        if total > limit:
            name, worst = max(costs.items(), key=lambda kv: getattr(kv[1], key))
            problems.append(source.diagnostic(
                origins[name].path, f"the model's {what} would need {_gib(total)} (float32), over the limit of "
                                    f"{_gib(limit)}; the largest is '{name}' with {getattr(worst, key):,} values",
                "check the sizes for a typo, or raise the limit with --max-memory / SNNC_MAX_MEMORY"))
    if problems:
        raise SpecError(problems)
