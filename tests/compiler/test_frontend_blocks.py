"""Block features the model zoo needs: extra block inputs, addressable repeat copies, ``upsample: like``, and
nodes kept in spec order."""

from __future__ import annotations

import pytest
import torch

import snnc


def _graph(layers, shape=(2, 8, 8), blocks=None, **params):
    return snnc.build_graph({"name": "t", "input": {"shape": list(shape)}, "task": {"kind": "segmentation"},
                             "blocks": blocks or {}, "layers": layers}, params or None)


UNET = {  # a two-level U-Net: the decoder takes the encoder copy of its level as the extra input 'skip'
    "enc": {"params": {"c": None}, "layers": [
        {"name": "pool", "kind": "maxpool2d", "kernel_size": 2, "when": "${i > 0}"},
        {"name": "conv", "kind": "conv2d", "out_channels": "${c}", "kernel_size": 3, "padding": 1}]},
    "dec": {"params": {"c": None}, "inputs": ["skip"], "layers": [
        {"name": "up", "kind": "upsample", "like": "skip"},
        {"name": "cat", "kind": "concat", "inputs": ["skip", "up"]},
        {"name": "conv", "kind": "conv2d", "out_channels": "${c}", "kernel_size": 3, "padding": 1}]},
}


def test_block_extra_inputs_and_repeat_copies():
    g = _graph([{"name": "down", "kind": "block", "block": "enc", "repeat": 3, "args": {"c": "${4 * 2 ** i}"}},
                {"name": "up", "kind": "block", "block": "dec", "repeat": 2,
                 "args": {"c": "${8 // 2 ** i}", "skip": "down.${1 - i}"}}], shape=(1, 9, 9), blocks=UNET)
    assert g.node("down.2.conv").shape == (16, 2, 2)
    assert g.node("up.0.cat").inputs == ("down.1.conv", "up.0.up") and g.node("up.0.cat").shape == (24, 4, 4)
    assert g.node("up.1.cat").inputs == ("down.0.conv", "up.1.up") and g.node("up.1.cat").shape == (12, 9, 9)
    assert g.outputs == ("up.1.conv",)


def test_upsample_like_takes_the_size_but_not_the_data():
    g = _graph([{"name": "p", "kind": "avgpool2d", "kernel_size": 2},
                {"name": "u", "kind": "upsample", "like": "input"}], shape=(2, 7, 5))
    up = g.node("u")
    assert up.inputs == ("p",) and up.size == (7, 5) and up.shape == (2, 7, 5)
    gm = snnc.compile({"name": "t", "input": {"shape": [2, 7, 5]}, "task": {"kind": "segmentation"},
                       "layers": [{"name": "p", "kind": "avgpool2d", "kernel_size": 2},
                                  {"name": "u", "kind": "upsample", "like": "input"}]})
    assert gm(torch.rand(1, 2, 7, 5)).shape == (1, 2, 7, 5)


def test_one_copy_is_also_copy_zero_and_nested_nodes_keep_spec_order():
    blocks = {"inner": {"layers": [{"name": "a", "kind": "identity"}]},
              "outer": {"layers": [{"name": "first", "kind": "identity"},
                                   {"name": "nest", "kind": "block", "block": "inner"},
                                   {"name": "last", "kind": "identity"}]}}
    g = _graph([{"name": "b", "kind": "block", "block": "outer"},
                {"name": "c", "kind": "identity", "inputs": ["b.0"]}], blocks=blocks)
    assert [n.name for n in g.nodes] == ["input", "b.first", "b.nest.a", "b.last", "c"]
    assert g.node("c").inputs == ("b.last",)


@pytest.mark.parametrize("args,message,path", [
    ({"c": 4}, "block 'dec' needs a value for its input 'skip'", ("layers", 1, "args")),
    ({"c": 4, "skip": "dwn"}, "input 'skip' of block 'dec' names 'dwn', which is not defined above this layer. "
                              "Did you mean 'down'", ("layers", 1, "args", "skip")),
    ({"c": 4, "skp": "down"}, "block 'dec' has no parameter 'skp'. Did you mean 'skip'", ("layers", 1, "args", "skp")),
])
def test_block_input_errors(args, message, path):
    with pytest.raises(snnc.SpecError, match=message) as info:
        _graph([{"name": "down", "kind": "block", "block": "enc", "args": {"c": 4}},
                {"name": "up", "kind": "block", "block": "dec", "args": args}], blocks=UNET)
    assert info.value.diagnostics[0].path == path


def test_block_input_cannot_be_a_parameter():
    blocks = {"b": {"params": {"skip": 1}, "inputs": ["skip"], "layers": [{"kind": "identity"}]}}
    with pytest.raises(snnc.SpecError, match="'skip' is both an input and a parameter"):
        _graph([{"kind": "block", "block": "b"}], blocks=blocks)


def test_upsample_like_errors():
    with pytest.raises(snnc.SpecError, match="'u' takes input 'inptu', which is not defined. Did you mean 'input'") \
            as info:
        _graph([{"name": "u", "kind": "upsample", "like": "inptu"}])
    assert info.value.diagnostics[0].path == ("layers", 0, "like")
    with pytest.raises(snnc.SpecError, match=r"'like' names a layer shaped \[128\], not \[C, H, W\]"):
        _graph([{"name": "f", "kind": "flatten"}, {"name": "u", "kind": "upsample", "like": "f", "inputs": ["input"]}])
    with pytest.raises(snnc.SpecError, match="give exactly one of scale_factor, size or like"):
        _graph([{"kind": "upsample", "like": "input", "scale_factor": 2}])
