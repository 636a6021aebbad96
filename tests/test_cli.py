"""The command line, through typer's test runner (and a real subprocess for start-up cost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

import snnc
from snnc.cli import app

from .conftest import REPO, SPECS, TEST_SPECS

runner = CliRunner()


def test_validate_ok():
    result = runner.invoke(app, ["validate", str(SPECS / "mnist_conv.yaml")])
    assert result.exit_code == 0, result.output
    assert "mnist_conv — 10 nodes, 29,826 parameters" in result.output


def test_validate_reports_located_errors_without_traceback():
    bad = TEST_SPECS / "invalid" / "flatten_vs_linear.yaml"
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    out = result.output
    assert f"{bad}:9:33" in out and "layers[3].in_features" in out
    assert "expects 1024 input features but its input has 2304" in out
    assert "fix: set in_features: 2304" in out
    assert "Traceback" not in out


def test_debug_env_shows_traceback(monkeypatch):
    monkeypatch.setenv("SNNC_DEBUG", "1")
    result = runner.invoke(app, ["validate", str(TEST_SPECS / "invalid" / "cycle.yaml")])
    assert result.exit_code != 0
    assert isinstance(result.exception, snnc.SpecError)


def test_summary_table():
    result = runner.invoke(app, ["summary", str(SPECS / "mnist_conv.yaml")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "conv2d 12→64 k5x5" in result.output
    assert "19,264" in result.output and "1.41 M" in result.output
    assert "3 spike layers, 2,762 neurons" in result.output


def test_compile_writes_loadable_artifact(tmp_path):
    out = tmp_path / "fc.pt"
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_fc.yaml"), "--target", "ann", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "795,010 parameters" in result.output
    model = snnc.load(out)
    art = torch.load(out, weights_only=True)
    assert art["spec"] == (SPECS / "mnist_fc.yaml").read_text() and art["target"] == "ann"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, art["state_dict"][k])


def test_compile_with_param_override(tmp_path):
    result = runner.invoke(app, ["compile", str(TEST_SPECS / "valid" / "resnet_tiny.yaml"), "-p", "width=4", "-q"])
    assert result.exit_code == 0, result.output
    assert "resnet_tiny" in result.output


def test_unknown_target_is_a_clear_error():
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_fc.yaml"), "--target", "snnn"])
    assert result.exit_code == 1
    assert "unknown target 'snnn'. Did you mean 'snn'?" in result.output


def test_load_refuses_non_artifact(tmp_path):
    junk = tmp_path / "junk.pt"
    torch.save({"weights": torch.zeros(2)}, junk)
    with pytest.raises(snnc.DataError, match="is not an snnc checkpoint or artifact"):
        snnc.load(junk)


def test_schema_command_prints_json():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "snnc spec" and "layers" in schema["properties"]


def test_schema_file_is_current():
    from snnc.compiler.spec.schema import spec_json_schema_text

    assert (SPECS / "schema.json").read_text() == spec_json_schema_text(), (
        "specs/schema.json is stale: run 'snnc schema -o specs/schema.json'")


@pytest.mark.parametrize("args", [["--help"], ["validate", "specs/mnist_conv.yaml"]])
def test_help_and_validate_do_not_import_torch(args):
    code = ("import sys\nfrom snnc.cli import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_import_snnc_is_light_and_leaves_the_gc_alone():
    code = ("import gc, sys\nbefore = gc.get_threshold()\nimport snnc\n"
            "heavy = sorted(m for m in ('torch', 'pydantic', 'yaml', 'typer', 'rich') if m in sys.modules)\n"
            "assert not heavy, heavy\nassert gc.get_threshold() == before\n"
            "assert callable(snnc.compile) and 'pydantic' in sys.modules and 'torch' not in sys.modules\n"
            "assert issubclass(snnc.SpecError, snnc.SnncError) and 'compile' in dir(snnc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "snnc", "validate", "specs/mnist_fc.yaml"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "mnist_fc" in proc.stdout


def _snnc(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnc", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_plain_validate_skips_typer_and_rich_and_prints_what_the_full_command_prints():
    code = ("import sys\nsys.argv = ['snnc', 'validate', './specs/irm_mlp.yaml', '--param=hidden=64']\n"
            "from snnc.__main__ import run\nrun()\n"
            "loaded = sorted(m for m in ('typer', 'rich', 'torch') if m in sys.modules)\n"
            "assert not loaded, loaded\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    full = runner.invoke(app, ["validate", "./specs/irm_mlp.yaml", "--param=hidden=64"])
    assert full.exit_code == 0
    assert proc.stdout == full.output
    assert proc.stdout.startswith("✓ specs/irm_mlp.yaml: irm_mlp — ")


@pytest.mark.parametrize("argv", [["validate", "specs/mnist_conv.yaml", "-p", "nope=1"],
                                  ["validate", str(TEST_SPECS / "invalid" / "flatten_vs_linear.yaml")],
                                  ["validate", "specs/mnist_conv.yaml", "--max-memory", "lots"],
                                  ["validate", "specs/missing.yaml"]])
def test_validate_errors_are_the_full_commands(argv):
    proc = _snnc(*argv)
    full = runner.invoke(app, argv)
    assert proc.returncode == full.exit_code == 1
    assert proc.stdout == "" and proc.stderr.startswith("error")
    assert proc.stderr == full.output and "Traceback" not in proc.stderr


def test_validate_fast_path_hands_over_what_it_does_not_parse():
    from snnc.quick import _validate_args

    assert _validate_args(["validate", "a.yaml", "-p", "x=1", "--param=y=2", "--max-memory", "1G"]) == (
        "a.yaml", ["x=1", "y=2"], "1G")
    assert _validate_args(["validate", "a.yaml", "--max-memory=2G"]) == ("a.yaml", [], "2G")
    for argv in (["validate"], ["validate", "--help"], ["validate", "a.yaml", "b.yaml"], ["validate", "a.yaml", "-p"],
                 ["validate", "a.yaml", "--verbose"], ["compile", "a.yaml"], []):
        assert _validate_args(argv) is None, argv
    help_ = _snnc("validate", "--help")
    assert help_.returncode == 0 and "validate [OPTIONS]" in help_.stdout
    coloured = _snnc("validate", "specs/mnist_fc.yaml", FORCE_COLOR="1")
    assert "\x1b[32m✓\x1b[0m specs/mnist_fc.yaml: \x1b[1mmnist_fc\x1b[0m — " in coloured.stdout
    assert "\x1b[" not in _snnc("validate", "specs/mnist_fc.yaml", FORCE_COLOR="1", NO_COLOR="1").stdout


def test_large_graphs_are_summarised_by_block():
    result = runner.invoke(app, ["summary", str(SPECS / "ghostnet_dfc.yaml")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "│ blocks.15 " in result.output and "blocks.15.ghost1" not in result.output
    assert "4,888,718" in result.output
    flat = runner.invoke(app, ["summary", str(SPECS / "ghostnet_dfc.yaml"), "--depth", "0"], env={"COLUMNS": "200"})
    assert "blocks.15.ghost1.primary_conv" in flat.output and "…" not in flat.output


def test_compile_burst_from_an_ann_checkpoint(tmp_path):
    ann = tmp_path / "ann.pt"
    assert runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "-o", str(ann), "-q"]).exit_code == 0
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "--target", "burst", "-q",
                                 "--checkpoint", str(ann), "--calibration", "mnist-sample:64", "-T", "8",
                                 "-O", "gamma=3"])
    assert result.exit_code == 0, result.output
    assert "compiled mnist_conv to burst: BurstSNN" in result.output and "deprecated" not in result.output
    missing = runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "--target", "burst"])
    assert missing.exit_code == 1 and "is built from a trained ANN: give --checkpoint ANN.pt" in missing.output


def test_compile_burst_writes_a_loadable_network(tmp_path):
    ann, out = tmp_path / "ann.pt", tmp_path / "burst.pt"
    assert runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "-o", str(ann), "-q"]).exit_code == 0
    result = runner.invoke(app, ["compile", str(SPECS / "mnist_conv.yaml"), "--target", "burst", "-q",
                                 "--checkpoint", str(ann), "--calibration", "mnist-sample:64", "-T", "8",
                                 "--gamma", "3", "--percentile", "99.9", "--channelwise", "--v-init", "0",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    for flag, option in (("--gamma", "gamma=3"), ("--percentile", "percentile=99.9"),
                         ("--channelwise", "channelwise=true"), ("--v-init", "v_init=0")):
        assert f"{flag} is deprecated; use -O {option}" in result.output  # the old flags still work, and warn
    import snnc
    from snnc.compiler.targets.burst import BurstSNN

    snn = snnc.load(out)
    assert isinstance(snn, BurstSNN) and snn.timesteps == 8
    assert snn.config["gamma"] == 3 and snn.config["percentile"] == 99.9
    assert snn.config["channelwise"] is True and snn.config["v_init"] == 0.0
    assert snn.thresholds()["lif1"].shape == (12, 1, 1)


def test_help_shows_flags_without_a_bool_placeholder():
    for command in ("train", "eval", "compile", "report", "convert"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0 and "--help" in result.output
        flags = [line for line in result.output.splitlines() if "--help" not in line]  # typer's own --help line
        assert not [line for line in flags if "<bool>" in line], command


def test_corrupt_checkpoint_is_not_called_a_checkpoint(tmp_path):
    junk = tmp_path / "corrupt.pt"
    junk.write_bytes(bytes(range(256)) * 20)
    result = runner.invoke(app, ["eval", "--checkpoint", str(junk)])
    assert result.exit_code == 1
    assert "is not an snnc checkpoint or artifact: it is not a readable checkpoint" in result.output
    assert "weights_only" not in result.output  # no unsafe advice


def test_checkpoint_of_another_spec_names_it(tmp_path):
    path = tmp_path / "fc.pt"
    assert runner.invoke(app, ["compile", str(SPECS / "mnist_fc.yaml"), "-t", "snn", "-q", "-o", str(path)]).exit_code == 0
    conv = str(SPECS / "mnist_conv.yaml")
    for args in (["eval", conv, "--checkpoint", str(path), "--limit", "8"],
                 ["report", conv, "-t", "snn", "--checkpoint", str(path)]):  # without data too
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert "was made from spec 'mnist_fc', but the model is built from spec 'mnist_conv'" in result.output


def test_sizes_from_the_command_line_are_bounded(tmp_path):
    result = runner.invoke(app, ["train", str(SPECS / "mnist_fc.yaml"), "--timesteps", "999999999999",
                                 "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "option 'timesteps': Input should be less than or equal to 100000" in result.output
    assert not (tmp_path / "run").exists()
