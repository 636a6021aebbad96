"""A lazy name → object registry: entries are ``"module:attribute"`` strings imported on first lookup.

Why lazy: ``snnc targets`` or ``snnc train --help`` must not import torch, snnTorch or MemTorch just to list
names; an entry's module is imported only when that entry is used.
"""

from __future__ import annotations

import importlib
from typing import Generic, Iterator, Mapping, TypeVar

from .errors import UnsupportedError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects named by ``"package.module:attribute"`` and loaded on first use.

    Args:
        what: what the entries are, for messages (``"target"``, ``"training method"``).
        entries: name → ``"module:attribute"``, in the order they are listed.
    """

    def __init__(self, what: str, entries: Mapping[str, str]):
        self.what = what
        self._paths = dict(entries)
        self._loaded: dict[str, T] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def names(self) -> tuple[str, ...]:
        """The registered names, in order."""
        return tuple(self._paths)

    def get(self, name: str) -> T:
        """The object registered as ``name``, imported now if it was not yet.

        Raises:
            UnsupportedError: an unknown name (with did-you-mean and the list of names).
        """
        if name not in self._paths:
            raise UnsupportedError(f"unknown {self.what} '{name}'.{did_you_mean(str(name), self._paths)} "
                                   f"Choose one of: {', '.join(self._paths)}")
        if name not in self._loaded:
            module, _, attr = self._paths[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attr)
        return self._loaded[name]

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, object)`` for every entry (imports them all)."""
        return ((name, self.get(name)) for name in self._paths)
