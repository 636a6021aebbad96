"""The ann target: every node kind lowers and runs; results equal hand-written PyTorch with the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

import snnc
from snnc.compiler.ir import NODE_KINDS
from snnc.compiler.targets.ann import LOWERINGS, spike_nodes

from ...conftest import SPECS, TEST_SPECS

# One small spec body per IR node kind: (input shape, layers). The input kind is covered by every case.
KIND_CASES: dict[str, tuple[list[int], list[dict]]] = {
    "conv2d": ([2, 6, 6], [{"kind": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
                            "dilation": 1, "groups": 2}]),
    "linear": ([5], [{"kind": "linear", "out_features": 3}]),
    "batchnorm": ([3, 4, 4], [{"kind": "batchnorm"}]),
    "maxpool2d": ([2, 7, 7], [{"kind": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1}]),
    "avgpool2d": ([2, 6, 6], [{"kind": "avgpool2d", "kernel_size": 2}]),
    "adaptive_avgpool2d": ([2, 7, 7], [{"kind": "adaptive_avgpool2d", "output_size": 3}]),
    "global_avgpool": ([2, 5, 5], [{"kind": "global_avgpool"}]),
    "activation": ([4], [{"kind": "activation", "function": "hardswish"}]),
    "spike": ([4], [{"kind": "spike"}]),
    "flatten": ([2, 3, 3], [{"kind": "flatten"}]),
    "reshape": ([12], [{"kind": "reshape", "shape": [3, -1]}]),
    "slice": ([6, 2, 2], [{"kind": "slice", "start": 1, "stop": 4}]),
    "dropout": ([4], [{"kind": "dropout", "p": 0.3}]),
    "identity": ([4], [{"kind": "identity"}]),
    "add": ([4], [{"name": "a", "kind": "linear", "out_features": 4}, {"kind": "add", "inputs": ["a", "input"]}]),
    "multiply": ([3, 4, 4], [{"name": "g", "kind": "global_avgpool"}, {"name": "r", "kind": "reshape",
                                                                        "shape": [3, 1, 1]},
                             {"kind": "multiply", "inputs": ["input", "r"]}]),
    "concat": ([2, 4, 4], [{"name": "c", "kind": "conv2d", "out_channels": 3, "kernel_size": 1},
                           {"kind": "concat", "inputs": ["input", "c"]}]),
    "upsample": ([2, 3, 3], [{"kind": "upsample", "scale_factor": 2, "mode": "bilinear"}]),
}


def _spec(shape, layers):
    return {"name": "case", "input": {"shape": shape}, "task": {"kind": "segmentation"}, "layers": layers}


def test_every_kind_has_a_case_and_a_lowering():
    assert set(KIND_CASES) | {"input"} == set(NODE_KINDS)
    assert set(LOWERINGS) | {"input"} == set(NODE_KINDS)


@pytest.mark.parametrize("kind", sorted(KIND_CASES))
def test_kind_lowers_and_runs(kind):
    shape, layers = KIND_CASES[kind]
    graph = snnc.build_graph(_spec(shape, layers))
    gm = snnc.compile(_spec(shape, layers))
    assert isinstance(gm, fx.GraphModule)
    assert any(n.meta.get("snnc_node") is not None and n.meta["snnc_node"].kind == kind for n in gm.graph.nodes)
    gm.eval()
    x = torch.rand(3, *shape)
    y = gm(x)
    assert tuple(y.shape) == (3, *graph.node(graph.outputs[0]).shape)
    assert torch.isfinite(y).all()


def test_module_names_are_spec_names():
    gm = snnc.compile(SPECS / "mnist_conv.yaml")
    names = {n for n, _ in gm.named_children()}
    assert {"conv1", "pool1", "lif1", "conv2", "pool2", "lif2", "fc1", "lif3"} <= names
    assert [n.target for n in spike_nodes(gm)] == ["lif1", "lif2", "lif3"]
    kinds = [type(gm.get_submodule(n.target)) for n in spike_nodes(gm)]
    assert kinds == [nn.ReLU, nn.ReLU, nn.Identity]  # the output layer's ANN counterpart is its logits


class HandConv(nn.Module):
    """mnist_conv written by hand (the snnTorch tutorial CSNN with ReLU for spikes)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2, self.fc1 = nn.Conv2d(1, 12, 5), nn.Conv2d(12, 64, 5), nn.Linear(1024, 10)

    def forward(self, x):
        x = torch.relu(torch.max_pool2d(self.conv1(x), 2))
        x = torch.relu(torch.max_pool2d(self.conv2(x), 2))
        return self.fc1(x.flatten(1))


