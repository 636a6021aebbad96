"""Conventions across the whole command line: one meaning per short flag, every target option described with a
readable default, and help without ``<bool>`` placeholders or cut text at 80 columns."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
import typer
from typer.testing import CliRunner

from snnc.cli import app
from snnc.quick import fmt_value

runner = CliRunner()
GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)


def _options(command):
    return [p for p in command.params if p.param_type_name == "option"]


def test_each_short_flag_means_one_thing_everywhere():
    """A short flag maps to the same long option in every command that has it (``-d`` is ``--dataset``), and a
    long option has at most one short spelling."""
    longs_of: dict[str, dict[str, set[str]]] = defaultdict(dict)
    shorts_of: dict[str, set[str]] = defaultdict(set)
    for name in COMMANDS:
        for option in _options(GROUP.commands[name]):
            names = option.opts + option.secondary_opts
            longs = {o for o in names if o.startswith("--")}
            for short in (o for o in names if not o.startswith("--")):
                longs_of[short][name] = longs
                for long in longs:
                    shorts_of[long].add(short)
    assert longs_of, "no short flags found: did typer's command objects change?"
    for short, by_command in longs_of.items():
        shared = set.intersection(*by_command.values())
        assert shared, f"{short} means different options: {by_command}"
    assert {long: s for long, s in shorts_of.items() if len(s) > 1} == {}
    assert all(longs_of["-d"][c] == {"--dataset"} for c in longs_of["-d"])
    assert {"train", "eval", "report", "convert", "mnn-sweep"} <= set(longs_of["-d"])
    assert "--output" in longs_of["-o"]["train"]  # train's -o is its output (run) directory, --run-dir too


def test_depth_and_run_dir_spellings(tmp_path):
    spec = "specs/mnist_conv.yaml"
    assert runner.invoke(app, ["summary", spec, "--depth", "1"]).exit_code == 0
    assert "No such option: -d" in runner.invoke(app, ["summary", spec, "-d", "1"]).output
    result = runner.invoke(app, ["train", spec, "--output", str(tmp_path / "run"), "--timesteps", "999999999999"])
    assert result.exit_code == 1 and "timesteps" in result.output  # --output parsed; the bad T is reported


def _targets():
    from snnc.compiler.targets.registry import TARGETS

    return [TARGETS.get(name) for name in TARGETS]


REPR = re.compile(r"<|\b[A-Z][A-Za-z]+\(|\{'|\('|\bNone\b|\bTrue\b|\bFalse\b")
"""What a Python repr looks like: ``<object at ...>``, ``ClassName(...)``, ``{'key': ...}``, ``('a',)``, None."""


@pytest.mark.parametrize("target", _targets(), ids=lambda t: t.name)
def test_every_target_option_is_described_with_a_readable_default(target):
    for key, info in target.Options.model_fields.items():
        assert (info.description or "").strip(), f"{target.name} option '{key}' has no description"
        shown = fmt_value(info.get_default(call_default_factory=True))
        assert shown and not REPR.search(shown), f"{target.name} option '{key}' shows default {shown!r}"


def test_targets_and_methods_show_each_option_with_its_description():
    from snnc.compiler.targets.registry import get_target

    text = " ".join(runner.invoke(app, ["targets"], env={"COLUMNS": "80"}).stdout.split())
    for key, info in get_target("mnn").Options.model_fields.items():
        shown = f"{key} = {fmt_value(info.get_default(call_default_factory=True))} {info.description}"
        assert shown in text
    assert "tile_shape = [128, 128]" in text and "nonidealities = {}" in text and "mode = fused" in text
    assert not REPR.search(text.replace("Li & Zeng", "")), REPR.search(text)
    methods = " ".join(runner.invoke(app, ["methods"], env={"COLUMNS": "80"}).stdout.split())
    assert "source_envs = [0]" in methods and "features = null" in methods


def test_fmt_value_writes_what_the_command_line_reads():
    import yaml

    from snnc.compiler.spec.memristor import DeviceFaults, NonIdealities

    values = [None, True, False, 0.3, 1e-4, 64, "fused", (128, 128), {}, {"a": [1, None]}, NonIdealities(),
              NonIdealities(device_faults=DeviceFaults(lrs_proportion=0.1))]
    shown = [fmt_value(v) for v in values]
    assert shown == ["null", "true", "false", "0.3", "0.0001", "64", "fused", "[128, 128]", "{}", "{a: [1, null]}",
                     "{}", "{device_faults: {lrs_proportion: 0.1}}"]
    assert [yaml.safe_load(s) for s in shown[:6]] == [None, True, False, 0.3, 1e-4, 64]


BORDERS = {ord(c): " " for c in "│╭╮╰╯─"}


def _flat(text: str) -> str:
    """Help text with panel borders removed and whitespace collapsed: a phrase wrapped over lines reads whole."""
    return " ".join(text.translate(BORDERS).split())


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_help_shows_no_bool_placeholder_and_cuts_nothing_at_80_columns(name):
    args = [name, "--help"] if name else ["--help"]
    out = runner.invoke(app, args, env={"COLUMNS": "80"}).output
    assert "<bool>" not in out  # --help and on/off flags take no value
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 80
    command = GROUP.commands[name] if name else GROUP
    flat = _flat(out)
    for param in command.params:
        if getattr(param, "help", None):
            assert _flat(param.help) in flat, f"the help of {param.name} is not shown whole"
        if (param.param_type_name == "option" and not param.is_flag and param.default is not None
                and param.show_default is not False):
            assert f"[default: {param.default}]" in flat, param.name
