"""The targets snnc compiles to, by name: the only place a target is chosen by its name.

Each entry is a :class:`~snnc.compiler.targets.base.Target` object, imported on first lookup.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Target

TARGETS: Registry[Target] = Registry("target", {
    "ann": "snnc.compiler.targets.ann:TARGET",
    "snn": "snnc.compiler.targets.snn.target:TARGET",
    "burst": "snnc.compiler.targets.burst.target:TARGET",
    "mnn": "snnc.compiler.targets.mnn.target:TARGET",
})
"""Target name → :class:`Target`."""


def get_target(target: "str | Target") -> Target:
    """The target object for a name (a :class:`Target` is returned as is), after checking it is available.

    Raises:
        UnsupportedError: an unknown name (with did-you-mean). BackendUnavailable: a missing optional dependency.
    """
    obj = target if isinstance(target, Target) else TARGETS.get(target)
    obj.check_available()
    return obj
