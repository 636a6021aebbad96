"""Long time windows: activation checkpointing over time (exact) and truncated BPTT (an approximation).

Tolerances: checkpointing recomputes the same operations in the same order, so its gradients equal plain
BPTT's up to ``rtol=1e-5, atol=1e-7`` (on CPU they are bitwise equal in practice); the truncated-BPTT
comparison with a hand-made snnTorch loop uses ``rtol=1e-4, atol=1e-5``, as the other tutorial comparisons do.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.targets.snn import ann_to_snn

from ....conftest import assert_same_run


def _loss(spk, mem, target):
    return nn.functional.cross_entropy(spk.mean(0), target) + 0.1 * nn.functional.cross_entropy(mem.mean(0), target)


def _grads(module, x, target):
    module.zero_grad()
    spk, mem = module(x)
    _loss(spk, mem, target).backward()
    return spk.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def _batch(n=4):
    torch.manual_seed(1)
    return torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))


@pytest.mark.parametrize("chunk", [2, None], ids=["chunk2", "auto"])
def test_checkpointing_gives_the_gradients_of_plain_bptt(conv_ann, chunk):
    x, target = _batch()
    plain_spk, plain = _grads(ann_to_snn(conv_ann, chunk=chunk), x, target)
    ckpt_spk, ckpt = _grads(ann_to_snn(conv_ann, chunk=chunk, checkpoint_time=True), x, target)
    assert torch.equal(plain_spk, ckpt_spk)
    assert plain.keys() == ckpt.keys() and len(plain) == 6
    for name, grad in plain.items():
        assert torch.allclose(ckpt[name], grad, rtol=1e-5, atol=1e-7), name


def test_checkpointing_with_rate_encoding_and_learnable_neurons(nets):
    from snnc.compiler.ir.neuron import NeuronParams

    neuron = NeuronParams(learn_beta=True, learn_threshold=True)
    gm = nets.build_ann(nets.fc_layers(), neuron=neuron, encoding="rate")
    x, target = _batch(3)
    torch.manual_seed(5)
    plain_spk, plain = _grads(ann_to_snn(gm, encoding="rate", chunk=4), x, target)
    torch.manual_seed(5)
    ckpt_spk, ckpt = _grads(ann_to_snn(gm, encoding="rate", chunk=4, checkpoint_time=True), x, target)
    assert torch.equal(plain_spk, ckpt_spk)
    assert any("beta" in n for n in plain) and plain.keys() == ckpt.keys()
    for name, grad in plain.items():
        assert torch.allclose(ckpt[name], grad, rtol=1e-5, atol=1e-7), name


def test_recomputation_counts_no_spike_twice_and_updates_no_batch_norm_twice(nets):
    layers = nets.conv_layers()
    layers.insert(4, ("bn2", nn.BatchNorm2d(64), "batchnorm", (64, 8, 8)))
    torch.manual_seed(0)
    gm = nets.build_ann(layers)
    x, target = _batch()
    runs = {}
    for checkpoint_time in (False, True):
        module = ann_to_snn(gm, chunk=5, checkpoint_time=checkpoint_time, record=True)
        module.train()
        module.reset_spike_counts()
        _, grads = _grads(module, x, target)
        runs[checkpoint_time] = (module.spike_counts(), dict(module.bn2.named_buffers()), grads)
    (counts, buffers, grads), (c_counts, c_buffers, c_grads) = runs[False], runs[True]
    assert counts == c_counts and sum(counts.values()) > 0
    assert int(c_buffers["num_batches_tracked"]) == 5  # one update per chunk of the forward pass, none more
    for name, value in buffers.items():
        assert torch.allclose(c_buffers[name], value, rtol=1e-5, atol=1e-7), name
    for name, grad in grads.items():
        assert torch.allclose(c_grads[name], grad, rtol=1e-5, atol=1e-6), name


class _DetachedTutorialConv(nn.Module):
    """The snnTorch tutorial loop with every membrane detached after each ``k`` steps (hand-made TBPTT)."""

    def __init__(self, tutorial, k):
        super().__init__()
        self.tutorial, self.k = tutorial, k

    def forward(self, x):
        t = self.tutorial
        mem1, mem2, mem3 = t.lif1.reset_mem(), t.lif2.reset_mem(), t.lif3.reset_mem()
        spk_rec, mem_rec = [], []
        for step in range(t.steps):
            if step and step % self.k == 0:
                mem1, mem2, mem3 = mem1.detach(), mem2.detach(), mem3.detach()
            spk1, mem1 = t.lif1(nn.functional.max_pool2d(t.conv1(x), 2), mem1)
            spk2, mem2 = t.lif2(nn.functional.max_pool2d(t.conv2(spk1), 2), mem2)
            spk3, mem3 = t.lif3(t.fc1(spk2.flatten(1)), mem3)
            spk_rec.append(spk3)
            mem_rec.append(mem3)
        return torch.stack(spk_rec), torch.stack(mem_rec)


@pytest.mark.parametrize("options", [{"chunk": 3}, {"chunk": 3, "checkpoint_time": True}, {}],
                         ids=["chunk3", "chunk3-checkpoint", "auto"])
def test_truncated_bptt_matches_a_hand_made_detached_loop(conv_ann, nets, options):
    k = 7
    x, target = _batch()
    full_spk, full = _grads(ann_to_snn(conv_ann, **options), x, target)
    module = ann_to_snn(conv_ann, tbptt=k, **options)
    assert module._time_chunks(4)[:3] == ([3, 3, 1] if "chunk" in options else [7, 7, 7])
    spk, ours = _grads(module, x, target)
    hand = _DetachedTutorialConv(nets.TutorialConv(conv_ann), k)
    want_spk, mem = hand(x)
    _loss(want_spk, mem, target).backward()
    theirs = {n.removeprefix("tutorial."): p.grad for n, p in hand.named_parameters()}
    assert torch.equal(spk, full_spk) and torch.equal(spk, want_spk)  # the forward pass is unchanged
    assert ours.keys() == theirs.keys()
    for name, grad in ours.items():
        assert torch.allclose(grad, theirs[name], rtol=1e-4, atol=1e-5), name
    assert not torch.allclose(ours["conv1.weight"], full["conv1.weight"], rtol=1e-3, atol=1e-5)


def test_truncated_bptt_window_longer_than_the_call_is_full_bptt(fc_ann):
    x, target = _batch(2)
    _, full = _grads(ann_to_snn(fc_ann, chunk=4), x, target)
    _, long = _grads(ann_to_snn(fc_ann, chunk=4, tbptt=1000), x, target)
    for name, grad in full.items():
        assert torch.equal(long[name], grad), name


def test_no_grad_and_eval_calls_skip_checkpointing(conv_ann):
    x, _ = _batch(2)
    x, conv_ann = x.double(), conv_ann.double()  # chunks of steps vs all steps folded (see assert_same_run)
    module = ann_to_snn(conv_ann, checkpoint_time=True, tbptt=5)
    with torch.no_grad():
        a = module(x)
    b = ann_to_snn(conv_ann)(x)
    for p, q in zip(a, b):
        assert_same_run(p, q)


@pytest.mark.parametrize("bad", [{"tbptt": 0}, {"tbptt": 2.5}, {"tbptt": True}, {"checkpoint_time": "yes"}])
def test_long_window_options_are_checked(fc_ann, bad):
    with pytest.raises(UnsupportedError, match=next(iter(bad))):
        ann_to_snn(fc_ann, **bad)


def test_deep_copy_keeps_the_options(fc_ann):
    module = copy.deepcopy(ann_to_snn(fc_ann, tbptt=3, checkpoint_time=True))
    assert module.tbptt == 3 and module.checkpoint_time


def test_checkpointing_replays_dropout_with_the_same_random_numbers(nets):
    layers = nets.fc_layers()
    layers.insert(3, ("drop", nn.Dropout(0.3), "dropout", (1000,)))
    torch.manual_seed(0)
    gm = nets.build_ann(layers)
    x, target = _batch(3)
    runs = []
    for checkpoint_time in (False, True):
        module = ann_to_snn(gm, chunk=5, checkpoint_time=checkpoint_time)
        module.train()
        torch.manual_seed(7)
        runs.append(_grads(module, x, target))
    assert torch.equal(runs[0][0], runs[1][0])
    for name, grad in runs[0][1].items():
        assert torch.allclose(runs[1][1][name], grad, rtol=1e-5, atol=1e-7), name
