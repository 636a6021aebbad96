"""NIR export and import: round trips with snnTorch give identical spikes both ways."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import nir
import pytest
import snntorch as snn
import torch
import yaml

import snnc
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.export import export
from snnc.compiler.export.nir import import_nir, run_snnc, run_snntorch, snn_to_nir

SPECS = Path(__file__).resolve().parents[3] / "specs"


def _conv_spec(model: str = "leaky") -> dict:
    """mnist_conv with average pooling and zero reset: what NIR can express."""
    data = yaml.safe_load((SPECS / "mnist_conv.yaml").read_text())
    data["neuron"] = {**data["neuron"], "model": model, "reset": "zero"}
    for layer in data["layers"]:
        if layer["kind"] == "maxpool2d":
            layer["kind"] = "avgpool2d"
    return data


def _fc_spec(**neuron) -> dict:
    data = yaml.safe_load((SPECS / "mnist_fc.yaml").read_text())
    data["neuron"] = {**data["neuron"], "reset": "zero", **neuron}
    return data


@pytest.mark.parametrize("spec", [_fc_spec(), _conv_spec()], ids=["mnist_fc", "mnist_conv_avgpool"])
def test_snnc_to_nir_to_snntorch_gives_identical_spikes(spec, mnist, firing, tmp_path):
    model = firing(snnc.compile(spec, "snn", timesteps=10))
    report = export(model, tmp_path / "m.nir", format="nir", check=True, check_inputs=mnist)
    assert report["spikes_identical"] and report["spikes"] > 0
    graph = nir.read(str(tmp_path / "m.nir"))
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Input", "Output", "LIF", "Affine", "Flatten"} <= kinds
    ours = run_snnc(model, mnist, 10)
    theirs = run_snntorch(graph, mnist, 10)
    assert torch.equal(ours, theirs)


def test_nir_nodes_carry_thresholds_time_constants_and_reset(firing):
    model = firing(snnc.compile(_conv_spec(), "snn"))
    graph = snn_to_nir(model)
    lif = graph.nodes["lif1"]
    assert lif.v_threshold.shape == (12, 12, 12) and float(lif.v_threshold.flat[0]) == 1.0
    assert abs(float(1 - 1e-4 / lif.tau.flat[0]) - 0.5) < 1e-6 and float(lif.v_reset.max()) == 0.0
    assert type(graph.nodes["conv1"]).__name__ == "Conv2d" and type(graph.nodes["pool1"]).__name__ == "AvgPool2d"


def test_integrate_and_fire_exports_as_if_and_reimports(mnist, firing, tmp_path):
    model = firing(snnc.compile(_fc_spec(model="if"), "snn", timesteps=8))
    export(model, tmp_path / "if.nir", format="nir")
    assert type(nir.read(str(tmp_path / "if.nir")).nodes["lif1"]).__name__ == "IF"
    spec_path, weights = import_nir(tmp_path / "if.nir", tmp_path / "if.yaml", timesteps=8)
    back = snnc.load(weights)
    assert torch.equal(run_snnc(back, mnist, 8), run_snnc(model, mnist, 8))


@pytest.mark.parametrize("changes,match", [
    ({}, "max pooling|avgpool2d"),
    ({"reset": "subtract"}, "reset: zero"),
    ({"model": "synaptic"}, "CubaLIF"),
])
def test_what_nir_cannot_express_is_a_clear_error(changes, match, tmp_path):
    data = yaml.safe_load((SPECS / "mnist_conv.yaml").read_text()) if not changes else _conv_spec()
    data["neuron"] = {**data["neuron"], **changes}
    with pytest.raises(UnsupportedError, match=match):
        export(snnc.compile(data, "snn"), tmp_path / "m.nir", format="nir")
    assert not (tmp_path / "m.nir").exists()


def _leaky(n: int, beta: float, **kw) -> snn.Leaky:
    # Per-neuron beta and threshold: snnTorch's export_to_nir needs them to type-check against nir 1.0.
    return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.full((n,), 0.5), init_hidden=True,
                     reset_mechanism="zero", **kw)


def test_snntorch_to_nir_to_snnc_import_gives_identical_spikes(mnist, tmp_path):
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 100), _leaky(100, 0.9),
                              torch.nn.Linear(100, 10), _leaky(10, 0.8, output=True))
    with torch.no_grad():
        net[1].weight.mul_(3.0)
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.rand(1, 1, 28, 28), ignore_dims=[0])
    nir.write(str(tmp_path / "from_snntorch.nir"), graph)
    spec_path, weights = import_nir(tmp_path / "from_snntorch.nir", tmp_path / "imported.yaml", timesteps=12)
    spec = snnc.load_spec(spec_path)  # a valid snnc spec
    assert [layer.kind for layer in spec.spec.layers] == ["flatten", "linear", "spike", "linear", "spike"]
    model = snnc.load(weights)
    ours = run_snnc(model, mnist, 12)
    snntorch_spikes = []
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, snn.Leaky):
                module.reset_hidden()
        for _ in range(12):
            spk, _ = net(mnist)
            snntorch_spikes.append(spk)
    theirs = torch.stack(snntorch_spikes)
    assert theirs.sum() > 0
    assert torch.equal(ours, theirs)
    # and the imported spec compiles, trains and converts like any other: its ann target builds
    assert snnc.compile(spec_path, "ann")(mnist).shape == (8, 10)


def test_import_refuses_what_snnc_cannot_express(tmp_path):
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=[4]), "li": nir.LI(tau=torch.ones(4).numpy(),
                                r=torch.ones(4).numpy(), v_leak=torch.zeros(4).numpy()), "output": nir.Output(
                                output_type=[4])}, edges=[("input", "li"), ("li", "output")])
    nir.write(str(tmp_path / "li.nir"), graph)
    with pytest.raises(UnsupportedError, match="NIR node 'li' \\(LI\\) has no snnc counterpart"):
        import_nir(tmp_path / "li.nir", tmp_path / "li.yaml")
