"""Names for the modules the burst conversion adds at call sites (neurons, LIPools, folded layers)."""

from __future__ import annotations

import re
from typing import Any

from torch import fx, nn


class SiteNamer:
    """Chooses module names for new modules at call sites, never clashing with existing attributes.

    A module called at one site keeps its name (so ``features.1`` stays ``features.1`` and an ann-target
    spike node keeps its IR name); a module called at ``n`` sites gives ``name_0`` ... ``name_{n-1}``; a
    function or method gets ``<scope>.<op>``, where scope is the module whose ``forward`` made the call.
    """

    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.taken: set[str] = {name for name, _ in gm.named_modules()}
        self.taken |= {name for name, _ in gm.named_parameters()} | {name for name, _ in gm.named_buffers()}
        self.sites: dict[str, list[fx.Node]] = {}
        for node in gm.graph.nodes:
            if node.op == "call_module":
                self.sites.setdefault(node.target, []).append(node)
        self.assigned: set[str] = set()

    def name(self, node: fx.Node) -> str:
        """A fresh module name for the new module that replaces ``node``."""
        if node.op == "call_module":
            sites = self.sites.get(node.target, [node])
            if len(sites) == 1 and node.target not in self.assigned:
                self.assigned.add(node.target)
                return node.target
            candidate = f"{node.target}_{sites.index(node)}"
        else:
            stack = node.meta.get("nn_module_stack") or {}
            scope = ""
            if stack:
                last = list(stack.values())[-1]
                scope = last[0] if isinstance(last, tuple) else str(list(stack.keys())[-1])
            base = re.sub(r"_\d+$", "", node.name)
            candidate = f"{scope}.{base}" if scope else base
        return self._fresh(candidate)

    def _fresh(self, candidate: str) -> str:
        name, k = candidate, 1
        while name in self.taken or self._is_attribute(name):
            name = f"{candidate}_{k}"
            k += 1
        self.assigned.add(name)
        self.taken.add(name)
        return name

    def _is_attribute(self, path: str) -> bool:
        """Whether ``path`` (or a prefix of it) already names a non-module attribute, e.g. ``forward``."""
        owner: Any = self.gm
        for part in path.split("."):
            if not hasattr(owner, part):
                return False
            owner = getattr(owner, part)
            if not isinstance(owner, nn.Module):
                return True
        return True
