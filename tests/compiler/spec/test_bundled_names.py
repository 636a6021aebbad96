"""Bundled specs by name: a bare name that is not a file is the spec of that name in ``snnc.specs``, for the
library and every command, from any folder; a path always wins; unknown names get did-you-mean."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import snnc
from snnc.compiler.errors import SpecError
from snnc.compiler.spec.load import bundled_specs, load_spec, resolve_spec_path

PACKAGE_ROOT = Path(snnc.__file__).resolve().parent.parent  # what imports snnc here (repository or site-packages)


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_bundled_specs_lists_the_zoo():
    zoo = bundled_specs()
    assert {"mnist_fc", "mnist_conv", "ghostnet_dfc", "resnet101"} <= set(zoo)
    assert all(p.is_file() and p.suffix == ".yaml" for p in zoo.values())


@pytest.mark.parametrize("name", ["mnist_fc", "mnist_fc.yaml", Path("mnist_fc")])
def test_a_bare_name_loads_the_bundled_spec(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = load_spec(name)
    assert loaded.spec.name == "mnist_fc"
    assert Path(loaded.source.file) == bundled_specs()["mnist_fc"]


def test_a_bundled_spec_that_extends_another_finds_its_sibling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_spec("resnet101").spec.name == "resnet101"


def test_a_file_of_that_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist_fc").write_text("name: mine\ninput: {shape: [4]}\ntask: {classes: 2}\n"
                                       "layers:\n  - {kind: linear, out_features: 2}\n", encoding="utf-8")
    assert load_spec("mnist_fc").spec.name == "mine"
    assert resolve_spec_path("mnist_fc") == Path("mnist_fc")


def test_an_unknown_name_gets_did_you_mean_over_the_zoo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="no bundled spec named 'mnist_fx'. Did you mean 'mnist_fc'") as info:
        snnc.load_spec("mnist_fx")
    assert "mnist_conv" in info.value.diagnostics[0].hint  # the bundled names are listed


def test_a_missing_path_is_not_replaced_by_the_bundled_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="no spec file at 'specs/mnist_fc.yaml'") as info:
        load_spec("specs/mnist_fc.yaml")
    assert "'mnist_fc'" in info.value.diagnostics[0].hint


def test_yaml_text_is_still_text():
    assert load_spec("{name: t, input: {shape: [3]}, task: {classes: 2}, layers: [{kind: linear, "
                     "out_features: 2}]}").spec.name == "t"


def test_commands_and_api_take_bundled_names_outside_the_repository(tmp_path):
    out = _run(["-m", "snnc", "validate", "mnist_fc"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mnist_fc — " in out.stdout
    out = _run(["-m", "snnc", "compile", "mnist_conv", "--target", "snn", "-q"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "compiled mnist_conv to snn" in out.stdout
    out = _run(["-m", "snnc", "summary", "mnist_fx"], tmp_path)
    assert out.returncode == 1 and "Did you mean 'mnist_fc'" in out.stderr and "Traceback" not in out.stderr
    code = ("import snnc; m = snnc.compile('mnist_fc', target='snn'); "
            "print(type(m).__name__, snnc.load_spec('ghostnet_dfc').spec.name)")
    out = _run(["-c", code], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["SpikingModule", "ghostnet_dfc"]


@pytest.mark.slow
def test_train_a_bundled_name_outside_the_repository(tmp_path):
    out = _run(["-m", "snnc", "train", "mnist_fc", "--epochs", "1", "--limit-train", "64", "--limit-test", "32",
                "-T", "2", "--no-plots", "-o", str(tmp_path / "run")], tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "best.pt").is_file()