class HandFC(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 1000), nn.Linear(1000, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


@pytest.mark.parametrize("spec,hand,params", [("mnist_fc.yaml", HandFC, 795_010), ("mnist_conv.yaml", HandConv, 29_826)])
def test_equal_to_hand_written(spec, hand, params):
    torch.manual_seed(0)
    ref = hand()
    gm = snnc.compile(SPECS / spec)
    assert sum(p.numel() for p in gm.parameters()) == sum(p.numel() for p in ref.parameters()) == params
    gm.load_state_dict(ref.state_dict())
    x = torch.rand(8, 1, 28, 28)
    torch.testing.assert_close(gm(x), ref(x), rtol=0, atol=0)


class HandTiny(nn.Module):
    """tests/specs/valid/resnet_tiny.yaml by hand, torchvision-style names."""

    class Basic(nn.Module):
        def __init__(self, cin, c, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.down = nn.Conv2d(cin, c, 1, stride, bias=False) if stride != 1 else None

        def forward(self, x):
            y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            return torch.relu(y + (self.down(x) if self.down is not None else x))

    def __init__(self, w=8):
        super().__init__()
        self.stem = nn.Conv2d(3, w, 3, padding=1)
        self.layer1 = nn.ModuleList([self.Basic(w, w, 1), self.Basic(w, w, 1)])
        self.layer2 = nn.ModuleList([self.Basic(w, 2 * w, 2), self.Basic(2 * w, 2 * w, 1)])
        self.fc = nn.Linear(2 * w, 10)
        self.w = w

    def forward(self, x):
        x = torch.relu(self.stem(x))
        for blk in [*self.layer1, *self.layer2]:
            x = blk(x)
        x = torch.cat([x[:, self.w:], x[:, :self.w]], 1)
        return self.fc(x.mean((2, 3)))


def test_residual_blocks_equal_hand_written():
    torch.manual_seed(0)
    ref = HandTiny().eval()
    gm = snnc.compile(TEST_SPECS / "valid" / "resnet_tiny.yaml").eval()
    assert set(gm.state_dict()) == set(ref.state_dict())
    gm.load_state_dict(ref.state_dict())
    x = torch.rand(4, 3, 16, 16)
    torch.testing.assert_close(gm(x), ref(x))
    graph = gm.meta["snnc_graph"]
    # tau = 2 steps → beta = exp(-1/2); the block overrides sn2's threshold only
    assert graph.node("layer1.0.sn1").neuron.beta == pytest.approx(0.6065306597)
    assert graph.node("layer1.0.sn2").neuron.threshold == 0.5
    assert graph.node("layer1.0.sn1").neuron.threshold == 1.0
    assert "layer1.0.down" not in graph.by_name and "layer2.0.down" in graph.by_name


def test_params_override_changes_width():
    small = snnc.build_graph(TEST_SPECS / "valid" / "resnet_tiny.yaml", {"width": 4})
    assert small.node("stem").shape == (4, 16, 16)
    with pytest.raises(snnc.SpecError, match="unknown parameter 'widht'. Did you mean 'width'"):
        snnc.build_graph(TEST_SPECS / "valid" / "resnet_tiny.yaml", {"widht": 4})


def test_caller_cannot_mutate_ir():
    graph = snnc.build_graph(SPECS / "mnist_fc.yaml")
    with pytest.raises(Exception, match="frozen"):
        graph.nodes[1].shape = (3,)
