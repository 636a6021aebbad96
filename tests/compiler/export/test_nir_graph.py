"""NIR export of graphs (issue 26): residual adds as summed edges, batch-norm folded, average pooling as
SumPool2d with the 1/k in the next weights, and the bundled VGG-16, ResNet-18 and SEW-ResNet-34 with their
export switches, round-tripped through snnTorch's ``import_from_nir`` with every neuron layer's spikes
identical (``check_nir``)."""

from __future__ import annotations

from pathlib import Path

import nir
import pytest
import torch
import torch.nn.functional as F

import snnc
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.export import export
from snnc.compiler.export.nir import (check_nir, explain_lines, fold_batchnorm, folded_twin, nir_plan,
                                      run_snnc_layers, snn_to_nir)
from snnc.compiler.pipeline import build_graph

SPECS = Path(__file__).resolve().parents[3] / "specs"


def _small(size: int = 16):
    """Real images for 3×size×size specs: the MNIST sample's digits, resized and tiled to 3 channels."""
    def make(mnist):
        return F.interpolate(mnist[:3], size=(size, size), mode="bilinear", align_corners=False).expand(
            -1, 3, -1, -1).contiguous()
    return make


def _spread_batchnorms(model):
    """Give every batch-norm non-trivial statistics and affine terms (fresh ones are the identity), seeded."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
    return model


def _residual(**extra) -> dict:
    """conv → sn → [conv → bn] + conv-shortcut → sn → avgpool 2 → conv → sn → global pool → linear."""
    layers = [
        {"name": "stem", "kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "sn0", "kind": "spike"},
        {"name": "conv", "kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": False},
        {"name": "bn", "kind": "batchnorm"},
        {"name": "add", "kind": "add", "inputs": ["bn", "sn0"]},
        {"name": "sn1", "kind": "spike"},
        {"name": "pool", "kind": "avgpool2d", "kernel_size": 2},
        {"name": "conv2", "kind": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"name": "sn2", "kind": "spike"},
        {"name": "gap", "kind": "global_avgpool"},
        {"name": "fc", "kind": "linear", "out_features": 10},
    ]
    return {"name": "residual", "input": {"shape": [3, 16, 16]}, "task": {"classes": 10}, "timesteps": 6,
            "neuron": {"model": "leaky", "beta": 0.8, "reset": "zero"}, "layers": layers, **extra}


def _model(spec, steps=6, params=None, gain=2.0):
    torch.manual_seed(0)
    model = snnc.compile(spec, "snn", timesteps=steps, params=params)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                p.mul_(gain)
    return _spread_batchnorms(model).eval()


def test_a_residual_add_becomes_two_edges_into_its_consumer_and_round_trips(mnist, tmp_path):
    model = _model(_residual())
    graph = snn_to_nir(model)
    assert "add" not in graph.nodes and "bn" not in graph.nodes  # an add is edges, a batch-norm is folded
    assert {("conv", "sn1"), ("sn0", "sn1")} <= set(graph.edges)
    assert [e for e in graph.edges if e[1] == "sn1"] == [("conv", "sn1"), ("sn0", "sn1")]
    x = _small()(mnist)
    report = export(model, tmp_path / "r.nir", format="nir", check=True, check_inputs=x)
    assert report["spikes_identical"] and report["neuron_layers"] == 3 and report["spikes"] > 0
    assert report["output_max_abs_diff"] < 1e-5 and report["batchnorms_folded"] == 1
    # what check_nir compares: every layer, and it catches a file that is not the model's
    graph.nodes["conv2"].weight[0, 0, 0, 0] += 0.5
    nir.write(str(tmp_path / "bad.nir"), graph)
    with pytest.raises(Exception, match="spikes differ between snnTorch's import_from_nir and snnc"):
        check_nir(tmp_path / "bad.nir", model, x)


def test_batchnorm_folding_is_the_unfolded_network_on_real_images(mnist):
    model = _model(_residual())
    conv, bn = model.get_submodule("conv"), model.get_submodule("bn")
    x = torch.rand(2, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    weight, bias = fold_batchnorm(conv, bn)
    folded = F.conv2d(x, torch.from_numpy(weight), torch.from_numpy(bias), padding=1)
    with torch.no_grad():
        assert torch.allclose(folded, bn(conv(x)), rtol=1e-5, atol=1e-6)
        assert not torch.equal(folded, conv(x))  # the batch-norm did something
    twin = folded_twin(model)
    assert twin is not model and model.get_submodule("bn").eps != 0  # the model itself is untouched
    images = _small()(mnist)
    out, layers = run_snnc_layers(model, images, 6)
    twin_out, twin_layers = run_snnc_layers(twin, images, 6)
    assert sum(int(v.sum()) for v in layers.values()) > 0
    for key in layers:
        assert torch.equal(layers[key], twin_layers[key]), key
    assert torch.allclose(out, twin_out, rtol=1e-5, atol=1e-5)


def test_the_twin_runs_in_nchw_as_the_importers_and_the_model_keeps_channels_last(mnist):
    """The file's arithmetic is a contiguous (NCHW) convolution over one sample: the twin runs so, the model keeps
    its channels-last layout, and a per-sample run is the model's batched run on the same images up to ties."""
    model = _model(_residual())
    assert model.channels_last and model.get_submodule("conv").weight.is_contiguous(memory_format=torch.channels_last)
    twin = folded_twin(model)
    assert not twin.channels_last and all(p.is_contiguous() for p in twin.parameters())
    assert not model.get_submodule("conv").weight.is_contiguous()  # untouched
    images = _small()(mnist)
    out, layers = run_snnc_layers(twin, images, 4, per_sample=True)
    one = [run_snnc_layers(twin, images[i:i + 1], 4) for i in range(len(images))]
    for key in layers:
        assert layers[key].shape[1] == len(images)
        assert torch.equal(layers[key], torch.cat([o[1][key] for o in one], 1)), key
    assert torch.equal(out, torch.cat([o[0] for o in one], 1)) and sum(int(v.sum()) for v in layers.values()) > 0


