"""Every file in tests/specs/invalid/ must fail with the exact location and message its header states.

Header format (first lines of each file): ``# expect: LINE:COL PATH | MESSAGE`` — one line per expected
diagnostic; PATH may be empty (problems of the whole file); MESSAGE must appear in the diagnostic's message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import snnc
from snnc.compiler.errors import SpecError, format_path

from ...conftest import expectations

INVALID = Path(__file__).resolve().parents[2] / "specs" / "invalid"
CASES = sorted(INVALID.glob("*.yaml"))


def test_corpus_is_broad():
    assert len(CASES) >= 25


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_invalid_spec_is_located(path: Path):
    with pytest.raises(SpecError) as info:
        snnc.build_graph(path)
    diags = info.value.diagnostics
    for line, col, spath, message in expectations(path):
        matching = [d for d in diags if message in d.message]
        assert matching, f"no diagnostic says {message!r}; got: " + "; ".join(d.message for d in diags)
        d = matching[0]
        assert (d.line, d.column) == (line, col), d.render()
        assert d.file == str(path)
        if spath:
            assert format_path(d.path) == spath, d.render()
        assert d.source_line == path.read_text().splitlines()[line - 1]


def test_every_problem_is_reported_at_once():
    text = "\n".join([
        "name: bad",
        "input: {shape: [1, 28, 28]}",
        "neuron: {bta: 0.5}",
        "layers:",
        "  - {kind: conv, out_channels: 3}",
        "  - {kind: linear, out_features: 0}",
    ])
    with pytest.raises(SpecError, match="3 problems") as info:
        snnc.load_spec(text)
    assert [format_path(d.path) for d in info.value.diagnostics] == ["neuron.bta", "layers[0]",
                                                                     "layers[1].out_features"]


def test_oversized_file_is_refused(tmp_path: Path):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "# padding\n" * 200_000)
    with pytest.raises(SpecError, match="the limit is 1,048,576"):
        snnc.load_spec(big)


def test_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(SpecError, match="more than 200,000 YAML values"):
        snnc.load_spec("\n".join(lines) + "\n")


def test_missing_file():
    with pytest.raises(SpecError, match="no spec file at 'nowhere.yaml'"):
        snnc.load_spec("nowhere.yaml")


def test_memory_limit_is_configurable():
    text = "name: m\ninput: {shape: [1000]}\ntask: {classes: 1000}\nlayers:\n  - {kind: linear, out_features: 1000}\n"
    assert snnc.build_graph(text).nodes[-1].shape == (1000,)
    with pytest.raises(SpecError, match="over the limit of 0.00 GiB"):
        snnc.build_graph(text, max_memory=1_000_000)
