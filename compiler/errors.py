"""The one exception hierarchy of snnc.

Every error a user can cause derives from :class:`SnncError`; the CLI maps these to a message on stderr
and a non-zero exit code (no traceback unless ``SNNC_DEBUG=1``). Bugs in snnc itself are
:class:`InternalError`, so a user never mistakes our mistake for theirs.

This module imports nothing heavy: the spec and IR layers use it without importing torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Sequence


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return " Did you mean 'x'?" for the closest of ``choices``, or "" when none is close.

    Args:
        word: what the user wrote.
        choices: the valid names.
    """
    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=3, cutoff=0.6)
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean '{close[0]}'?"
    return " Did you mean " + ", ".join(f"'{c}'" for c in close[:-1]) + f" or '{close[-1]}'?"


def format_path(path: Sequence[str | int]) -> str:
    """Render a spec path such as ``("layers", 3, "kernel_size")`` as ``layers[3].kernel_size``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec: what is wrong, where, and how to fix it.

    Attributes:
        message: what is wrong, in the user's words.
        path: the location inside the spec, e.g. ``("layers", 3, "kernel_size")``.
        hint: what to do about it (may be empty).
        file: the spec file name (or ``<string>``).
        line: 1-based line, or 0 when unknown.
        column: 1-based column, or 0 when unknown.
        source_line: the text of that line, shown with a caret under ``column``.
    """

    message: str
    path: tuple[str | int, ...] = ()
    hint: str = ""
    file: str = "<string>"
    line: int = 0
    column: int = 0
    source_line: str = ""

    @property
    def location(self) -> str:
        """``file:line:column`` (or just the file when the position is unknown)."""
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file

    def render(self) -> str:
        """A multi-line, human-readable rendering (no colour)."""
        head = f"{self.location}: {format_path(self.path)}: {self.message}" if self.path else (
            f"{self.location}: {self.message}"
        )
        lines = [head]
        if self.source_line:
            lines.append(f"    {self.source_line.rstrip()}")
            if self.column:
                lines.append("    " + " " * (self.column - 1) + "^")
        if self.hint:
            lines.append(f"  fix: {self.hint}")
        return "\n".join(lines)


class SnncError(Exception):
    """Base class of every error a user can cause."""


class SpecError(SnncError):
    """A spec is invalid. Carries every problem found, not just the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        n = len(self.diagnostics)
        summary = f"{n} problem{'s' if n != 1 else ''} in the spec"
        super().__init__(summary + ":\n" + "\n".join(d.render() for d in self.diagnostics))


class UnsupportedError(SnncError):
    """An operation or node kind that a target cannot handle (names the node, the op and what to do).

    Attributes:
        blockers: every node that blocks the operation, when it was checked node by node (see :func:`blocked`).
    """

    def __init__(self, message: str, blockers: Sequence["Blocker"] = ()):
        super().__init__(message)
        self.blockers: tuple[Blocker, ...] = tuple(blockers)


@dataclass(frozen=True)
class Blocker:
    """One node that keeps a network from a target or format, and the spec change that would lift it.

    Attributes:
        node: the node's name (``layer1.0.bn1``).
        op: what it is, in the spec's words (``maxpool2d``, ``spike (reset: subtract)``).
        reason: why the target cannot express it.
        fix: the spec change that would let it through (``kind: avgpool2d``).
    """

    node: str
    op: str
    reason: str
    fix: str


def _names(names: Sequence[str], shown: int) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def blocked(subject: str, blockers: Sequence[Blocker], *, otherwise: str = "", names_shown: int = 8
            ) -> UnsupportedError:
    """One error for every blocker, grouped by cause: a line per (op, reason), then its fix, not one per node.

    Nodes of one cause whose fixes differ (an avgpool2d kernel that depends on the input size) share the cause's
    line; each fix then names its nodes.

    Args:
        subject: what was attempted (``cannot export resnet18 to NIR``).
        blockers: every blocking node, in graph order (at least one).
        otherwise: a closing line (what works instead), or "".
        names_shown: node names listed per line before "and N more" (the error's ``blockers`` keeps all).

    Returns:
        The :class:`UnsupportedError` to raise; its ``blockers`` are ``blockers``.
    """
    causes: dict[tuple[str, str], dict[str, list[str]]] = {}
    for b in blockers:
        causes.setdefault((b.op, b.reason), {}).setdefault(b.fix, []).append(b.node)
    count = len({b.node for b in blockers})
    head = f"{subject}: {count} node{'s' if count != 1 else ''} block{'s' if count == 1 else ''} it"
    lines = [head + (f", for {len(causes)} reasons:" if len(causes) > 1 else ":")]
    for (op, reason), fixes in causes.items():
        names = [name for group in fixes.values() for name in group]
        which = f"node '{names[0]}'" if len(names) == 1 else f"{len(names)} nodes ({_names(names, names_shown)})"
        lines.append(f"  {op}, {which}: {reason}")
        for fix, group in fixes.items():
            lines.append(f"    fix: {fix}" + (f" ({_names(group, names_shown)})" if len(fixes) > 1 else ""))
    if otherwise:
        lines.append(otherwise)
    return UnsupportedError("\n".join(lines), blockers)


class BackendUnavailable(SnncError):
    """An optional dependency is missing; the message carries the command that installs it."""


class DataError(SnncError):
    """A dataset or checkpoint is missing or malformed (says which files are needed and where)."""


class TrainingDiverged(SnncError):
    """Training produced a non-finite loss; the last good checkpoint is kept."""


class TrainingInterrupted(SnncError):
    """Training stopped on request (Ctrl-C) after saving a resumable checkpoint; the message says how to resume."""


class DistributedError(SnncError):
    """A multi-process run failed: not started by torchrun, no rendezvous, or another rank died or stalled."""


class InternalError(Exception):
    """A bug in snnc (for example a pass that broke an IR invariant). Not a user error."""


@dataclass
class Problems:
    """A collector for diagnostics: add problems as they are found, raise once at the end."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(self.items)
