"""Replacing modules wherever a network references them, fx programs included (no MemTorch here).

Why: a spiking module (``SpikingModule``) keeps fx programs in a tuple attribute that reference its submodules
directly; setting ``network.conv1 = new`` would leave the programs running the old layer. These helpers walk
children *and* modules held in tuples or lists of attributes, and swap by identity.
"""

from __future__ import annotations

from typing import Any, Iterator

from torch import nn


def replace_modules(root: nn.Module, mapping: dict[int, nn.Module]) -> int:
    """Replace every reference to a module whose id is in ``mapping`` by its new module, in ``root``'s children
    and in modules held in tuples or lists of its attributes (a spiking module's fx programs). Returns the count."""
    seen: set[int] = set()
    count = 0

    def visit(m: Any) -> None:
        nonlocal count
        if isinstance(m, (tuple, list)):
            for item in m:
                visit(item)
            return
        if not isinstance(m, nn.Module) or id(m) in seen:
            return
        seen.add(id(m))
        for name, child in list(m._modules.items()):
            if child is not None and id(child) in mapping:
                m._modules[name] = mapping[id(child)]
                count += 1
            else:
                visit(child)
        for value in vars(m).values():
            if isinstance(value, (tuple, list)):
                visit(value)

    visit(root)
    return count


def reachable_modules(root: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Every module reachable from ``root`` through children and through tuples/lists of modules."""
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        name, m = stack.pop()
        if isinstance(m, (tuple, list)):
            stack.extend((name, item) for item in m)
            continue
        if not isinstance(m, nn.Module) or id(m) in seen:
            continue
        seen.add(id(m))
        yield name, m
        stack.extend((f"{name}.{n}" if name else n, c) for n, c in m._modules.items() if c is not None)
        stack.extend((name, v) for v in vars(m).values() if isinstance(v, (tuple, list)))
