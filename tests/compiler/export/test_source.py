"""Standalone Python export: golden sources, and the generated files imported and run against snnc.

Regenerate the golden files after an intended change of the template with
``SNNC_UPDATE_GOLDEN=1 python -m pytest tests/compiler/export/test_source.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import snnc
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.export import export
from snnc.compiler.export.source import load_generated, render_python

SPECS = Path(__file__).resolve().parents[3] / "specs"
GOLDEN = Path(__file__).with_name("golden")


@pytest.mark.parametrize("spec,target", [("mnist_fc", "ann"), ("mnist_conv", "snn"), ("colored_mnist_cnn", "snn")])
def test_rendered_source_matches_the_golden_file(spec, target):
    torch.manual_seed(0)
    source, weights = render_python(snnc.compile(SPECS / f"{spec}.yaml", target), f"{spec}_{target}.pt")
    golden = GOLDEN / f"{spec}_{target}.py"
    if os.environ.get("SNNC_UPDATE_GOLDEN"):
        golden.write_text(source)
    assert source == golden.read_text()
    assert all(isinstance(v, torch.Tensor) for v in weights.values())


@pytest.mark.parametrize("spec", ["mnist_fc", "mnist_conv", "colored_mnist_cnn"])
@pytest.mark.parametrize("target", ["ann", "snn"])
def test_generated_file_imports_and_reproduces_the_model(spec, target, images, firing, tmp_path):
    torch.manual_seed(0)
    x = images(spec)
    model = snnc.compile(SPECS / f"{spec}.yaml", target, **({"timesteps": 8} if target == "snn" else {}))
    model = firing(model) if target == "snn" else model.eval()
    report = export(model, tmp_path / "net.py", "python", check=True, check_inputs=x)
    generated = load_generated(tmp_path / "net.py").load(tmp_path / "net.pt")
    assert "snnc" not in (tmp_path / "net.py").read_text().split('"""', 2)[2]  # no snnc import in the code
    with torch.no_grad():
        if target == "ann":
            torch.testing.assert_close(generated(x), model(x), rtol=1e-5, atol=1e-6)
            return
        spk, mem = model(x)
        g_spk, g_mem = generated(x)
    assert report["spikes_identical"] and spk.sum() > 0
    assert torch.equal(g_spk, spk)
    torch.testing.assert_close(generated.scores(x), model.decode(spk, mem))


def test_synaptic_rate_encoded_network_runs_without_snnc(mnist, firing, tmp_path):
    data = yaml.safe_load((SPECS / "mnist_fc.yaml").read_text())
    data["neuron"] = {**data["neuron"], "model": "synaptic", "alpha": 0.6}
    data["encoding"] = "rate"
    model = firing(snnc.compile(data, "snn", timesteps=6))
    export(model, tmp_path / "syn.py", "python")
    script = ("import sys, torch; sys.path.insert(0, sys.argv[1]); import syn; "
              "m = syn.load(sys.argv[1] + '/syn.pt'); x = torch.load(sys.argv[1] + '/x.pt', weights_only=True); torch.manual_seed(3); "
              "torch.save(m(x)[0].detach(), sys.argv[1] + '/spk.pt')")
    torch.save(mnist, tmp_path / "x.pt")
    # A fresh interpreter that imports only the generated file and its weights.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, env=env, cwd=tmp_path)
    torch.manual_seed(3)
    with torch.no_grad():
        spk, _ = model(mnist)
    assert spk.sum() > 0
    assert torch.equal(torch.load(tmp_path / "spk.pt", weights_only=True), spk)


def test_burst_and_foreign_modules_are_refused_clearly(tmp_path):
    ann = snnc.compile(SPECS / "mnist_fc.yaml", "ann").eval()
    burst = snnc.convert(ann, torch.rand(8, 1, 28, 28))
    with pytest.raises(UnsupportedError, match="--format onnx"):
        export(burst, tmp_path / "b.py", "python")
    with pytest.raises(UnsupportedError, match="not a torch.fx GraphModule"):
        export(torch.nn.Linear(2, 2), tmp_path / "l.py", "python")
