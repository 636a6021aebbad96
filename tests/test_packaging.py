"""Packaging: compiler/ and runtime/ install as snnc.compiler and snnc.runtime, and every package is listed."""

from __future__ import annotations

import tomllib

import snnc.compiler
import snnc.runtime

from .conftest import REPO


def test_every_package_dir_is_listed_in_pyproject():
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    mapping = conf["package-dir"]
    found = set()
    for pkg, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((pkg, *rel)))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_installed_names():
    assert snnc.compiler.__name__ == "snnc.compiler"
    assert snnc.runtime.__name__ == "snnc.runtime"


def test_ci_runs_the_readme_test_command_verbatim():
    """The README's second set-up command (virtual environment, install, whole suite) is what CI runs."""
    import re

    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    assert all(c.startswith("python -m venv .venv && . .venv/bin/activate && bash .ci/install && ") for c in commands)
    assert commands[0].endswith("bash examples/main_job.sh") and commands[1].endswith("python -m pytest -q")
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == commands[1]
