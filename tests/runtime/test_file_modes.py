"""Files snnc writes keep the user's umask (atomic writes used to leave every file at mkstemp's 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from snnc.compiler.artifact import atomic_torch_save, atomic_write_bytes, current_umask


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    set_to = []

    def set_mask(mask: int) -> None:
        set_to.append(mask)
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    atomic_torch_save({"x": 1}, tmp_path / "b.pt")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives: the reference
    assert mode(tmp_path / "a.json") == mode(tmp_path / "b.pt") == mode(plain) == 0o666 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.filterwarnings("ignore:layer .* is silent")
def test_a_training_run_and_its_exports_are_readable_by_others(tmp_path, umask, tiny_spec):
    """A real run (checkpoints, config, metrics, plots) and an ONNX file, at umask 022: every file 0644."""
    import snnc
    from snnc.runtime.train import train

    umask(0o022)
    run = tmp_path / "run"
    result = train(tiny_spec(), target="snn", run_dir=run, epochs=1, batch_size=32, limit_train=64,
                   limit_test=32, progress=False, plots=True)
    snnc.export(result.model, tmp_path / "m.onnx")
    nir_net = snnc.compile(NIR_SPEC, target="snn")
    snnc.export(nir_net, tmp_path / "m.nir", format="nir")
    written = [p for p in [*run.rglob("*"), tmp_path / "m.onnx", tmp_path / "m.nir"] if p.is_file()]
    kinds = {p.suffix for p in written}
    assert {".pt", ".json", ".png", ".onnx", ".nir"} <= kinds, kinds
    wrong = {str(p.relative_to(tmp_path)): oct(mode(p)) for p in written if mode(p) != 0o644}
    assert not wrong


NIR_SPEC = """\
name: tiny_nir
input: {shape: [1, 28, 28], range: [0, 1]}
task: {kind: classification, classes: 10}
timesteps: 2
neuron: {model: leaky, beta: 0.9, threshold: 1.0, reset: zero}
layers:
  - {kind: flatten}
  - {name: fc1, kind: linear, out_features: 10}
  - {name: lif1, kind: spike}
"""
