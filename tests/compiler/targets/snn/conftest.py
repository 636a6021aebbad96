"""Fixtures for the snn target: the two sample networks as ann ``GraphModule`` s and their snnTorch twins.

``fc_ann``/``conv_ann`` are ``snnc.compile`` of ``specs/mnist_fc.yaml`` and ``specs/mnist_conv.yaml``. The
twins are the snnTorch tutorial loops on the same weights. ``build_ann`` makes small graphs the way the ann
target lowers them (module names = node names, spike nodes are ``nn.ReLU`` modules with ``meta["snnc_node"]``
an IR ``Spike``), for shapes of graph the sample specs do not have.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import snntorch as snn
import torch
import yaml
from snntorch import surrogate
from torch import fx, nn

import snnc
from snnc.compiler.ir.neuron import NeuronParams, Spike

T = 25
SPECS = Path(__file__).resolve().parents[4] / "specs"


def spec_data(name: str) -> dict:
    """The parsed YAML of ``specs/<name>.yaml`` (to compile variants of it)."""
    return yaml.safe_load((SPECS / f"{name}.yaml").read_text())


def _graph_info(timesteps=T, encoding="direct", decoding="rate"):
    return SimpleNamespace(
        timesteps=timesteps, encoding=SimpleNamespace(kind=encoding), decoding=SimpleNamespace(kind=decoding)
    )


def build_ann(layers, *, neuron: NeuronParams | None = None, **info) -> fx.GraphModule:
    """A chain ``x -> layer -> ...`` as the ann target lowers it.

    ``layers`` items are ``(name, module_or_"flatten", kind, shape)``; kind ``spike`` gets an ``nn.ReLU`` and
    an IR ``Spike`` with ``neuron`` parameters.
    """
    root = nn.Module()
    graph = fx.Graph()
    x = graph.placeholder("x")
    for name, module, kind, shape in layers:
        if kind == "flatten":
            x = graph.call_function(torch.flatten, (x, 1))
            ir = SimpleNamespace(kind="flatten", name=name, shape=shape)
        else:
            if kind == "spike":
                module = nn.ReLU()
                ir = Spike(name=name, shape=shape, neuron=neuron or NeuronParams())
            else:
                ir = SimpleNamespace(kind=kind, name=name, shape=shape)
            root.add_module(name, module)
            x = graph.call_module(name, (x,))
        x.meta["snnc_node"] = ir
    graph.output(x)
    gm = fx.GraphModule(root, graph)
    gm.meta["snnc_graph"] = _graph_info(**info)
    return gm


def fc_layers():
    return [
        ("flat", "flatten", "flatten", (784,)),
        ("fc1", nn.Linear(784, 1000), "linear", (1000,)),
        ("lif1", None, "spike", (1000,)),
        ("fc2", nn.Linear(1000, 10), "linear", (10,)),
        ("lif2", None, "spike", (10,)),
    ]


def conv_layers():
    return [
        ("conv1", nn.Conv2d(1, 12, 5), "conv2d", (12, 24, 24)),
        ("pool1", nn.MaxPool2d(2), "maxpool2d", (12, 12, 12)),
        ("lif1", None, "spike", (12, 12, 12)),
        ("conv2", nn.Conv2d(12, 64, 5), "conv2d", (64, 8, 8)),
        ("pool2", nn.MaxPool2d(2), "maxpool2d", (64, 4, 4)),
        ("lif2", None, "spike", (64, 4, 4)),
        ("flat", "flatten", "flatten", (1024,)),
        ("fc1", nn.Linear(1024, 10), "linear", (10,)),
        ("lif3", None, "spike", (10,)),
    ]


class TutorialFC(nn.Module):
    """The snnTorch tutorial loop for the FC net, on the ann module's weights."""

    def __init__(self, gm, beta=0.95, steps=T):
        super().__init__()
        self.steps = steps
        self.fc1, self.fc2 = copy.deepcopy(gm.fc1), copy.deepcopy(gm.fc2)
        self.lif1, self.lif2 = snn.Leaky(beta=beta), snn.Leaky(beta=beta)

    def forward(self, x):
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        spk2_rec, mem2_rec = [], []
        for _ in range(self.steps):
            cur1 = self.fc1(x.flatten(1))
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec), torch.stack(mem2_rec)


class TutorialConv(nn.Module):
    """The snnTorch tutorial loop for the conv net, on the ann module's weights."""

    def __init__(self, gm, beta=0.5, steps=T):
        super().__init__()
        self.steps = steps
        self.conv1, self.conv2, self.fc1 = (copy.deepcopy(gm.conv1), copy.deepcopy(gm.conv2),
                                            copy.deepcopy(gm.fc1))
        grad = surrogate.fast_sigmoid(slope=25)
        self.lif1, self.lif2, self.lif3 = (snn.Leaky(beta=beta, spike_grad=grad) for _ in range(3))

    def forward(self, x):
        mem1, mem2, mem3 = self.lif1.reset_mem(), self.lif2.reset_mem(), self.lif3.reset_mem()
        spk_rec, mem_rec = [], []
        for _ in range(self.steps):
            spk1, mem1 = self.lif1(nn.functional.max_pool2d(self.conv1(x), 2), mem1)
            spk2, mem2 = self.lif2(nn.functional.max_pool2d(self.conv2(spk1), 2), mem2)
            spk3, mem3 = self.lif3(self.fc1(spk2.flatten(1)), mem3)
            spk_rec.append(spk3)
            mem_rec.append(mem3)
        return torch.stack(spk_rec), torch.stack(mem_rec)


@pytest.fixture
def fc_ann():
    torch.manual_seed(0)
    return snnc.compile(snnc.load_spec(SPECS / "mnist_fc.yaml"))


@pytest.fixture
def conv_ann():
    torch.manual_seed(0)
    gm = snnc.compile(snnc.load_spec(SPECS / "mnist_conv.yaml"))
    # Why: at their initial scale (and beta 0.5) the upper layers never fire; x3 gives trained-like rates
    # (about 13 %, 20 % and 10 %), so the comparisons below exercise every layer.
    with torch.no_grad():
        for name in ("conv1", "conv2", "fc1"):
            gm.get_submodule(name).weight.mul_(3.0)
    return gm


@pytest.fixture
def nets():
    """The builders and tutorial twins above, for tests that need their own variants."""
    return SimpleNamespace(
        build_ann=build_ann,
        spec_data=spec_data,
        fc_layers=fc_layers,
        conv_layers=conv_layers,
        TutorialFC=TutorialFC,
        TutorialConv=TutorialConv,
        steps=T,
    )
