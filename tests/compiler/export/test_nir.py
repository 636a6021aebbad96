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


def _several_blockers() -> dict:
    """mnist_conv with five distinct causes: max pooling, subtract reset, a batch-norm after a pool (nothing to
    fold it into), a ceil-mode average pool and a synaptic output neuron."""
    data = yaml.safe_load((SPECS / "mnist_conv.yaml").read_text())
    data["layers"][4] = {"name": "pool2", "kind": "avgpool2d", "kernel_size": 2, "ceil_mode": True}  # 8 → 4
    data["layers"].insert(2, {"name": "bn1", "kind": "batchnorm"})
    data["layers"][-1]["neuron"] = {"model": "synaptic", "alpha": 0.9}
    return data


def test_every_nir_blocker_is_named_in_one_error_with_its_fix(tmp_path):
    data = _several_blockers()
    assert [la["kind"] for la in data["layers"]][:6] == ["conv2d", "maxpool2d", "batchnorm", "spike", "conv2d",
                                                         "avgpool2d"]
    with pytest.raises(UnsupportedError, match=r"cannot export mnist_conv to NIR: 6 nodes block it, for 5 "
                                               r"reasons:") as info:
        export(snnc.compile(data, "snn"), tmp_path / "m.nir", format="nir")
    text = str(info.value)
    for line in [
        "  batchnorm, node 'bn1': NIR has no batch-norm; it folds into the conv2d or linear before it, when that "
        "layer feeds nothing else\n"
        "    fix: put it right after a conv2d or linear layer, or remove it and train without it",
        "  maxpool2d, node 'pool1': NIR has sum and average pooling only\n"
        "    fix: kind: avgpool2d (same kernel_size and stride), and retrain",
        "  avgpool2d (ceil_mode: true), node 'pool2': NIR's AvgPool2d has no ceil mode\n    fix: ceil_mode: false",
        "  spike (reset: subtract), 3 nodes (lif1, lif2, lif3): NIR neurons reset the membrane",
        "    fix: neuron: {reset: zero} (the spec's neuron section, or this layer's), and retrain",
        "  spike (model: synaptic), node 'lif3': NIR's CubaLIF",
        "    fix: neuron: {model: leaky} (or if)",
        "Or export ONNX instead (--format onnx)",
    ]:
        assert line in text
    assert [(b.node, b.op) for b in info.value.blockers] == [
        ("pool1", "maxpool2d"), ("bn1", "batchnorm"), ("lif1", "spike (reset: subtract)"),
        ("pool2", "avgpool2d (ceil_mode: true)"), ("lif2", "spike (reset: subtract)"),
        ("lif3", "spike (reset: subtract)"), ("lif3", "spike (model: synaptic)")]
    assert not (tmp_path / "m.nir").exists()
    # each fix, applied, lifts its blocker
    data["neuron"]["reset"] = "zero"
    del data["layers"][2]
    data["layers"][1]["kind"] = "avgpool2d"
    data["layers"][4]["ceil_mode"] = False
    data["layers"][-1]["neuron"] = {"model": "leaky"}
    assert "lif3" in snn_to_nir(snnc.compile(data, "snn")).nodes


def test_a_single_blocker_is_still_named():
    data = _conv_spec()
    data["layers"][1]["kind"] = "maxpool2d"
    with pytest.raises(UnsupportedError, match=r"cannot export mnist_conv to NIR: 1 node blocks it:\n  maxpool2d, "
                                               r"node 'pool1': NIR has sum and average pooling only\n    fix: kind: "
                                               r"avgpool2d"):
        snn_to_nir(snnc.compile(data, "snn"))


def test_global_pooling_exports_as_a_pool_and_a_flatten():
    """A 10×10 map: 1/100 is not a power of two, so an AvgPool2d (a SumPool2d's scale would round)."""
    data = {"name": "gap", "input": {"shape": [1, 12, 12]}, "task": {"classes": 4}, "timesteps": 3,
            "neuron": {"reset": "zero"}, "layers": [
                {"name": "conv", "kind": "conv2d", "out_channels": 4, "kernel_size": 3},
                {"name": "sn", "kind": "spike"}, {"name": "gap", "kind": "global_avgpool"},
                {"name": "fc", "kind": "linear", "out_features": 4}]}
    graph = snn_to_nir(snnc.compile(data, "snn"))
    assert type(graph.nodes["gap"]).__name__ == "AvgPool2d" and list(graph.nodes["gap"].kernel_size) == [10, 10]
    assert type(graph.nodes["gap_flatten"]).__name__ == "Flatten"
    assert ("sn", "gap") in graph.edges and ("gap", "gap_flatten") in graph.edges and ("gap_flatten", "fc") in graph.edges


def test_a_large_network_gets_one_line_per_cause_and_its_switches():
    """resnet18 as bundled: its batch-norms fold and its adds are edges; subtract reset and the stem's max pool
    block it, and the spec's own switches are the fixes."""
    with pytest.raises(UnsupportedError, match="cannot export resnet18 to NIR: 18 nodes block it, for 2 reasons"
                       ) as info:
        snn_to_nir(snnc.compile(SPECS / "resnet18.yaml", "snn"))
    lines = str(info.value).splitlines()
    assert len(info.value.blockers) == 18 and len(lines) == 6
    assert lines[1].startswith("  spike (reset: subtract), 17 nodes (sn1, layer1.0.sn1, ")
    assert "    fix: --param reset=zero (this spec's switch), and retrain" in lines
    assert "  maxpool2d, node 'maxpool': NIR has sum and average pooling only" in lines
    assert "    fix: --param pool=avg (this spec's switch), and retrain" in lines


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
