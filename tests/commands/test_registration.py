"""The command line registers one way: ``snnc.cli`` imports the command modules, which define their commands on a
:class:`~snnc.clitools.CommandSet` and never import ``snnc.cli``, nor another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import snnc.commands
from snnc.commands import COMMAND_MODULES

FOLDER = Path(snnc.commands.__file__).parent


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of each import in a file, at any depth (imports inside functions count)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.py")), ids=lambda p: p.name)
def test_no_command_module_imports_the_cli_or_private_names(path):
    for module, names in _imports(path):
        assert module != "snnc.cli", f"{path.name} imports snnc.cli (the app imports it, not the other way)"
        if module.startswith("snnc."):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{path.name} imports private {private} from {module}"


def test_every_listed_module_has_its_commands_on_the_app():
    import importlib

    import typer

    from snnc.cli import app

    names = set(typer.main.get_command(app).commands)
    for module in COMMAND_MODULES:
        commands = importlib.import_module(f"snnc.commands.{module}").commands
        assert commands.names, f"{module} defines no command"
        assert set(commands.names) <= names, f"{module}: {set(commands.names) - names} not on the app"
