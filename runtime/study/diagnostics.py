"""Located errors of a study file: :class:`StudyError`, and pydantic errors turned into diagnostics.

A study's problems read like a spec's (``study.yaml:4:12: grid.targets[1]: unknown target 'snnn'. Did you
mean 'snn'?``): the path is written the user's way, the position comes from
:class:`~snnc.compiler.spec.yaml_source.SpecSource`, and unknown keys get a did-you-mean over the keys allowed
there.
"""

from __future__ import annotations

import typing
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from snnc.compiler.errors import Diagnostic, SpecError, did_you_mean
from snnc.compiler.spec.yaml_source import SpecSource


class StudyError(SpecError):
    """A study file is invalid. Carries every problem found (its ``diagnostics``), each located.

    It is a :class:`~snnc.compiler.errors.SpecError` (a handler of spec errors shows it the same way); its
    message says "in the study".
    """

    subject = "study"

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        super().__init__(diagnostics)
        n = len(self.diagnostics)
        self.args = (f"{n} problem{'s' if n != 1 else ''} in the study:\n"
                     + "\n".join(d.render() for d in self.diagnostics),)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``list[Annotated[X, ...]]``, ``Optional[X]`` or ``X``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys allowed in the mapping at ``loc`` inside data validated by ``model`` (empty when unknown).

    Args:
        model: the root model.
        loc: a pydantic location (field names and list indices).
    """
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part) if current is not None else None
        if info is None:
            return []
        current = _inner_model(info.annotation)
    return list(current.model_fields) if current is not None else []


def data_path(loc: Sequence[Any], data: Any, keep_last: bool) -> tuple:
    """The part of ``loc`` that exists in ``data`` (pydantic adds the fields of a shorthand such as
    ``targets: [ann]`` → ``name``); with ``keep_last``, also the missing or extra key it ends with."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        present = ((isinstance(node, dict) and isinstance(part, str) and part in node)
                   or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)))
        if not present:
            if keep_last and i == len(loc) - 1:
                out.append(part)
            break
        out.append(part)
        node = node[part]
    return tuple(out)


def _describe(err: dict, loc: tuple, model: type[BaseModel]) -> tuple[str, str, bool]:
    """(message, hint, point at the key) for one pydantic error."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = fields_at(model, loc[:-1])
        return (f"unknown key '{loc[-1]}'.{did_you_mean(str(loc[-1]), allowed)}",
                "allowed keys here: " + ", ".join(allowed) if allowed else "remove it", True)
    if kind == "missing":
        return f"missing required key '{loc[-1]}'", f"add '{loc[-1]}: ...'", False
    if "hint" in ctx:  # our own errors (PydanticCustomError) carry their fix
        return err["msg"], str(ctx["hint"]), False
    if kind == "string_pattern_mismatch":
        return (f"'{err.get('input')}' is not a valid label", "labels name directories: letters, digits and "
                "'_ . = + -'", False)
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, "), "", False
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    return err["msg"] + shown, "", False


def pydantic_diagnostics(exc: ValidationError, data: Any, source: SpecSource, model: type[BaseModel],
                         prefix: tuple = ()) -> list[Diagnostic]:
    """Located diagnostics of a ``ValidationError`` raised validating ``data`` with ``model``.

    Args:
        exc: the error.
        data: the data validated (found at ``prefix`` in the file).
        source: the file's text and positions.
        model: the model that validated ``data`` (for the keys allowed where one is unknown).
        prefix: where ``data`` sits in the file (``("grid", "recipes", 0)``).

    Returns:
        One diagnostic per problem (a problem reported twice at one place is kept once).
    """
    out: list[Diagnostic] = []
    seen: set[tuple] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = data_path(loc, data, keep_last=err["type"] in ("missing", "extra_forbidden"))
        message, hint, key = _describe(err, loc, model)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        out.append(source.diagnostic(prefix + path, message, hint, key=key))
    return out