def test_average_pools_are_sum_pools_with_the_scale_in_the_next_weights():
    model = _model(_residual())
    graph = snn_to_nir(model)
    assert type(graph.nodes["pool"]).__name__ == "SumPool2d" and type(graph.nodes["gap"]).__name__ == "SumPool2d"
    assert list(graph.nodes["gap"].kernel_size) == [8, 8] and ("gap", "gap_flatten") in graph.edges
    # 1/4 and 1/64 are powers of two: the weights after the pools are exactly the model's scaled
    assert torch.equal(torch.from_numpy(graph.nodes["conv2"].weight), model.conv2.weight.detach() / 4)
    assert torch.equal(torch.from_numpy(graph.nodes["fc"].weight), model.fc.weight.detach() / 64)
    assert torch.equal(torch.from_numpy(graph.nodes["fc"].bias), model.fc.bias.detach())  # not the bias


@pytest.mark.parametrize("change,why", [
    ({"kernel_size": 3, "stride": 2}, "not a power of two"),
    ({"padding": 1}, "padding"),
])
def test_average_pools_that_a_scale_cannot_make_exact_stay_avgpool2d(change, why, mnist, tmp_path):
    data = _residual()
    data["layers"][6].update(change)
    model = _model(data)
    graph = snn_to_nir(model)
    assert type(graph.nodes["pool"]).__name__ == "AvgPool2d"
    assert torch.equal(torch.from_numpy(graph.nodes["conv2"].weight), model.conv2.weight.detach())
    row = next(r for r in nir_plan(build_graph(data)).rows if r.node == "pool")
    assert row.nir.startswith("AvgPool2d") and why in row.nir
    assert export(model, tmp_path / "p.nir", format="nir", check=True, check_inputs=_small()(mnist))[
        "spikes_identical"]


def _refused(data: dict) -> UnsupportedError:
    with pytest.raises(UnsupportedError) as info:
        snn_to_nir(snnc.compile(data, "snn"))
    return info.value


@pytest.mark.parametrize("edit,node,reason,fix", [
    (lambda ls: ls.__setitem__(4, {"name": "add", "kind": "concat", "inputs": ["bn", "sn0"]}), "add",
     "NIR has no concatenation", "kind: add of branches with the same channels"),
    (lambda ls: ls.__setitem__(4, {"name": "add", "kind": "multiply", "inputs": ["bn", "sn0"]}), "add",
     "NIR has no element-wise product", "remove the gate"),
    (lambda ls: ls.__setitem__(4, {"name": "add", "kind": "add", "inputs": ["sn0", "sn0"]}), "add",
     "two edges cannot join the same nodes (sn0)", "add distinct branches"),
    (lambda ls: ls.insert(7, {"name": "bn2", "kind": "batchnorm"}), "bn2",
     "NIR has no batch-norm; it folds into the conv2d or linear before it", "put it right after a conv2d"),
    (lambda ls: ls.__setitem__(6, {"name": "pool", "kind": "maxpool2d", "kernel_size": 2}), "pool",
     "NIR has sum and average pooling only", "kind: avgpool2d"),
])
def test_what_nir_cannot_express_is_refused_with_the_node_and_the_fix(edit, node, reason, fix):
    data = _residual()
    edit(data["layers"])
    error = _refused(data)
    assert [b.node for b in error.blockers] == [node]
    assert reason in error.blockers[0].reason and error.blockers[0].fix.startswith(fix)
    assert f"node '{node}': " in str(error) and f"fix: {fix}" in str(error)


