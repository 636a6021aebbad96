"""The mnn target: a trained network's conv and linear layers on memristive crossbars simulated by MemTorch.

See ``docs/mnn.md``. The options (:class:`MnnOptions`) need neither torch nor MemTorch; everything else is
imported on first use (``from snnc.compiler.targets.mnn import build_mnn``), and MemTorch only when a network is
built (it is the optional ``mnn`` extra).
"""

from __future__ import annotations

import importlib
from typing import Any

from .options import CrossbarOptions, MnnOptions, NonIdealities, resolve_options

_LAZY = {
    "build_mnn": ".build", "to_mnn": ".build", "MnnBuild": ".build", "LayerReport": ".build",
    "require_memtorch": ".build", "crossbar_modules": ".build", "INSTALL_COMMAND": ".build",
    "CrossbarLinear": ".engine", "CrossbarConv2d": ".engine", "crossbar_state": ".engine",
    "load_crossbars": ".engine", "from_memtorch": ".engine",
    "crossbar_cost": ".cost", "geometry_from_graph": ".cost", "CrossbarGeometry": ".cost",
    "CrossbarEnergy": ".cost",
    "AXES": ".sweep", "plan_sweep": ".sweep", "SweepPlan": ".sweep", "axis_override": ".sweep",
}
# The sweep that runs networks and scores them is the runtime's: snnc.runtime.sweep.mnn_sweep.

__all__ = ["CrossbarOptions", "MnnOptions", "NonIdealities", "resolve_options", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
