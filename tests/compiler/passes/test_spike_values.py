"""The ``infer-spike-values`` pass: its tables cover every IR kind, spikes propagate as each table says, it leaves
the graph alone, and it agrees with the burst target's own analysis of converted modules."""

from __future__ import annotations

import pytest

import snnc
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.ir import NODE_KINDS
from snnc.compiler.ir.verify import verify
from snnc.compiler.passes.spike_values import NAME, ROLES_BY_TARGET, infer_spike_values, missing_kinds
from ...conftest import SPECS, TEST_SPECS

# One spike layer feeding one node of every kind (the graph's only output is fc; the rest dangle, which is fine).
ALL_KINDS = """
name: all_kinds
input: {shape: [4, 8, 8]}
task: {kind: classification, classes: 4}
layers:
  - {name: s, kind: spike}
  - {name: conv, kind: conv2d, inputs: [s], out_channels: 4, kernel_size: 3, padding: 1}
  - {name: bn, kind: batchnorm, inputs: [s]}
  - {name: maxpool, kind: maxpool2d, inputs: [s], kernel_size: 2}
  - {name: avgpool, kind: avgpool2d, inputs: [s], kernel_size: 2}
  - {name: adaptive, kind: adaptive_avgpool2d, inputs: [s], output_size: 2}
  - {name: gap, kind: global_avgpool, inputs: [s]}
  - {name: relu, kind: activation, function: relu, inputs: [s]}
  - {name: sigmoid, kind: activation, function: sigmoid, inputs: [s]}
  - {name: reshape, kind: reshape, inputs: [s], shape: [4, 64]}
  - {name: slice, kind: slice, inputs: [s], dim: 1, start: 0, stop: 2}
  - {name: dropout, kind: dropout, inputs: [s]}
  - {name: identity, kind: identity, inputs: [s]}
  - {name: add, kind: add, inputs: [s, s]}
  - {name: and, kind: multiply, inputs: [s, s]}
  - {name: gate, kind: multiply, inputs: [s, conv]}
  - {name: concat, kind: concat, inputs: [s, s]}
  - {name: nearest, kind: upsample, inputs: [s], size: [16, 16]}
  - {name: bilinear, kind: upsample, inputs: [s], size: [16, 16], mode: bilinear}
  - {name: flatten, kind: flatten, inputs: [s]}
  - {name: fc, kind: linear, inputs: [flatten], out_features: 4}
"""

# Whether each node's output is spikes when its input is the spike layer s.
SNN_SPIKES = {"input": False, "s": True, "conv": False, "bn": False, "maxpool": True, "avgpool": False,
              "adaptive": False, "gap": False, "relu": True, "sigmoid": False, "reshape": True, "slice": True,
              "dropout": True, "identity": True, "add": False, "and": True, "gate": False, "concat": True,
              "nearest": True, "bilinear": False, "flatten": True, "fc": False}
BURST_SPIKES = {**SNN_SPIKES, "and": False}  # relu is a burst neuron there: spikes as well


@pytest.fixture(scope="module")
def all_kinds():
    return snnc.build_graph(ALL_KINDS)


def test_the_graph_exercises_every_kind(all_kinds):
    assert {n.kind for n in all_kinds.nodes} == set(NODE_KINDS)


def test_every_table_covers_every_kind():
    assert missing_kinds() == {t: set() for t in ROLES_BY_TARGET}
    assert NAME == "infer-spike-values"


@pytest.mark.parametrize("target, expected", [("snn", SNN_SPIKES), ("burst", BURST_SPIKES),
                                              ("ann", {k: False for k in SNN_SPIKES})])
def test_propagation_table(all_kinds, target, expected):
    values = infer_spike_values(all_kinds, target=target)
    assert {name: v.spikes for name, v in values.items()} == expected
    assert values["fc"].input_spikes == (target != "ann")
    assert values["gate"].input_spikes is False and values["input"].input_spikes is False


def test_burst_relu_is_a_neuron(all_kinds):
    assert infer_spike_values(all_kinds, target="burst")["relu"].role == "spikes"
    assert infer_spike_values(all_kinds, target="snn")["relu"].role == "preserve"


def test_time_invariance_follows_the_encoding():
    graph = snnc.build_graph(SPECS / "mnist_conv.yaml")
    values = infer_spike_values(graph)
    assert values["input"].time_invariant and values["conv1"].input_time_invariant
    assert values["pool1"].time_invariant and not values["lif1"].time_invariant
    assert not values["conv2"].input_time_invariant and values["conv2"].input_spikes
    assert not values["conv1"].input_spikes
    rate = snnc.build_graph(SPECS / "mnist_conv.yaml").model_copy(
        update={"encoding": graph.encoding.model_copy(update={"kind": "rate"})})
    values = infer_spike_values(rate)
    assert values["conv1"].input_spikes and not values["conv1"].input_time_invariant


def test_is_pure(all_kinds):
    before = all_kinds.model_dump()
    infer_spike_values(all_kinds, target="snn")
    assert all_kinds.model_dump() == before and verify(all_kinds) == []


def test_overrides_and_unknown_target(all_kinds):
    values = infer_spike_values(all_kinds, {"avgpool2d": lambda node, graph: "preserve"})
    assert values["avgpool"].spikes
    with pytest.raises(UnsupportedError, match="no spike-value table for target 'mnn'; tables: ann, snn, burst"):
        infer_spike_values(all_kinds, target="mnn")


@pytest.mark.parametrize("path", [SPECS / "mnist_conv.yaml", TEST_SPECS / "valid" / "resnet_tiny.yaml"])
def test_agrees_with_the_burst_converter(path):
    torch = pytest.importorskip("torch")
    from snnc.compiler.targets.burst import convert

    graph = snnc.build_graph(path)
    torch.manual_seed(0)
    ann = snnc.compile(path).eval()
    burst = convert(ann, torch.rand(8, *graph.input.shape), timesteps=2)
    theirs = burst.input_is_spikes()
    ours = infer_spike_values(graph, target="burst")
    layers = [n.name for n in graph.nodes if n.kind in ("conv2d", "linear")]
    assert layers and {n: ours[n].input_spikes for n in layers} == {n: theirs[n] for n in layers}
