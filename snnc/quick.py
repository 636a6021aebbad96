"""What the command line needs before typer and rich: option values (:func:`parse_params`,
:func:`parse_max_memory`) and ``snnc validate``'s work; number formats come from :mod:`snnc.formatting`.
:func:`try_validate` runs a plain ``snnc validate SPEC`` without importing typer or rich (a fifth of the command's
start-up); anything it does not recognise, and every error, goes to the full command line instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from snnc.compiler.errors import SnncError
from snnc.formatting import fmt_int, fmt_macs, fmt_value  # noqa: F401  (fmt_value: re-exported)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["width=32", "depth=4"]`` → ``{"width": 32, "depth": 4}`` (values read as YAML scalars, safely).

    Raises:
        SnncError: an item without ``=``.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SnncError(f"--param expects name=value, got '{item}'")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def parse_max_memory(text: Optional[str]) -> Optional[int]:
    """``--max-memory`` (``512M``, ``2G``) in bytes, or None when not given."""
    if text is None:
        return None
    from snnc.compiler.frontend import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise SnncError(f"--max-memory expects a size such as 512M or 2G, got '{text}'") from None


def validate_report(spec: Path, params: dict[str, Any], max_memory: Optional[int]) -> tuple[str, str]:
    """Check a spec; return ``(display name, facts)`` for the success line.

    Raises:
        SpecError: the spec is invalid (located diagnostics).
    """
    from snnc.compiler.ir.costs import graph_costs
    from snnc.compiler.pipeline import build_graph

    graph = build_graph(spec, params, max_memory=max_memory)
    costs = graph_costs(graph)
    out = graph.node(graph.outputs[0])
    return graph.name, (f"{len(graph.nodes)} nodes, {fmt_int(sum(c.params for c in costs.values()))} parameters, "
                        f"{fmt_macs(sum(c.macs for c in costs.values()))} MACs, output {list(out.shape)}")


def _validate_args(argv: list[str]) -> Optional[tuple[str, list[str], Optional[str]]]:
    """``(spec, params, max_memory)`` of ``validate SPEC [-p K=V]... [--max-memory SIZE]``, or None for anything
    else (help, unknown options, a second argument)."""
    if not argv or argv[0] != "validate":
        return None
    spec, params, max_memory = None, [], None
    rest = iter(argv[1:])
    for arg in rest:
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in ("--param", "-p", "--max-memory"):
            if not eq:
                value = next(rest, None)
                if value is None:
                    return None
            if name == "--max-memory":
                max_memory = value
            else:
                params.append(value)
        elif arg.startswith("-") or spec is not None:
            return None
        else:
            spec = arg
    return None if spec is None else (spec, params, max_memory)


def _colour(stream) -> bool:
    """Whether to colour ``stream`` as rich would (a terminal; ``NO_COLOR`` and ``FORCE_COLOR`` respected)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM", "") not in ("dumb", "unknown")


def try_validate(argv: list[str]) -> bool:
    """Run ``snnc validate`` if ``argv`` is a plain, valid one and return True; otherwise do nothing and return
    False (the full command line then runs it, and reports any error its usual way)."""
    parsed = _validate_args(argv)
    if parsed is None or os.environ.get("SNNC_DEBUG"):
        return False
    spec, params, max_memory = parsed
    try:
        "✓—".encode(sys.stdout.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    spec = Path(spec)
    try:
        name, facts = validate_report(spec, parse_params(params), parse_max_memory(max_memory))
    except Exception:  # reported by the full command line, which checks the spec again
        return False
    tick, bold, reset = ("\x1b[32m✓\x1b[0m", "\x1b[1m", "\x1b[0m") if _colour(sys.stdout) else ("✓", "", "")
    print(f"{tick} {spec}: {bold}{name}{reset} — {facts}", flush=True)
    return True
