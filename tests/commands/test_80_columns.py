"""Every command that prints a table fits 80 columns (piped output, or ``COLUMNS=80``): no line is longer, nothing
is cut with "…", and the numbers (totals, counts, rates) appear whole on their row; prose wraps at words."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from snnc.cli import app
from snnc.commands.train import confusion_table
from snnc.formatting import fmt_int, fmt_macs

from ..conftest import SPECS, TINY_CNN

runner = CliRunner()
GHOSTNET = str(SPECS / "ghostnet_dfc.yaml")


def run80(*args: str) -> str:
    """stdout of ``snnc ARGS`` at 80 columns, checked: exit 0, no line over 80 columns, nothing cut."""
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    long = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert not long, f"snnc {' '.join(args)}: {len(long)} lines over 80 columns, e.g.\n{long[0]}"
    assert "…" not in result.stdout, result.stdout
    return result.stdout


def row(text: str, first: str) -> str:
    """The first table line whose first cell is ``first``."""
    lines = [line for line in text.splitlines() if line.strip(" │┃").startswith(first + " ")]
    assert lines, f"no row {first!r} in\n{text}"
    return lines[0]


def graph_totals(spec: str) -> tuple[str, str]:
    from snnc.compiler.ir.costs import graph_costs
    from snnc.compiler.pipeline import build_graph

    costs = graph_costs(build_graph(spec)).values()
    return fmt_int(sum(c.params for c in costs)), fmt_macs(sum(c.macs for c in costs))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny conv net's spec and an (untrained) ann artifact of it."""
    folder = tmp_path_factory.mktemp("tiny")
    spec = folder / "tiny_cnn.yaml"
    spec.write_text(TINY_CNN)
    ann = folder / "ann.pt"
    result = runner.invoke(app, ["compile", str(spec), "-o", str(ann), "-q"])
    assert result.exit_code == 0, result.output
    return spec, ann


@pytest.mark.parametrize("args", [["summary", GHOSTNET], ["summary", GHOSTNET, "--depth", "0"],
                                  ["compile", GHOSTNET, "-t", "snn"], ["compile", GHOSTNET, "-t", "ann"]])
def test_summary_and_compile_of_a_deep_net(args):
    text = run80(*args)
    params, macs = graph_totals(GHOSTNET)
    total = row(text, "total")
    assert params in total and macs in total  # 4,888,718 and 165.78 M, each on the total row, unbroken
    head = row(text, "conv_head")
    assert "1,230,080" in head and "1.23 M" in head


def test_eval_report_convert_and_compile_from_a_checkpoint(tiny, tmp_path):
    spec, ann = map(str, tiny)
    text = run80("compile", spec, "-t", "burst", "-c", ann, "--calibration", "mnist-sample:32", "-T", "4")
    assert "compiled tiny_cnn to burst" in text
    text = run80("eval", spec, "-c", ann, "--limit", "64")
    data = json.loads(runner.invoke(app, ["eval", spec, "-c", ann, "--limit", "64", "--json"]).stdout)
    for i, counts in enumerate(data["confusion"]):
        if sum(counts):
            assert f"{counts[i] / sum(counts):.1%}" in row(text, data["class_names"][i])
    for target in ("ann", "snn"):
        text = run80("report", spec, "-t", target, "-c", ann, "-d", "mnist-sample", "-n", "1", "-b", "16")
        rep = json.loads(runner.invoke(app, ["report", spec, "-t", target, "-c", ann, "-d", "mnist-sample", "-n", "1",
                                             "-b", "16", "--json"]).stdout)
        assert fmt_int(rep["totals"]["params"]) in row(text, "total")
    text = run80("convert", spec, "-c", ann, "--limit", "32", "-b", "32", "--calibration-batches", "1", "-T", "4,8",
                 "-O", "gamma=1,2,3,4,5", "-o", str(tmp_path / "convert"))
    assert row(text, "8").count(".") >= 6  # T = 8: five gammas and the ANN, each a whole percentage


@pytest.mark.mnn
def test_mnn_compile_report_and_sweep(tiny, tmp_path):
    pytest.importorskip("memtorch", reason="the mnn target needs MemTorch (the 'mnn' extra)")
    spec, ann = map(str, tiny)
    run80("compile", spec, "-t", "mnn", "-c", ann)
    text = run80("report", spec, "-t", "mnn", "-c", ann)
    assert "crossbars (per inference)" in text
    run80("mnn-sweep", spec, "-c", ann, "--axis", "adc_bits", "--limit", "16", "-o", str(tmp_path / "sweep"))


def test_listings_fit():
    for command in ("targets", "methods", "zoo"):
        run80(command)


def test_export_check_fits(tiny, tmp_path):
    pytest.importorskip("onnxruntime", reason="--check runs the file in onnxruntime")
    spec, ann = map(str, tiny)
    run80("export", spec, "-c", ann, "-o", str(tmp_path / "tiny.onnx"), "--check")


def test_confusion_matrix_keeps_recall_at_80_columns():
    """Full-test-set counts (four digits) and CIFAR-10's names: the matrix still fits, recall included; a hundred
    classes give one row per class instead, and say where the matrix is."""
    from io import StringIO

    from rich.console import Console

    def render(matrix, names):
        table, note = confusion_table(matrix, names, width=80)
        out = Console(width=80, file=StringIO(), color_system=None)
        out.print(table)
        out.print(note)
        text = out.file.getvalue()
        assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
        return text

    for names in ([str(i) for i in range(10)], "airplane automobile bird cat deer dog frog horse ship truck".split()):
        matrix = [[1135 if i == j else 12 for j in range(10)] for i in range(10)]
        text = render(matrix, names)
        for i, name in enumerate(names):
            line = row(text, name if names[0] == "0" else f"{i} {name}")
            assert "1135" in line and f"{1135 / (1135 + 9 * 12):.1%}" in line
    text = render([[5 if i == j else 1 for j in range(100)] for i in range(100)], [f"c{i}" for i in range(100)])
    assert "c99" in text and "--json has it" in text and f"{5 / 104:.1%}" in row(text, "c42")
