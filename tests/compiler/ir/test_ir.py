"""The IR: every kind has a shape function and a cost function, round-trips through JSON, and verify() finds
every structural problem without mutating the graph."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

import snnc
from snnc.compiler.ir import (NODE_KINDS, Add, Conv2d, Flatten, Graph, Input, Linear, Node, Spike)
from snnc.compiler.ir.costs import PARAMS_AND_MACS, graph_costs
from snnc.compiler.ir.shapes import SHAPE_FUNCTIONS, ShapeProblem, infer_shape
from snnc.compiler.ir.verify import verify

from ...conftest import SPECS, TEST_SPECS
from ..targets.test_ann import KIND_CASES

NODE = TypeAdapter(Node)


def test_tables_cover_every_kind():
    assert set(SHAPE_FUNCTIONS) == set(NODE_KINDS)
    assert set(PARAMS_AND_MACS) == set(NODE_KINDS)


@pytest.mark.parametrize("kind", sorted(KIND_CASES))
def test_every_kind_round_trips(kind):
    shape, layers = KIND_CASES[kind]
    graph = snnc.build_graph({"name": "c", "input": {"shape": shape}, "task": {"kind": "segmentation"},
                              "layers": layers})
    for node in graph.nodes:
        assert NODE.validate_json(NODE.dump_json(node)) == node
    assert Graph.model_validate_json(graph.model_dump_json()) == graph


def test_spec_and_ir_layers_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, snnc\nsnnc.build_graph('specs/mnist_conv.yaml')\n"
            "assert 'torch' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=SPECS.parent, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_conv_shape_formula():
    conv = Conv2d(name="c", in_channels=3, out_channels=8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2),
                  dilation=(2, 1))
    # H: (32 + 2 - 2*2 - 1) // 2 + 1 = 15 ; W: (20 + 4 - 4 - 1) // 1 + 1 = 20
    assert infer_shape(conv, [(3, 32, 20)]) == (8, 15, 20)


def test_shape_problem_names_the_field():
    lin = Linear(name="fc", in_features=10, out_features=2)
    with pytest.raises(ShapeProblem, match="expects 10 input features but its input has 12") as info:
        infer_shape(lin, [(12,)])
    assert info.value.field == "in_features"


def test_static_costs_of_mnist_conv():
    costs = graph_costs(snnc.build_graph(SPECS / "mnist_conv.yaml"))
    assert costs["conv1"].params == 12 * 25 + 12 and costs["conv1"].macs == 12 * 24 * 24 * 25
    assert costs["conv2"].macs == 64 * 8 * 8 * 12 * 25
    assert costs["fc1"].macs == 1024 * 10 and costs["lif1"].macs == 0
    assert costs["pool1"].activations == 12 * 12 * 12


def _g(*nodes, outputs=("b",)):
    return Graph.model_construct(name="g", nodes=tuple(nodes), outputs=outputs)


def test_verify_accepts_frontend_graphs():
    for spec in (SPECS / "mnist_fc.yaml", SPECS / "mnist_conv.yaml", TEST_SPECS / "valid" / "resnet_tiny.yaml"):
        assert verify(snnc.build_graph(spec)) == []


def test_verify_collects_every_problem():
    g = _g(Input(name="x", shape=(4,)),
           Linear(name="a", inputs=("x",), in_features=4, out_features=3, shape=(3,)),
           Linear(name="a", inputs=("a",), in_features=3, out_features=3, shape=(3,)),
           Add(name="b", inputs=("a", "ghost"), shape=(3,)),
           outputs=("b", "nowhere"))
    messages = [str(p) for p in verify(g)]
    assert any("duplicate node name 'a'" in m for m in messages)
    assert any("input 'ghost' → 'b' points at no node" in m for m in messages)
    assert any("output 'nowhere' is not a node" in m for m in messages)


def test_verify_finds_cycles_and_bad_shapes():
    cyc = _g(Input(name="x", shape=(4,)), Spike(name="a", inputs=("b",), shape=(4,)),
             Spike(name="b", inputs=("a",), shape=(4,)))
    assert any("cycle: " in str(p) for p in verify(cyc))
    bad = _g(Input(name="x", shape=(2, 3)), Flatten(name="b", inputs=("x",), shape=(5,)))
    (problem,) = verify(bad)
    assert "stored shape [5] disagrees with the inferred [6] from inputs 'x' [2, 3]" in str(problem)


def test_verify_does_not_mutate():
    graph = snnc.build_graph(SPECS / "mnist_conv.yaml")
    before = graph.model_dump()
    verify(graph)
    assert graph.model_dump() == before
