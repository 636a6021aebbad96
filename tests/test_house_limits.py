"""Issue 25's limits stay true: every package file (compiler/, runtime/, snnc/) under 450 lines and no function
over 80 lines, so a file keeps one job and a function one step."""

from __future__ import annotations

import ast

from .conftest import REPO

MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80


def _package_files():
    return sorted(p for d in ("compiler", "runtime", "snnc") for p in (REPO / d).rglob("*.py"))


def test_package_files_and_functions_stay_small():
    files = _package_files()
    assert len(files) > 100
    long_files, long_functions = [], []
    for path in files:
        source = path.read_text()
        if len(source.splitlines()) >= MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(REPO)} ({len(source.splitlines())} lines)")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    assert not long_files, f"split these files by job: {long_files}"
    assert not long_functions, f"split these functions into steps: {long_functions}"
