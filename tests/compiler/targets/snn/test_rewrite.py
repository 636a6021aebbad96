"""ann_to_snn on the two sample networks: the same spikes and gradients as the snnTorch tutorial loop, output
shapes, encodings, spike counts, and the caller's module left alone."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import spikegen
from torch import fx, nn

import snnc

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.ir.neuron import NeuronParams, Spike
from snnc.compiler.targets.snn import NeuronLoop, SpikingModule, ann_to_snn

T = 25


def _loss(spk, mem, target):
    # The tutorials' loss (cross-entropy of the membrane at every step) plus a spike term, so that gradients
    # flow through the output spikes' surrogate too.
    ce = sum(F.cross_entropy(mem[t], target) for t in range(mem.shape[0]))
    return ce + (spk.sum(0) - 3.0).pow(2).mean()


def _assert_same_as_tutorial(snn_module, tutorial, x, target):
    spk, mem = snn_module(x)
    want_spk, want_mem = tutorial(x)
    assert spk.shape == want_spk.shape == (T, x.shape[0], 10)
    assert 0 < want_spk.sum() < want_spk.numel()
    assert torch.equal(spk, want_spk)
    assert torch.allclose(mem, want_mem, atol=1e-6)
    _loss(spk, mem, target).backward()
    _loss(want_spk, want_mem, target).backward()
    theirs = dict(tutorial.named_parameters())
    ours = dict(snn_module.named_parameters())
    assert ours.keys() == theirs.keys()
    for name, param in ours.items():
        assert torch.allclose(param.grad, theirs[name].grad, rtol=1e-4, atol=1e-5), name


def test_fc_net_matches_the_snntorch_tutorial_loop(fc_ann, nets):
    torch.manual_seed(1)
    x, target = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    _assert_same_as_tutorial(ann_to_snn(fc_ann), nets.TutorialFC(fc_ann), x, target)


@pytest.mark.parametrize("options", [{}, {"chunk": 4, "channels_last": False}], ids=["auto", "chunked-nchw"])
def test_conv_net_matches_the_snntorch_tutorial_loop(conv_ann, nets, options):
    torch.manual_seed(1)
    x, target = torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,))
    _assert_same_as_tutorial(ann_to_snn(conv_ann, **options), nets.TutorialConv(conv_ann), x, target)


def test_reference_mode_runs_snntorch_step_by_step_with_the_same_result(fc_ann):
    x = torch.rand(4, 1, 28, 28)
    fused, reference = ann_to_snn(fc_ann), ann_to_snn(fc_ann, mode="reference")
    assert fused.mode == "fused" and reference.mode == "reference"
    # float32 (snnTorch's spike functions return float32): the same spikes; the membranes to float32 rounding,
    # as time folded into the batch may sum a product in another order (see assert_same_run)
    for a, b in zip(fused(x), reference(x)):
        torch.testing.assert_close(a, b)


def test_rate_encoding_matches_the_tutorial_fed_with_spikegen(fc_ann, nets):
    x = torch.rand(5, 1, 28, 28)
    model = ann_to_snn(fc_ann, encoding={"kind": "rate", "gain": 0.8}, timesteps=12)
    torch.manual_seed(7)
    spk, mem = model(x)
    torch.manual_seed(7)
    again = model(x)
    assert spk.shape == mem.shape == (12, 5, 10)
    assert torch.equal(spk, again[0]) and torch.equal(mem, again[1])
    torch.manual_seed(7)
    spikes_in = spikegen.rate(x, num_steps=12, gain=0.8)
    tutorial = nets.TutorialFC(fc_ann, steps=12)
    mem1 = mem2 = None
    rec = []
    for t in range(12):
        spk1, mem1 = tutorial.lif1(tutorial.fc1(spikes_in[t].flatten(1)), mem1)
        spk2, mem2 = tutorial.lif2(tutorial.fc2(spk1), mem2)
        rec.append(mem2)
    assert torch.allclose(mem, torch.stack(rec), atol=1e-6)


def test_latency_encoding_shapes(conv_ann):
    model = ann_to_snn(conv_ann, encoding="latency", timesteps=8, chunk=3)
    spk, mem = model(torch.rand(2, 1, 28, 28))
    assert spk.shape == mem.shape == (8, 2, 10)


def test_timesteps_and_state_reset_per_call(fc_ann):
    model = ann_to_snn(fc_ann, timesteps=7)
    x = torch.rand(3, 1, 28, 28)
    first, second = model(x), model(x)
    assert first[0].shape == (7, 3, 10)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_layers_before_the_first_neuron_run_once_with_direct_encoding(conv_ann):
    model = ann_to_snn(conv_ann, chunk=5)
    calls = {"conv1": 0, "conv2": 0}
    model.conv1.register_forward_hook(lambda *a: calls.__setitem__("conv1", calls["conv1"] + 1))
    model.conv2.register_forward_hook(lambda *a: calls.__setitem__("conv2", calls["conv2"] + 1))
    model(torch.rand(2, 1, 28, 28))
    assert calls == {"conv1": 1, "conv2": T // 5}


def test_spike_counts_match_a_manual_count(fc_ann, nets):
    x = torch.rand(8, 1, 28, 28)
    tutorial = nets.TutorialFC(fc_ann)
    counts, mem1, mem2 = {"lif1": 0, "lif2": 0}, None, None
    for _ in range(T):
        spk1, mem1 = tutorial.lif1(tutorial.fc1(x.flatten(1)), mem1)
        spk2, mem2 = tutorial.lif2(tutorial.fc2(spk1), mem2)
        counts["lif1"] += int(spk1.sum())
        counts["lif2"] += int(spk2.sum())
    model = ann_to_snn(fc_ann)
    with model.recording():
        model(x)
    assert model.spike_counts() == counts
    assert model.neuron_counts() == {"lif1": 1000, "lif2": 10}
    rates = model.firing_rates()
    assert rates["lif1"] == pytest.approx(counts["lif1"] / (T * 8 * 1000))
    assert not model.record
    model(x)
    assert model.spike_counts() == counts, "counts change only while recording"
    recording = ann_to_snn(fc_ann, record=True)
    recording(x)
    recording(x)
    assert recording.spike_counts() == {k: 2 * v for k, v in counts.items()}


def test_callers_module_is_unchanged(fc_ann):
    code, state = fc_ann.code, copy.deepcopy(fc_ann.state_dict())
    model = ann_to_snn(fc_ann)
    spk, mem = model(torch.rand(2, 1, 28, 28))
    mem.sum().backward()
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    assert fc_ann.code == code
    assert isinstance(fc_ann.lif1, nn.ReLU) and isinstance(model.lif1, NeuronLoop)
    for key, value in fc_ann.state_dict().items():
        assert torch.equal(value, state[key])
    assert fc_ann.fc1.weight.grad is None


def test_learnable_beta_and_threshold_are_parameters(nets):
    data = nets.spec_data("mnist_fc")
    data["neuron"].update(learn_beta=True, learn_threshold=True)
    model = snnc.compile(data, target="snn")
    names = {n for n, _ in model.named_parameters()}
    assert {"lif1.neuron.beta", "lif1.neuron.threshold", "lif2.neuron.beta", "lif2.neuron.threshold"} <= names
    spk, mem = model(torch.rand(2, 1, 28, 28))
    mem.sum().backward()
    assert model.lif2.neuron.beta.grad is not None and model.lif2.neuron.threshold.grad is not None


@pytest.mark.parametrize(
    "neuron, cls",
    [
        ({"model": "synaptic", "alpha": 0.8, "reset": "zero", "surrogate": "sigmoid"}, snn.Synaptic),
        ({"model": "if", "reset": "none", "surrogate": "triangular"}, snn.Leaky),
    ],
)
def test_spec_neuron_settings_reach_the_snntorch_neuron(nets, neuron, cls):
    data = nets.spec_data("mnist_fc")
    data["neuron"].update(neuron)
    model = snnc.compile(data, target="snn", timesteps=4)
    lif = model.neurons["lif1"].neuron
    assert type(lif) is cls and lif.reset_mechanism == neuron["reset"]
    assert lif.beta.item() == (1.0 if neuron["model"] == "if" else pytest.approx(0.95))
    assert model(torch.rand(2, 1, 28, 28))[0].shape == (4, 2, 10)


def test_ann_weights_load_by_the_same_names(fc_ann):
    model = ann_to_snn(fc_ann)
    missing, unexpected = model.load_state_dict(fc_ann.state_dict(), strict=False)
    assert unexpected == [] and all(".neuron." in key for key in missing)


def test_graph_ending_without_a_spike_node_returns_the_output_twice(nets):
    ann = nets.build_ann(nets.fc_layers()[:-1])
    spk, mem = ann_to_snn(ann, timesteps=5)(torch.rand(3, 1, 28, 28))
    assert spk.shape == (5, 3, 10)
    assert torch.equal(spk, mem)


def test_graph_without_any_spike_node_repeats_the_ann_output(nets):
    ann = nets.build_ann(nets.fc_layers()[:2])
    x = torch.rand(3, 1, 28, 28)
    spk, _ = ann_to_snn(ann, timesteps=4)(x)
    assert torch.equal(spk, ann(x).expand(4, 3, 1000))


def test_nested_module_names(nets):
    root = nn.Module()
    root.layer1 = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    graph = fx.Graph()
    x = graph.placeholder("x")
    fc = graph.call_module("layer1.0", (x,))
    fc.meta["snnc_node"] = SimpleNamespace(kind="linear", name="layer1.0", shape=(3,))
    sn = graph.call_module("layer1.1", (fc,))
    sn.meta["snnc_node"] = Spike(name="layer1.1", shape=(3,), neuron=NeuronParams(threshold=0.1))
    graph.output(sn)
    model = ann_to_snn(fx.GraphModule(root, graph), timesteps=3, record=True)
    assert isinstance(model.get_submodule("layer1.1"), NeuronLoop)
    assert list(model.neurons) == ["layer1.1"]
    assert model(torch.rand(2, 4))[0].shape == (3, 2, 3)


def test_skip_connection_from_before_the_first_neuron(nets):
    # x -> fc -> sn; out = fc2(sn) + fc (a time-invariant value used after a neuron)
    root = nn.Module()
    root.fc, root.sn, root.fc2 = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)
    graph = fx.Graph()
    x = graph.placeholder("x")
    fc = graph.call_module("fc", (x,))
    sn = graph.call_module("sn", (fc,))
    sn.meta["snnc_node"] = Spike(name="sn", shape=(4,), neuron=NeuronParams(threshold=0.2))
    out = graph.call_function(torch.add, (graph.call_module("fc2", (sn,)), fc))
    graph.output(out)
    model = ann_to_snn(fx.GraphModule(root, graph), timesteps=6)
    inp = torch.rand(2, 4)
    spk, mem = model(inp)
    lif, state, want = snn.Leaky(beta=0.95, threshold=0.2), None, []
    current = root.fc(inp)
    for _ in range(6):
        spikes, state = lif(current, state)
        want.append(root.fc2(spikes) + current)
    assert torch.equal(spk, mem)
    assert torch.allclose(spk, torch.stack(want))


def test_missing_graph_info_needs_timesteps(fc_ann):
    bare = copy.deepcopy(fc_ann)
    bare.meta.pop("snnc_graph")
    with pytest.raises(UnsupportedError, match=r"carries no snnc graph .* pass timesteps"):
        ann_to_snn(bare)
    assert ann_to_snn(bare, timesteps=3)(torch.rand(1, 1, 28, 28))[0].shape == (3, 1, 10)


def test_spike_node_that_is_not_a_module_call_is_an_error(fc_ann):
    bad = copy.deepcopy(fc_ann)
    node = next(n for n in bad.graph.nodes if n.target == "lif1")
    with bad.graph.inserting_after(node):
        functional = bad.graph.call_function(torch.relu, (node.args[0],))
    node.replace_all_uses_with(functional)
    functional.meta = node.meta
    bad.graph.erase_node(node)
    bad.recompile()
    with pytest.raises(UnsupportedError, match="spike node 'lif1' is lowered as call_function"):
        ann_to_snn(bad)


def test_options_are_checked(fc_ann):
    with pytest.raises(UnsupportedError, match="chunk must be a positive integer"):
        ann_to_snn(fc_ann, chunk=0)
    with pytest.raises(UnsupportedError, match="timesteps must be a positive integer"):
        ann_to_snn(fc_ann, timesteps=0)
    with pytest.raises(UnsupportedError, match="cannot be combined with mode='reference'"):
        ann_to_snn(fc_ann, compile=True, mode="reference")


def test_multiple_outputs_are_rejected(fc_ann):
    two = copy.deepcopy(fc_ann)
    out = next(n for n in two.graph.nodes if n.op == "output")
    out.args = ((out.args[0], out.args[0]),)
    two.recompile()
    with pytest.raises(UnsupportedError, match="single output tensor"):
        ann_to_snn(two)


def test_module_deep_copies_and_decodes(fc_ann):
    model = ann_to_snn(fc_ann, decoding="count", mode="reference")
    x = torch.rand(2, 1, 28, 28)
    spk, mem = model(x)
    twin = copy.deepcopy(model)
    assert isinstance(twin, SpikingModule)
    assert twin.fc1.weight is not model.fc1.weight
    assert torch.equal(twin(x)[0], spk)
    assert torch.equal(model.decode(spk, mem), spk.sum(0))


@pytest.mark.slow
def test_compiled_mode_matches_the_tutorial_loop(fc_ann, nets):
    torch.manual_seed(1)
    x, target = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    _assert_same_as_tutorial(ann_to_snn(fc_ann, compile=True), nets.TutorialFC(fc_ann), x, target)
