"""The pieces every ``snnc`` command shares: consoles, the error handler, the common options, the plain-flags
command classes, how a module declares its commands, and deprecated flag aliases.

Why a public module: command modules (:mod:`snnc.commands`) import these and never :mod:`snnc.cli`, which builds
the app from them, so registration goes one way (``cli`` → ``commands`` → ``clitools``) and no command module
reaches into another's private helpers.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from snnc.compiler.errors import InternalError, SnncError, SpecError, TrainingInterrupted
from snnc.formatting import fmt_value
from snnc.quick import parse_max_memory, parse_params

# Why: stdout wraps long lines at words to the terminal's width (80 columns when piped, or COLUMNS), as the
# tables fit it; messages on stderr stay whole lines (paths and errors one can copy and grep).
console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

EXIT_USER_ERROR = 1
EXIT_INTERNAL = 70


class PlainFlags:
    """A click command whose flags (``--help`` included) show no ``<bool>`` placeholder in help: typer gives every
    option a type label, which for a flag that takes no value reads as if it wanted one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option


class Group(PlainFlags, typer.core.TyperGroup):
    """A command group with plain flags (the ``snnc`` app, ``snnc study``)."""


class Command(PlainFlags, typer.core.TyperCommand):
    """A command with plain flags; :meth:`CommandSet.register` gives it to every command."""


class CommandSet:
    """The commands (and command groups) one module defines, in order, for :mod:`snnc.cli` to register.

    Why not ``@app.command`` in each module: the module would import the app from ``snnc.cli`` while ``snnc.cli``
    imports the module to register it, a cycle; a command set is filled by the module and read by the app.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, Optional[str], dict[str, Any], Any]] = []

    def command(self, name: Optional[str] = None, **kwargs: Any) -> Callable[[Callable], Callable]:
        """A decorator: ``fn`` becomes the command ``name`` (typer's ``app.command`` arguments)."""

        def record(fn: Callable) -> Callable:
            self._entries.append(("command", name, kwargs, fn))
            return fn

        return record

    def add_typer(self, group: typer.Typer, name: str) -> None:
        """A command group (a typer app with its own commands) under ``name``."""
        self._entries.append(("group", name, {}, group))

    @property
    def names(self) -> list[str]:
        """The names of the commands and groups, in order (a command without one is named after its function,
        as typer names it)."""
        return [name or obj.__name__.lower().replace("_", "-") for _, name, _, obj in self._entries]

    def register(self, app: typer.Typer) -> None:
        """Add the commands and groups to ``app``, in the order they were defined, each with plain flags."""
        for kind, name, kwargs, obj in self._entries:
            if kind == "group":
                app.add_typer(obj, name=name)
            else:
                app.command(name, **{"cls": Command, **kwargs})(obj)


def print_spec_error(exc: SpecError) -> None:
    """The problems of a spec (or of a study file: ``exc.subject``): location, path, message, the line, a caret,
    the fix."""
    from snnc.compiler.errors import format_path

    n = len(exc.diagnostics)
    subject = getattr(exc, "subject", "spec")
    err_console.print(f"[bold red]error[/]: {n} problem{'s' if n != 1 else ''} in the {subject}")
    for d in exc.diagnostics:
        path = f" [cyan]{escape(format_path(d.path))}[/]:" if d.path else ""
        err_console.print(f"[bold]{escape(d.location)}[/]:{path} {escape(d.message)}")
        if d.source_line:
            err_console.print(f"    {d.source_line.rstrip()}", markup=False)
            if d.column:
                err_console.print("    " + " " * (d.column - 1) + "[red]^[/]")
        if d.hint:
            err_console.print(f"  [green]fix[/]: {escape(d.hint)}")


def handle_errors(fn: Callable) -> Callable:
    """Run a command, turning snnc errors into a message and an exit code (tracebacks only with SNNC_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except TrainingInterrupted as exc:
            err_console.print(f"[yellow]interrupted[/]: {escape(str(exc).removeprefix('interrupted '))}")
            raise typer.Exit(130) from None
        except SpecError as exc:
            if os.environ.get("SNNC_DEBUG"):
                raise
            print_spec_error(exc)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except SnncError as exc:
            if os.environ.get("SNNC_DEBUG"):
                raise
            err_console.print(f"[bold red]error[/]: {escape(str(exc))}")
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: nothing was saved by this command")
            raise typer.Exit(130) from None
        except (InternalError, Exception) as exc:  # a bug in snnc, not the user's fault
            if os.environ.get("SNNC_DEBUG"):
                raise
            err_console.print(f"[bold red]internal error[/] ({type(exc).__name__}): {escape(str(exc))}\n"
                              "This is a bug in snnc. Run again with SNNC_DEBUG=1 for a traceback and report it.")
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


SpecArg = typer.Argument(..., help="the spec file (YAML)", show_default=False)
ParamOpt = typer.Option(None, "--param", "-p", help="override a spec parameter: name=value (repeatable)")
DeviceOpt = typer.Option(None, "--device", help="where to run: cpu, cuda or auto (cuda when torch sees a GPU); "
                         "default: cpu", show_default=False)
MaxMemOpt = typer.Option(None, "--max-memory", help="refuse models whose parameters or activations exceed this "
                                                   "size, e.g. 2G (default: SNNC_MAX_MEMORY or 8G)")
OptionOpt = typer.Option(None, "--option", "-O", help="a target option KEY=VALUE (repeatable; 'snnc targets' lists "
                         "each target's options)")


def target_options(target, items: list[str] | None, **flags: Any) -> dict[str, Any]:
    """The options of ``--option KEY=VALUE`` items and of the common flags given (those not None), validated by
    the target's options model.

    Raises:
        OptionsError: an unknown option (with did-you-mean) or a bad value, naming the target.
    """
    options = parse_params(items)
    options.update({k: v for k, v in flags.items() if v is not None})
    target.options(options)
    return options


def deprecated_flags(options: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """Merge old flags that became ``-O KEY=VALUE`` options into ``options``, one warning line on stderr for
    each flag given (``--gamma 3`` → ``gamma=3``); an option given with ``-O`` as well wins.

    Args:
        options: the ``-O`` options, parsed.
        flags: the old flags' values by option name (None: not given).

    Returns:
        ``options`` with the given flags added.
    """
    for key, value in flags.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        err_console.print(f"[yellow]warning[/]: {flag} is deprecated; use -O {key}={escape(fmt_value(value))}")
        options.setdefault(key, value)
    return options


__all__ = ["Command", "CommandSet", "DeviceOpt", "EXIT_INTERNAL", "EXIT_USER_ERROR", "Group", "MaxMemOpt",
           "OptionOpt", "ParamOpt", "PlainFlags", "SpecArg", "console", "deprecated_flags", "err_console",
           "handle_errors", "parse_max_memory", "parse_params", "print_spec_error", "target_options"]
