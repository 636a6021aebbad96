"""End to end: convert small nets and check the spiking output approaches the ANN's."""

from __future__ import annotations

import copy
import functools
import re

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.utils.data import DataLoader, TensorDataset

from snnc.compiler.errors import SnncError
from snnc.compiler.ir.neuron import Spike
from snnc.compiler.targets.burst import BurstNeuron, BurstSNN, LIPool
from snnc.compiler.targets.burst import convert as _convert

convert = functools.partial(_convert, calibrate="none")
"""The conversion alone (calibration after it is tested in test_calibrate.py): these tests check how its error
shrinks with T, which a correction tuned for one T changes on purpose."""


def errors(snn: BurstSNN, ann: nn.Module, x: torch.Tensor, checkpoints) -> dict[int, float]:
    """Largest absolute output error at each checkpoint, from one run."""
    reference = ann(x)
    return {t: (out - reference).abs().max().item() for t, out in snn.accumulate(x, checkpoints).items()}


def relu_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    modules = dict(gm.named_modules())
    return [n for n in gm.graph.nodes if (n.op == "call_module" and isinstance(modules[n.target], nn.ReLU))
            or (n.op in ("call_function", "call_method") and re.search("relu|clamp", str(n.target)))]


def test_cnn_with_max_pool_and_bn_approaches_the_ann(cnn, images, probe):
    snn = convert(cnn, images)
    err = errors(snn, cnn, probe, [8, 256])
    assert err[256] < err[8] / 4
    assert err[256] < 0.02 * cnn(probe).abs().max().item() + 1e-3
    called = [type(snn.network.get_submodule(n.target)) for n in snn.network.graph.nodes
              if n.op == "call_module"]
    assert called.count(BurstNeuron) == 4 and called.count(LIPool) == 2
    assert not any(issubclass(k, (nn.BatchNorm2d, nn.BatchNorm1d, nn.Dropout, nn.ReLU, nn.MaxPool2d))
                   for k in called)


def test_resnet_with_functional_relu_add_and_cat_approaches_the_ann(resnet, images, probe):
    snn = convert(resnet, DataLoader(TensorDataset(images, torch.zeros(64)), batch_size=16))
    err = errors(snn, resnet, probe, [8, 256])
    assert err[256] < err[8] / 4
    assert err[256] < 0.02 * resnet(probe).abs().max().item() + 1e-3
    # stem relu, 2 blocks × (F.relu + .relu()), clamp(min=0): six neurons, no ReLU left anywhere
    assert len(snn.neurons()) == 6
    assert relu_nodes(snn.network) == []
    assert "block1.relu" in snn.neurons() and "block2.relu" in snn.neurons()


def test_burst_approaches_faster_than_if(cnn, images, probe):
    """With a threshold below the largest activations, IF neurons saturate at theta; bursts do not."""
    burst = convert(cnn, images, gamma=5, percentile=90.0)
    plain = convert(cnn, images, method="if", percentile=90.0)
    err_burst = errors(burst, cnn, probe, [32, 128])
    err_plain = errors(plain, cnn, probe, [32, 128])
    assert err_burst[32] < err_plain[32] / 2
    assert err_burst[128] < err_plain[128] / 2
    assert plain.config["gamma"] == 1
    assert all(m.gamma == 1 for m in plain.neurons().values())


def test_gamma_one_neurons_emit_only_zero_or_theta(cnn, images, probe):
    snn = convert(cnn, images, gamma=1)
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, o / mod.threshold))
             for name, m in snn.neurons().items()]
    snn(probe, timesteps=16)
    for hook in hooks:
        hook.remove()
    for k in seen.values():
        assert set(torch.unique(k.round()).tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(k, k.round())


def test_a_reused_relu_module_gives_one_neuron_per_call_site(images, probe):
    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)
            self.fc1, self.fc2 = nn.Linear(4 * 4 * 4, 8), nn.Linear(8, 3)
            self.act = nn.ReLU()

        def forward(self, x):
            x = self.act(self.c1(x))
            x = self.act(self.c2(x) * 3.0)  # a larger scale: a threshold shared with site 1 would be wrong
            return self.fc2(self.act(self.fc1(x.flatten(1)) + 2.0))

    torch.manual_seed(0)
    model = Reuse().eval()
    snn = convert(model, images)
    neurons = snn.neurons()
    assert list(neurons) == ["act_0", "act_1", "act_2"]
    assert len({id(n) for n in neurons.values()}) == 3
    assert len({round(n.threshold.item(), 6) for n in neurons.values()}) == 3
    err = errors(snn, model, probe, [8, 256])
    assert err[256] < err[8] / 4


