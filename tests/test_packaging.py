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