def test_a_graph_that_ends_in_a_sum_is_refused():
    data = {"name": "sum_out", "input": {"shape": [6]}, "task": {"classes": 10}, "timesteps": 2,
            "neuron": {"reset": "zero"}, "layers": [
                {"name": "fc1", "kind": "linear", "out_features": 10}, {"name": "sn1", "kind": "spike"},
                {"name": "fc2", "kind": "linear", "out_features": 10},
                {"name": "add", "kind": "add", "inputs": ["fc2", "sn1"]}]}
    error = _refused(data)
    assert error.blockers[0].node == "add" and "Output takes one edge" in error.blockers[0].reason


def test_explain_lists_every_node_within_80_columns():
    plan = nir_plan(build_graph(SPECS / "sew_resnet34.yaml", {"stem": "cifar", "size": 32, "width": 4}))
    lines = explain_lines(plan, "sew_resnet34 → NIR")
    assert max(len(line) for line in lines) <= 80
    rows = {line.split()[0]: line for line in lines[2:-1] if not line.startswith(" ")}
    assert rows["layer1.0.add"].split()[1:] == ["add", "edges:", "the", "sum", "of", "2", "branches", "into", "each"]
    assert rows["layer1.0.bn1"].endswith("folded into layer1.0.conv1") and rows["layer1.0.sn1"].endswith(" IF")
    assert "SumPool2d, weights of fc ÷ 16" in rows["avgpool"] and rows["fc"].endswith("Affine (weight × 0.0625)")
    assert len(rows) == len(plan.rows)
    assert lines[-1] == f"{len(plan.rows)} of {len(plan.rows)} nodes export; the graph exports"
    blocked = explain_lines(nir_plan(build_graph(SPECS / "sew_resnet34.yaml"), {"pool": "max"}), "t")
    at = next(i for i, line in enumerate(blocked) if line.startswith("maxpool "))
    assert blocked[at].split()[1:4] == ["maxpool2d", "BLOCKED:", "NIR"]
    words = " ".join(" ".join(blocked[at:at + 4]).split())
    assert "BLOCKED: NIR has sum and average pooling only fix: --param pool=avg (this spec's switch), and" in words
    assert blocked[-1] == "127 of 128 nodes export; 1 block it (fix those, or export ONNX)"


VARIANTS = {
    "vgg16": {"reset": "zero", "pool": "avg", "widths": [4, 4, 8, 8, 8], "depths": [1, 1, 2, 1, 1], "size": 16},
    "resnet18": {"reset": "zero", "stem": "cifar", "size": 16, "classes": 10, "width": 4},
    "sew_resnet34": {"stem": "cifar", "size": 16, "classes": 10, "width": 4, "depths": [1, 2, 1, 1]},
    "sew_resnet34 (ImageNet stem)": {"pool": "avg", "size": 32, "classes": 10, "width": 4, "depths": [1, 1, 1, 1]},
    "resnet18 (ImageNet stem)": {"reset": "zero", "pool": "avg", "size": 64, "classes": 10, "width": 4,
                                 "depths": [1, 1, 1, 1]},
}


@pytest.mark.parametrize("name", VARIANTS)
def test_the_bundled_specs_with_their_switches_export_and_round_trip(name, mnist, tmp_path):
    spec = SPECS / f"{name.split()[0]}.yaml"
    params = VARIANTS[name]
    if {"reset", "pool"} & set(params):  # without the switches they do not export
        with pytest.raises(UnsupportedError, match="to NIR") as info:
            snn_to_nir(snnc.compile(spec, "snn", params={k: v for k, v in params.items() if k not in ("reset", "pool")}))
        assert all(b.fix.startswith("--param ") for b in info.value.blockers)
    model = _model(spec, steps=3, params=params)
    size = params["size"]
    x = _small(size)(mnist)[:2]
    report = export(model, tmp_path / "n.nir", format="nir", check=True, check_inputs=x)
    assert report["spikes_identical"] and report["mismatches"] == 0 and report["spikes"] > 0
    assert report["neuron_layers"] == len(model.neurons) and report["batchnorms_folded"] > 0
    kinds = {type(n).__name__ for n in nir.read(str(tmp_path / "n.nir")).nodes.values()}
    assert "SumPool2d" in kinds and {"LIF", "IF"} & kinds