def test_every_relu_spelling_is_converted(images):
    class Spellings(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(1 if i == 0 else 2, 2, 1) for i in range(7))
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            c = self.convs
            x = self.act(c[0](x))
            x = F.relu(c[1](x))
            x = torch.relu(c[2](x))
            x = c[3](x).relu()
            x = torch.clamp(c[4](x), min=0)
            x = c[5](x).clamp_min(0)
            y = c[6](x)
            y.relu_()  # in place: the next op must read the rectified value
            return y.mean((2, 3))

    model = Spellings().eval()
    snn = convert(model, images)
    assert len(snn.neurons()) == 7
    assert relu_nodes(snn.network) == []
    x = images[:2]
    torch.testing.assert_close(snn(x, timesteps=512), model(x), atol=0.02, rtol=0)


def test_the_callers_model_is_unchanged(cnn, images):
    cnn.train()
    cnn.classifier.eval()  # a mixed state must come back exactly
    state = copy.deepcopy(cnn.state_dict())
    structure = repr(cnn)
    flags = [m.training for m in cnn.modules()]
    convert(cnn, images)
    assert repr(cnn) == structure
    assert [m.training for m in cnn.modules()] == flags
    for key, value in cnn.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_training_flags_are_restored_when_conversion_fails(images):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU()).train()
    with pytest.raises(SnncError, match="GELU"):
        convert(model, images)
    assert all(m.training for m in model.modules())


def test_ann_target_graph_module_keeps_its_spike_names_and_meta(images, probe):
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    gm = fx.symbolic_trace(ann)
    for node in gm.graph.nodes:
        if node.op == "call_module" and node.target == "1":
            node.meta["snnc_node"] = Spike(name="spike1")
    snn = convert(gm, images)
    assert list(snn.neurons()) == ["1"]
    spike_nodes = [n for n in snn.network.graph.nodes if "snnc_node" in n.meta]
    assert len(spike_nodes) == 1 and isinstance(snn.network.get_submodule(spike_nodes[0].target), BurstNeuron)
    assert spike_nodes[0].meta["snnc_node"].kind == "spike"
    assert "snnc_node" in [n for n in gm.graph.nodes if n.target == "1"][0].meta  # caller's graph intact
    err = errors(snn, ann, probe, [8, 256])
    assert err[256] < err[8] / 4


def test_trailing_softmax_is_applied_to_the_time_average(images, probe):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(dim=1)).eval()
    snn = convert(model, images)
    out = snn(probe, timesteps=256)
    torch.testing.assert_close(out.sum(1), torch.ones(4))
    torch.testing.assert_close(out, model(probe), atol=0.02, rtol=0)
    logits = snn(probe, timesteps=256, return_steps=True).mean(0)
    torch.testing.assert_close(out, logits.softmax(dim=1))


@pytest.mark.parametrize("normalization, channelwise", [("max", False), ("max", True), ("percentile", True)])
def test_normalization_options(cnn, images, probe, normalization, channelwise):
    snn = convert(cnn, images, normalization=normalization, channelwise=channelwise, percentile=99.0)
    first = snn.thresholds()["features.2"]
    assert first.shape == ((8, 1, 1) if channelwise else ())
    err = errors(snn, cnn, probe, [8, 256])
    assert err[256] < err[8] / 4


def test_max_normalization_gives_the_largest_calibration_activation(images):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU()).eval()
    snn = convert(model, images, normalization="max")
    expected = model(images).max()
    torch.testing.assert_close(snn.thresholds()["2"], expected)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "brust"}, r"unknown conversion method 'brust'.*Did you mean 'burst'"),
    ({"method": "if", "gamma": 3}, r"method='if' means gamma=1"),
    ({"gamma": 0}, r"gamma must be an integer >= 1"),
    ({"percentile": 0.0}, r"percentile must be in \(0, 100\]"),
    ({"normalization": "maximum"}, r"unknown normalization 'maximum'"),
    ({"v_init": 1.0}, r"v_init is a fraction"),
])
def test_invalid_options(cnn, images, kwargs, message):
    with pytest.raises(SnncError, match=message):
        convert(cnn, images, **kwargs)


def test_empty_calibration_data(cnn):
    with pytest.raises(SnncError, match="calibration data is empty"):
        convert(cnn, [])
