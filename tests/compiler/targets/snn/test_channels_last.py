"""to_channels_last gives exactly what Module.to(memory_format=channels_last) gives, copying less."""

import copy

import pytest
import torch

from snnc.compiler import pipeline
from snnc.compiler.targets.ann import graph_to_ann
from snnc.compiler.targets.snn.module import to_channels_last


@pytest.mark.parametrize("spec", ["mnist_conv", "ghostnet_dfc", "resnet18"])
def test_same_tensors_strides_and_values_as_module_to(spec):
    reference = graph_to_ann(pipeline.build_graph(spec))
    ours = copy.deepcopy(reference)
    before = [id(t) for t in (*ours.parameters(), *ours.buffers())]
    reference.to(memory_format=torch.channels_last)
    to_channels_last(ours)
    expected = [*reference.parameters(), *reference.buffers()]
    got = [*ours.parameters(), *ours.buffers()]
    assert [id(t) for t in got] == before  # the same tensor objects (optimizers and fx programs keep them)
    assert len(got) == len(expected)
    for want, have in zip(expected, got):
        assert have.shape == want.shape and have.stride() == want.stride()
        assert torch.equal(have, want)


def test_a_1x1_kernel_becomes_a_view_of_its_own_memory():
    conv = torch.nn.Conv2d(8, 4, 1)
    storage = conv.weight.untyped_storage().data_ptr()
    to_channels_last(conv)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.stride() == torch.empty(4, 8, 1, 1).to(memory_format=torch.channels_last).stride()
    assert conv.weight.untyped_storage().data_ptr() == storage
