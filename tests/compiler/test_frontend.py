"""The front end: defaults resolved, blocks expanded, names scoped, neuron sections merged."""

from __future__ import annotations

import math

import pytest

import snnc
from snnc.compiler.frontend import parse_size, resolve_neuron
from snnc.compiler.spec.models import NeuronSpec


def _graph(layers, shape=(3, 8, 8), **extra):
    return snnc.build_graph({"name": "t", "input": {"shape": list(shape)}, "task": {"kind": "segmentation"},
                             "layers": layers, **extra})


def test_neuron_resolution():
    wide = NeuronSpec(model="leaky", tau=4.0, threshold=0.5)
    p = resolve_neuron(wide)
    assert p.beta == pytest.approx(math.exp(-0.25)) and p.threshold == 0.5
    q = resolve_neuron(wide, NeuronSpec(beta=0.3))
    assert q.beta == 0.3 and q.threshold == 0.5
    assert resolve_neuron(NeuronSpec(model="if")).beta == 1.0
    with pytest.raises(ValueError, match="either beta or tau"):
        NeuronSpec(beta=0.5, tau=2.0)


def test_shorthands_and_inference():
    g = _graph([{"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": "same"},
                {"kind": "conv2d", "out_channels": 6, "kernel_size": 3, "depthwise": True, "padding": 1},
                {"kind": "batchnorm"}, {"kind": "reshape", "shape": [-1, 8]}],
               encoding="rate", decoding="count")
    conv, dw, bn, rs = g.nodes[1:]
    assert conv.padding == (1, 1) and conv.in_channels == 3 and conv.shape == (6, 8, 8)
    assert dw.groups == 6 and bn.dims == 2 and bn.num_features == 6
    assert rs.target == (48, 8)
    assert g.encoding.kind == "rate" and g.decoding.kind == "count"


def test_split_parts_are_addressable():
    g = _graph([{"name": "s", "kind": "split", "sizes": [1, 2]},
                {"name": "c", "kind": "concat", "inputs": ["s.1", "s.0"]}])
    assert g.node("s.0").shape == (1, 8, 8) and g.node("s.1").shape == (2, 8, 8)
    assert g.node("c").inputs == ("s.1", "s.0")


def test_recursive_block_is_refused():
    spec = {"blocks": {"loop": {"layers": [{"kind": "block", "block": "loop"}]}},
            "layers": [{"kind": "block", "block": "loop"}]}
    with pytest.raises(snnc.SpecError, match="block 'loop' uses itself: loop → loop"):
        _graph(**spec)


def test_errors_inside_blocks_name_the_instance():
    spec = {"blocks": {"b": {"params": {"k": 3}, "layers": [{"kind": "conv2d", "out_channels": 2,
                                                              "kernel_size": "${k}"}]}},
            "layers": [{"name": "stage", "kind": "block", "block": "b", "repeat": 2, "args": {"k": 9}}]}
    with pytest.raises(snnc.SpecError, match=r"in block instance 'stage\.0'") as info:
        _graph(**spec)
    assert info.value.diagnostics[0].path == ("blocks", "b", "layers", 0, "kernel_size")


def test_block_output_and_nested_names():
    spec = {"blocks": {"b": {"layers": [{"name": "x", "kind": "identity"}, {"name": "y", "kind": "identity"}],
                             "output": "x"}},
            "layers": [{"name": "s", "kind": "block", "block": "b", "repeat": 2}]}
    g = _graph(**spec)
    assert g.node("s.1.x").inputs == ("s.0.x",)
    assert g.outputs == ("s.1.x",)


def test_parse_size():
    assert parse_size("2G") == 2 << 30 and parse_size("512M") == 512 << 20 and parse_size("1024") == 1024
    with pytest.raises(ValueError):
        parse_size("-1G")
