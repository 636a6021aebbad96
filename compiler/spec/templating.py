"""``${expr}`` parameter substitution, with sandboxed Jinja2 expressions (never Python ``eval``).

A string that is exactly ``${expr}`` becomes the expression's value with its type (``${channels * 2}`` → 128);
a string with ``${expr}`` inside other text is interpolated (``"conv${i}"`` → ``"conv3"``). Expressions are
Jinja2 expressions evaluated in an immutable sandbox with ``StrictUndefined``: arithmetic, comparisons,
``a if cond else b``, lists and a few safe filters; no attribute access to Python internals, no calls that
mutate, and an unknown name is an error that lists the parameters in scope.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

from ..errors import did_you_mean

_FULL = re.compile(r"^\$\{(.+)\}$", re.DOTALL)
_PART = re.compile(r"\$\{([^{}]+)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JINJA_WORDS = frozenset({"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if",
                          "else"})
"""Words Jinja2 reads as literals or operators, never as a parameter's name."""


@lru_cache(maxsize=1)
def _environment():
    """The sandbox, built on first use. Why lazily: most specs hold no expression, and importing Jinja2 is a
    good part of ``snnc validate``'s start-up time."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined)


class TemplateProblem(Exception):
    """An expression could not be evaluated. ``path`` is relative to the value substituted."""

    def __init__(self, message: str, hint: str, path: tuple = ()):
        super().__init__(message)
        self.message, self.hint, self.path = message, hint, path


@lru_cache(maxsize=4096)
def _compile(expr: str) -> Callable[..., Any]:
    return _environment().compile_expression(expr, undefined_to_none=False)


def evaluate(expr: str, scope: dict[str, Any]) -> Any:
    """Evaluate one expression in ``scope``.

    Raises:
        TemplateProblem: syntax errors and unknown names (with a did-you-mean over ``scope``).
    """
    name = expr.strip()
    if _NAME.match(name) and name in scope and name not in _JINJA_WORDS:
        return scope[name]  # a bare parameter: the value Jinja2 would give, without compiling an expression
    from jinja2 import StrictUndefined, TemplateError, UndefinedError

    try:
        value = _compile(name)(**scope)
    except UndefinedError as exc:
        m = re.search(r"'([^']+)' is undefined", str(exc))
        name = m.group(1) if m else "?"
        known = ", ".join(sorted(scope)) or "none"
        raise TemplateProblem(f"unknown parameter '{name}' in '${{{expr}}}'.{did_you_mean(name, scope)}",
                              f"parameters in scope: {known}") from None
    except TemplateError as exc:
        raise TemplateProblem(f"cannot evaluate '${{{expr}}}': {exc}",
                              "write an expression such as ${channels * 2} or ${2 if i == 0 else 1}") from None
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError) as exc:
        raise TemplateProblem(f"cannot evaluate '${{{expr}}}': {exc}", "check the parameter values") from None
    if isinstance(value, StrictUndefined):  # a bare unknown name evaluates to Undefined without raising
        name = getattr(value, "_undefined_name", None) or expr.strip()
        known = ", ".join(sorted(scope)) or "none"
        raise TemplateProblem(f"unknown parameter '{name}' in '${{{expr}}}'.{did_you_mean(name, scope)}",
                              f"parameters in scope: {known}")
    return value


def has_template(value: Any) -> bool:
    """Whether ``value`` (any nesting of lists/dicts) contains a ``${...}`` string."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    return False


def substitute(value: Any, scope: dict[str, Any], path: tuple = ()) -> Any:
    """Replace every ``${...}`` in ``value`` (recursively) using ``scope``.

    Args:
        value: plain data from YAML.
        scope: parameter name → value.
        path: where ``value`` sits (for error locations).

    Raises:
        TemplateProblem: with ``path`` set to the offending value.
    """
    if isinstance(value, str):
        full = _FULL.match(value)
        try:
            if full and "${" not in full.group(1):
                return evaluate(full.group(1), scope)
            if "${" in value:
                return _PART.sub(lambda m: str(evaluate(m.group(1), scope)), value)
        except TemplateProblem as exc:
            raise TemplateProblem(exc.message, exc.hint, path) from None
        return value
    if isinstance(value, list):
        return [substitute(v, scope, path + (i,)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute(v, scope, path + (k,)) for k, v in value.items()}
    return value
