"""Golden tests of the command line's text: ``--help`` of every command and subcommand, ``snnc targets``,
``snnc methods`` and ``snnc report`` of a spec without data, each compared with a stored file under
``tests/golden/data/``.

Why: the CLI is refactored (options generated from models, commands moved between modules); what a user reads
must not change by accident. Each case runs ``snnc`` in a fresh process, as a user does, with ``COLUMNS=100``
and no colour, so the text does not depend on the terminal running the tests. The list of ``--help`` cases is
walked from the click app, so a new command or subcommand needs a golden file too.

To regenerate the files after a deliberate change (and say why in the commit)::

    SNNC_UPDATE_GOLDEN=1 python -m pytest -q tests/golden

which rewrites every case's file and removes files of cases that no longer exist; review them with ``git diff``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
UPDATE = bool(os.environ.get("SNNC_UPDATE_GOLDEN"))

# Why not `python -m snnc`: click names the program after argv[0], which would print "python -m snnc" in usage.
LAUNCH = "import sys; sys.argv[0] = 'snnc'; from snnc.__main__ import run; run()"


def _command_paths() -> list[tuple[str, ...]]:
    """Every command path of the app, the root first: (), ("train",), ("study",), ("study", "run"), ..."""
    from snnc.cli import app

    paths: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:
        paths.append(path)
        # Why duck typing: typer vendors its own click, whose groups are not `click.Group`s
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, path + (name,))

    walk(typer.main.get_command(app), ())
    return paths


HELP_CASES = {"help" + "".join(f"_{p}" for p in path): [*path, "--help"] for path in _command_paths()}
OTHER_CASES = {
    "targets": ["targets"],
    "methods": ["methods"],
    "report_mnist_conv": ["report", "specs/mnist_conv.yaml"],
    "report_mnist_conv_snn": ["report", "specs/mnist_conv.yaml", "-t", "snn"],
    "report_mnist_conv_snn_json": ["report", "specs/mnist_conv.yaml", "-t", "snn", "--json"],
}
CASES = {**HELP_CASES, **OTHER_CASES}


def run_snnc(args: list[str]) -> subprocess.CompletedProcess:
    """``snnc ARGS`` in a fresh process at the repository's root, 100 columns wide, without colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TERMINAL_WIDTH", "SNNC_DEBUG",
                                                           "LINES", "COLUMNS")}
    env.update(COLUMNS="100", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-c", LAUNCH, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=300)


def _backends_missing() -> list[str]:
    from snnc.compiler.errors import BackendUnavailable
    from snnc.compiler.targets.registry import TARGETS

    missing = []
    for name in TARGETS:
        try:
            TARGETS.get(name).check_available()
        except BackendUnavailable:
            missing.append(name)
    return missing


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_matches_golden(case):
    if case == "targets" and _backends_missing() and not UPDATE:
        pytest.skip(f"'snnc targets' marks unavailable backends ({', '.join(_backends_missing())}); the golden "
                    "file was written with every backend installed")
    result = run_snnc(CASES[case])
    assert result.returncode == 0, f"snnc {' '.join(CASES[case])} failed:\n{result.stderr}"
    path = DATA / f"{case}.txt"
    if UPDATE:
        path.write_text(result.stdout, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path.name}: regenerate with SNNC_UPDATE_GOLDEN=1 (module docstring)"
    expected = path.read_text(encoding="utf-8")
    assert result.stdout == expected, (f"'snnc {' '.join(CASES[case])}' differs from {path.name}; if the change "
                                       "is deliberate regenerate with SNNC_UPDATE_GOLDEN=1")


def test_every_golden_file_is_a_case():
    stale = sorted(p.stem for p in DATA.glob("*.txt") if p.stem not in CASES)
    if UPDATE:
        for name in stale:
            (DATA / f"{name}.txt").unlink()
        return
    assert not stale, f"golden files of no case (a command was removed or renamed?): {stale}"


def test_help_cases_cover_the_subcommands():
    """The walk reaches nested groups: the study group and its run, plan and report."""
    assert {"help", "help_train", "help_study", "help_study_run", "help_study_plan", "help_study_report"} <= set(CASES)
