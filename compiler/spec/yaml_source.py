"""Safe YAML reading that remembers where every value came from.

The spec is read with PyYAML's *safe* composer, then turned into plain Python data by hand, so that:

* only the standard YAML tags (null, bool, int, float, str, seq, map) are accepted — no Python tags;
* aliases are bounded: the number of nodes built (aliases expanded) is capped, so a "billion laughs" file
  fails fast instead of exhausting memory;
* the file size is bounded before it is parsed;
* every value's position is kept in a map from spec path (``("layers", 3, "kernel_size")``) to
  ``(line, column)``, which the diagnostics use to point at the line to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Diagnostic, SpecError

MAX_SPEC_BYTES = 1 << 20
"""Largest spec file read (1 MiB): specs are short; anything bigger is a mistake or an attack."""

MAX_NODES = 200_000
"""Largest number of YAML nodes built, aliases expanded (bounds alias bombs)."""

_SAFE_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}

Path_ = tuple  # a spec path: tuple of str (mapping keys) and int (list indices)


@dataclass
class SpecSource:
    """A spec's text, its file name and the position of every value.

    Attributes:
        text: the YAML text.
        file: the name shown in diagnostics.
        positions: spec path → (line, column), both 1-based, of the value (or key, for mappings' keys).
        key_positions: spec path → (line, column) of the *key* that introduced the value.
    """

    text: str
    file: str = "<string>"
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    delegates: dict[tuple, "SpecSource"] = field(default_factory=dict)
    """Spec path prefix → the source (a file this one ``extends``) where the values below it were written."""

    def owner(self, path: tuple) -> "SpecSource":
        """The source that wrote ``path``: this one, or the extended file it came from."""
        p = tuple(path)
        for n in range(len(p), 0, -1):
            if p[:n] in self.delegates:
                return self.delegates[p[:n]].owner(p)
        return self

    def locate(self, path: tuple, *, key: bool = False) -> tuple[int, int]:
        """Best known position of ``path``: the exact one, else that of its nearest ancestor.

        Args:
            path: the spec path.
            key: prefer the position of the key that introduced the value (for "unknown key" errors).
        """
        p = tuple(path)
        while True:
            if key and p in self.key_positions:
                return self.key_positions[p]
            if p in self.positions:
                return self.positions[p]
            if p in self.key_positions:
                return self.key_positions[p]
            if not p:
                return (0, 0)
            p = p[:-1]

    def diagnostic(self, path: tuple, message: str, hint: str = "", *, key: bool = False,
                   at: tuple[int, int] | None = None) -> Diagnostic:
        """A :class:`Diagnostic` at ``path`` (or at the explicit position ``at``) with the source line filled in."""
        owner = self.owner(path) if at is None else self
        if owner is not self:
            return owner.diagnostic(path, message, hint, key=key)
        line, column = at or self.locate(path, key=key)
        lines = self.text.splitlines()
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        return Diagnostic(message=message, path=tuple(path), hint=hint, file=self.file, line=line,
                          column=column, source_line=source_line)


def read_spec_text(path: str | Path) -> SpecSource:
    """Read a spec file's text, refusing files that are missing, binary or too large.

    Raises:
        SpecError: the file cannot be read or exceeds :data:`MAX_SPEC_BYTES`.
    """
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise SpecError([Diagnostic(f"no spec file at '{name}'", hint="check the path (specs live in specs/*.yaml)",
                                    file=name)])
    size = p.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError([Diagnostic(f"the spec is {size:,} bytes; the limit is {MAX_SPEC_BYTES:,}",
                                    hint="specs are short; use blocks and repeat instead of copies", file=name)])
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Diagnostic(f"the spec is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                    hint="save the file as UTF-8", file=name)]) from None
    return SpecSource(text=text, file=name)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML was built with it (several times faster), else the pure-Python one; both
keep the node positions the diagnostics need."""


def parse_yaml(source: SpecSource) -> Any:
    """Parse ``source.text`` safely into plain data, filling ``source.positions``.

    Returns:
        The document as dicts, lists and scalars (``{}`` for an empty document).

    Raises:
        SpecError: YAML syntax errors, unsafe tags, merge keys, duplicate keys, non-string keys or too many
            nodes, each located at its line and column.
    """
    if len(source.text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise SpecError([Diagnostic(f"the spec is larger than {MAX_SPEC_BYTES:,} bytes",
                                    hint="specs are short; use blocks and repeat instead of copies",
                                    file=source.file)])
    loader = _LOADER(source.text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = " ".join(str(s) for s in (exc.context, exc.problem) if s)
        lines = source.text.splitlines()
        raise SpecError([Diagnostic(f"YAML syntax error: {what}", hint="fix the YAML syntax at this position "
                                    "(indentation, a missing ':' or an unclosed bracket or quote)",
                                    file=source.file, line=line, column=col,
                                    source_line=lines[line - 1] if 0 < line <= len(lines) else "")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(f"YAML error: {exc}", file=source.file)]) from None
    finally:
        loader.dispose()
    if root is None:
        return {}
    builder = _Builder(loader, source)
    data = builder.build(root, ())
    if builder.problems:
        raise SpecError(builder.problems)
    return data


class _Builder:
    """Turns a composed YAML node tree into plain data, recording positions and problems."""

    def __init__(self, loader: yaml.SafeLoader, source: SpecSource):
        self.loader = loader
        self.source = source
        self.count = 0
        self.problems: list[Diagnostic] = []

    def _problem(self, node: yaml.Node, path: tuple, message: str, hint: str) -> None:
        self.source.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        self.problems.append(self.source.diagnostic(path, message, hint))

    def build(self, node: yaml.Node, path: tuple) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError([self.source.diagnostic(
                path, f"the spec expands to more than {MAX_NODES:,} YAML values (aliases included)",
                "remove deeply nested anchors/aliases; use blocks with repeat instead")])
        self.source.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _SAFE_TAGS:
            self._problem(node, path, f"YAML tag '{node.tag}' is not allowed",
                          "specs are plain data: remove the tag (no !!python/... or custom tags)")
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                self._problem(node, path, f"bad scalar: {exc}", "write a plain number, string or boolean")
                return None
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._problem(key_node, path, "YAML merge keys ('<<') are not supported",
                              "use a block with parameters instead of merging mappings")
                continue
            key = self.build(key_node, path + ("<key>",)) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self._problem(key_node, path, f"mapping keys must be strings, not {type(key).__name__}",
                              "quote the key")
                continue
            child = path + (key,)
            kpos = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                self.problems.append(self.source.diagnostic(child, f"duplicate key '{key}'",
                                                            "remove one of the two entries", at=kpos))
                continue
            self.source.key_positions[child] = kpos
            out[key] = self.build(value_node, child)
        return out
