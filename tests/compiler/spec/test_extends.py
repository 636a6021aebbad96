"""``extends:``: a spec overrides another file's keys; params and blocks merge entry by entry; problems are
located in the file that wrote them; artifacts carry the merged document."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import snnc

from ...conftest import SPECS

BASE = """name: base
params: {width: 4, classes: 3}
input: {shape: [2, 8, 8]}
task: {classes: "${classes}"}
blocks:
  unit:
    params: {c: null}
    layers:
      - {name: conv, kind: conv2d, out_channels: "${c}", kernel_size: 3, padding: 1}
      - {name: sn, kind: spike}
layers:
  - {name: body, kind: block, block: unit, args: {c: "${width}"}}
  - {kind: global_avgpool}
  - {name: fc, kind: linear, out_features: "${classes}"}
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_params_merge_and_keys_override(tmp_path):
    _write(tmp_path, "base.yaml", BASE)
    child = _write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\nparams: {width: 6}\ntimesteps: 7\n")
    graph = snnc.build_graph(child)
    assert graph.name == "child" and graph.timesteps == 7
    assert graph.node("body.conv").shape == (6, 8, 8)
    assert snnc.build_graph(child, {"classes": 5}).node("fc").shape == (5,)


def test_problem_in_base_is_located_in_base(tmp_path):
    _write(tmp_path, "base.yaml", BASE.replace("kernel_size: 3, padding: 1", "kernel_size: 30"))
    child = _write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\n")
    with pytest.raises(snnc.SpecError) as info:
        snnc.build_graph(child)
    (d,) = info.value.diagnostics
    assert d.file.endswith("base.yaml") and d.line == 9
    assert "kernel_size: 30" in d.source_line


def test_problem_in_child_is_located_in_child(tmp_path):
    _write(tmp_path, "base.yaml", BASE)
    child = _write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\ntimesteps: 0\n")
    with pytest.raises(snnc.SpecError, match="greater than or equal to 1") as info:
        snnc.build_graph(child)
    assert info.value.diagnostics[0].location == f"{child}:3:12"


def test_missing_and_cyclic_bases(tmp_path):
    child = _write(tmp_path, "child.yaml", "extends: nope.yaml\nname: child\n")
    with pytest.raises(snnc.SpecError, match="the extended spec 'nope.yaml' does not exist"):
        snnc.load_spec(child)
    _write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    b = _write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(snnc.SpecError, match="forms a cycle"):
        snnc.load_spec(b)
    with pytest.raises(snnc.SpecError, match="takes a relative path"):
        snnc.load_spec(_write(tmp_path, "abs.yaml", "extends: /etc/passwd.yaml\nname: x\n"))


def test_artifact_of_extended_spec_is_self_contained(tmp_path):
    model = snnc.compile(SPECS / "resnet101.yaml", params={"stem": "cifar", "size": 32, "classes": 10})
    path = snnc.save(model, tmp_path / "r101.pt")
    art = torch.load(path, weights_only=True)
    assert "\nextends:" not in art["spec"] and "depths:\n  - 3\n  - 4\n  - 23" in art["spec"]
    again = snnc.load(path)
    assert sum(p.numel() for p in again.parameters()) == sum(p.numel() for p in model.parameters())


def test_zoo_variants_are_small_files():
    for name, base in (("resnet101", "resnet50"), ("ghostnet_dfc", "ghostnet")):
        text = (SPECS / f"{name}.yaml").read_text()
        assert f"extends: {base}.yaml" in text and len(text.splitlines()) < 20
