"""Typer options generated from a pydantic model's fields: the model says each setting's name, type, default,
bounds and help (``Field(description=...)``); a command lists which fields it offers, in its ``--help`` order.

Why: ``snnc train`` offered two dozen options written out beside :class:`~snnc.runtime.config.TrainConfig`, each
repeating a field's name, default and meaning, so the two drifted. Values are still validated by the model (one
error naming the setting, with did-you-mean), never by click, so the command line and the Python API refuse the
same things with the same words.

How a field becomes an option (:func:`option_for`):

* ``batch_size`` → ``--batch-size``; a ``dict`` field ``loss_options`` → ``--loss-option name=value``
  (repeatable, read by :func:`snnc.quick.parse_params`); a bool that defaults to true, ``plots`` → ``--no-plots``
  ("do not write PNG plots"), one that defaults to false, ``compile`` → ``--compile``;
* the help is the field's description, with ``(default: VALUE)`` added when the default is not None and the
  description does not already say its default;
* an option not given is None and left out of the settings, so the model's default (or a resumed run's value)
  applies.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import typer

from snnc.formatting import fmt_value
from snnc.quick import parse_params


@dataclass(frozen=True)
class Setting:
    """One field of the model offered as an option.

    Attributes:
        field: the model's field name.
        short: more names of the option (``-e``).
        type: the option's type on the command line when not the field's (``Path`` for a path kept as a string).
        option: a ready-made option to use instead of a generated one (one shared with other commands).
    """

    field: str
    short: tuple[str, ...] = ()
    type: Any = None
    option: Any = None

    def __init__(self, field: str, *short: str, type: Any = None, option: Any = None) -> None:
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "short", short)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "option", option)


def _base_type(annotation: Any) -> Any:
    """The field's type without ``Optional``; a ``Literal`` of strings as ``str``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Union and len(args) == 1:
        return _base_type(args[0])
    if typing.get_origin(annotation) is typing.Literal:
        return type(args[0])
    return typing.get_origin(annotation) or annotation


def option_for(model: type, setting: Setting) -> tuple[Any, Any]:
    """``(annotation, typer option)`` of ``setting``'s field of ``model`` (see the module docstring)."""
    info = model.model_fields[setting.field]
    base = _base_type(info.annotation)
    dashed = setting.field.replace("_", "-")
    text = info.description or ""
    default = info.get_default(call_default_factory=True)
    if base is dict:
        annotation, name = Optional[list[str]], "--" + dashed.removesuffix("s")
        text += " (name=value, repeatable)"
    elif base is bool:
        annotation, name = bool, ("--no-" if default else "--") + dashed
        text = "do not " + text if default else text
    else:
        annotation, name = Optional[setting.type or base], "--" + dashed
        if default is not None and "default" not in text:
            text += f" (default: {fmt_value(default)})"
    if setting.option is not None:
        return annotation, setting.option
    return annotation, typer.Option(False if base is bool else None, name, *setting.short, help=text,
                                    show_default=False)


def settings_of(model: type, setting: Setting, value: Any) -> Any:
    """The setting's value for the model from its option's value (None: not given)."""
    info = model.model_fields[setting.field]
    base = _base_type(info.annotation)
    if base is dict:
        return parse_params(value) or None
    if base is bool:
        return (not info.get_default()) if value else None
    return str(value) if isinstance(value, Path) else value


def with_settings(model: type, order: Sequence[Union[Setting, str]]) -> Callable[[Callable], Callable]:
    """A decorator: the command takes ``model``'s fields named in ``order`` as options, and its own parameters
    (the names in ``order``, plus any arguments, which come first) as written; it receives the given settings as
    ``settings``, a dict of field → value (the options not given left out).

    Args:
        model: the pydantic model whose fields become options.
        order: the ``--help`` order: a :class:`Setting` for a field, a string for a parameter of the command.
    """

    def decorate(fn: Callable) -> Callable:
        own = inspect.signature(fn, eval_str=True).parameters
        named = {s.field: s for s in order if isinstance(s, Setting)}
        params = [p for p in own.values() if p.name != "settings" and p.name not in order]
        for entry in order:
            if isinstance(entry, str):
                params.append(own[entry].replace(kind=inspect.Parameter.KEYWORD_ONLY))
                continue
            annotation, option = option_for(model, entry)
            params.append(inspect.Parameter(entry.field, inspect.Parameter.KEYWORD_ONLY, default=option,
                                            annotation=annotation))

        def command(*args: Any, **kwargs: Any) -> Any:
            given = {k: settings_of(model, named[k], kwargs.pop(k)) for k in list(kwargs) if k in named}
            return fn(*args, **kwargs, settings={k: v for k, v in given.items() if v is not None})

        command.__name__, command.__qualname__, command.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        command.__module__ = fn.__module__
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


__all__ = ["Setting", "option_for", "settings_of", "with_settings"]
