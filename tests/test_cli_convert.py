"""``snnc convert`` through typer's test runner: tables, results.json and the PNG on a tiny trained spec model,
and the messages for what a user gets wrong."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.runtime.data import load_dataset, make_loader

from .conftest import TINY_CNN

runner = CliRunner()

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(spec path, ann artifact path): the tiny CNN after 20 Adam steps on the bundled sample."""
    folder = tmp_path_factory.mktemp("cli_convert")
    spec = folder / "tiny_cnn.yaml"
    spec.write_text(TINY_CNN)
    torch.manual_seed(0)
    ann = snnc.compile(spec, "ann")
    optimizer = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for step, (x, y) in enumerate(make_loader(load_dataset("mnist-sample", "train"), 64, shuffle=True)):
        loss = torch.nn.functional.cross_entropy(ann(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step == 20:
            break
    return spec, snnc.save(ann.eval(), folder / "ann.pt")


def convert(spec, checkpoint, *extra: str):
    return runner.invoke(app, ["convert", str(spec), "--checkpoint", str(checkpoint), "--limit", "64",
                               "--batch-size", "32", "--calibration-batches", "2", "-T", "4,8", "-O", "gamma=1,3",
                               *extra], env={"COLUMNS": "160"})


def test_convert_prints_tables_and_writes_results(trained, tmp_path):
    spec, checkpoint = trained
    out = tmp_path / "out"
    result = convert(spec, checkpoint, "--output", str(out))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "tiny_cnn on MNIST sample (bundled): accuracy (%)" in text
    assert "tiny_cnn on MNIST sample (bundled): spikes per sample" in text
    assert "Γ=1 (IF)" in text and "Γ=3" in text and "ANN" in text
    assert "64 test samples, calibration on 64 training samples" in text
    data = json.loads((out / "results.json").read_text())
    assert data["gammas"] == [1, 3] and data["timesteps"] == [4, 8] and data["samples"] == 64
    assert data["dataset"] == "mnist-sample" and data["checkpoint"] == str(checkpoint)
    assert data["ann"]["accuracy"] > 0.3  # trained, not chance
    assert len(data["rows"]) == 4 and all(r["spikes_per_sample"] > 0 for r in data["rows"])
    for row in data["rows"]:
        assert f"{100 * row['accuracy']:.2f}" in text
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "| T | Γ=1 (IF) | Γ=3 | ANN |" in (out / "results.md").read_text()


def test_convert_json_prints_only_json(trained, tmp_path):
    spec, checkpoint = trained
    result = convert(spec, checkpoint, "--output", str(tmp_path), "--json", "-O", "percentile=99")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["settings"]["percentile"] == 99.0 and (tmp_path / "results.json").is_file()


def test_convert_missing_checkpoint(trained, tmp_path):
    spec, _ = trained
    result = convert(spec, tmp_path / "nope.pt")
    assert result.exit_code == 1
    assert f"no file at '{tmp_path / 'nope.pt'}'" in result.output and "Traceback" not in result.output


def test_convert_missing_dataset(trained, tmp_path):
    spec, checkpoint = trained
    result = convert(spec, checkpoint, "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert "Fashion-MNIST" in result.output and "not found" in result.output and "--data-dir" in result.output


def test_convert_unknown_dataset_and_bad_lists(trained):
    spec, checkpoint = trained
    result = convert(spec, checkpoint, "--dataset", "fasion-mnist")
    assert result.exit_code == 1 and "unknown dataset 'fasion-mnist'" in result.output
    result = convert(spec, checkpoint, "--timesteps", "4,eight")
    assert result.exit_code == 1 and "--timesteps expects comma-separated positive integers" in result.output


def test_convert_refuses_a_non_ann_artifact(trained, tmp_path):
    spec, _ = trained
    path = snnc.save(snnc.compile(spec, "snn"), tmp_path / "snn.pt")
    result = convert(spec, path)
    assert result.exit_code == 1 and "an ANN's trained weights are needed" in result.output


# --- a burst conversion a user can read ------------------------------------------------------------------------


def test_compile_burst_prints_what_was_built(trained):
    spec, checkpoint = trained
    result = runner.invoke(app, ["compile", str(spec), "-t", "burst", "-c", str(checkpoint), "--calibration",
                                 "mnist-sample:64", "--gamma", "3", "-T", "16"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "burst neurons, Γ = 3" in text and "T = 16" in text and "percentile 95" in text  # Γ's default
    assert "spike (leaky" not in text  # not the ANN summary
    snn = snnc.runtime.convert.compile_burst(spec, checkpoint, "mnist-sample:64", gamma=3)
    theta = snn.neurons()["lif1"].threshold.item()
    assert "lif1" in text and f"{theta:.4g}" in text  # each neuron's calibrated threshold
    assert "LIPool" in text and "pool1" in text
    result = runner.invoke(app, ["compile", str(spec), "-t", "burst", "-c", str(checkpoint), "--calibration",
                                 "mnist-sample:64", "--gamma", "1"])
    assert result.exit_code == 0 and "IF neurons" in result.stdout and "percentile 99 " in result.stdout


def test_convert_defaults_the_percentile_by_gamma_and_shows_progress(trained, tmp_path):
    spec, checkpoint = trained
    result = convert(spec, checkpoint, "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["settings"]["percentile"] is None and data["settings"]["percentiles"] == {"1": 99.0, "3": 95.0}
    assert "Γ=3: T=8: accuracy" in result.output and "spikes per sample" in result.output  # one line per Γ
    assert "3/3 Γ=3" in result.output and "left" in result.output  # the stage bar with the time left



def test_convert_calibrates_by_default_says_what_it_chose_and_none_turns_it_off(trained, tmp_path):
    spec, checkpoint = trained
    result = convert(spec, checkpoint, "--output", str(tmp_path / "default"))
    assert result.exit_code == 0, result.output
    assert "chose: thresholds p99 for IF, p95 for Γ=3, v_init 0.5; threshold + bias calibrated for T = 8" in \
        " ".join(result.output.split())
    default = json.loads((tmp_path / "default" / "results.json").read_text())["settings"]
    assert default["calibrate"] == ["threshold", "bias"] and default["calibration_timesteps"] == 8
    off = convert(spec, checkpoint, "--output", str(tmp_path / "none"), "-O", "calibrate=none")
    assert off.exit_code == 0, off.output
    assert "no calibration after conversion" in " ".join(off.output.split())
    plain = json.loads((tmp_path / "none" / "results.json").read_text())
    calibrated = json.loads((tmp_path / "default" / "results.json").read_text())
    assert plain["settings"]["calibrate"] == []
    assert [r["spikes_per_sample"] for r in plain["rows"]] != [r["spikes_per_sample"] for r in calibrated["rows"]]

# --- burst options as -O, the old flags as aliases ---------------------------------------------------------------


def _settings(result) -> dict:
    data = json.loads(result.stdout)
    return {k: data[k] for k in ("gammas", "timesteps", "ann", "rows", "settings")}


def test_the_old_burst_flags_warn_and_give_the_same_sweep(trained, tmp_path):
    spec, checkpoint = trained
    new = convert(spec, checkpoint, "-o", str(tmp_path / "new"), "--json", "-O", "gamma=[3, 1]", "-O",
                  "percentile=99.5", "-O", "channelwise=true", "-O", "v_init=0.25")
    old = convert(spec, checkpoint, "-o", str(tmp_path / "old"), "--json", "--gamma", "3,1", "--percentile",
                  "99.5", "--channelwise", "--v-init", "0.25")
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert "deprecated" not in new.stderr
    assert old.stderr.splitlines() == ["warning: --gamma is deprecated; use -O gamma=3,1",
                                       "warning: --percentile is deprecated; use -O percentile=99.5",
                                       "warning: --channelwise is deprecated; use -O channelwise=true",
                                       "warning: --v-init is deprecated; use -O v_init=0.25"]
    assert _settings(old) == _settings(new)
    settings = _settings(new)["settings"]
    assert settings["percentile"] == 99.5 and settings["channelwise"] is True and settings["v_init"] == 0.25
    assert _settings(new)["gammas"] == [1, 3]
    both = convert(spec, checkpoint, "-o", str(tmp_path / "both"), "--json", "-g", "1", "-O", "gamma=3")
    assert both.exit_code == 0 and json.loads(both.stdout)["gammas"] == [3]  # -O wins


def test_burst_options_are_checked_like_the_targets(trained):
    spec, checkpoint = trained
    result = convert(spec, checkpoint, "-O", "gama=3")
    assert result.exit_code == 1 and "gama" in result.output and "gamma" in result.output
    result = convert(spec, checkpoint, "-O", "gamma=65")
    assert result.exit_code == 1 and "gamma" in result.output and "64" in result.output
    result = convert(spec, checkpoint, "-O", "gamma=1,x")
    assert result.exit_code == 1 and "-O gamma expects comma-separated positive integers" in result.output
    result = convert(spec, checkpoint, "-O", "timesteps=8")
    assert result.exit_code == 1 and "-O timesteps is not an option of snnc convert" in result.output
    assert "(the time steps are --timesteps)" in result.output
    result = convert(spec, checkpoint, "-O", "v_init=2")
    assert result.exit_code == 1 and "v_init" in result.output
