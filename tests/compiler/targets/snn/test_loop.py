"""NeuronLoop: the fused and unrolled recurrences give the same spikes, membrane and gradients as the snnTorch
neuron called step by step (the reference mode), for every model, reset, surrogate and chunking."""

from __future__ import annotations

import copy

import pytest
import torch

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.ir.neuron import NeuronParams
from snnc.compiler.targets.snn.loop import NeuronLoop

STEPS, BATCH, WIDTH = 20, 3, 6


def _run(loop: NeuronLoop, current: torch.Tensor, constant: bool, chunks: list[int], weights):
    current = current.clone().requires_grad_()
    spks, mems, start, mem0, syn0 = [], [], 0, None, None
    for k in chunks:
        piece = current if constant else current[start * BATCH : (start + k) * BATCH]
        spk, mem, mem0, syn0 = loop(piece, k, mem0, syn0, constant=constant, record_mem=True)
        spks.append(spk.unflatten(0, (k, BATCH)))
        mems.append(mem.unflatten(0, (k, BATCH)))
        start += k
    spk, mem = torch.cat(spks), torch.cat(mems)
    ((spk * weights[0]).sum() + (mem * weights[1]).sum()).backward()
    grads = {"current": current.grad}
    grads.update({n: p.grad for n, p in loop.named_parameters()})
    return spk, mem, grads


def _compare(params, *, constant, chunks):
    torch.manual_seed(0)
    shape = (BATCH, WIDTH) if constant else (STEPS * BATCH, WIDTH)
    current = torch.randn(shape) * 0.6 + 0.3
    weights = (torch.randn(STEPS, BATCH, WIDTH), torch.randn(STEPS, BATCH, WIDTH))
    reference = NeuronLoop(params, mode="reference")
    want = _run(reference, current, constant, [STEPS], weights)
    assert 0 < want[0].sum() < want[0].numel(), "the test needs some spikes and some silence"
    for mode in ("fused", "unrolled"):
        loop = NeuronLoop(params, mode=mode)
        loop.load_state_dict(reference.state_dict())
        spk, mem, grads = _run(loop, current, constant, chunks, weights)
        assert torch.equal(spk, want[0]), mode
        assert torch.allclose(mem, want[1], atol=1e-6), mode
        assert grads.keys() == want[2].keys()
        for name, grad in grads.items():
            assert torch.allclose(grad, want[2][name], rtol=1e-4, atol=1e-5), (mode, name)


@pytest.mark.parametrize("model", ["leaky", "synaptic", "if"])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("constant", [True, False], ids=["constant", "varying"])
def test_models_and_resets_match_snntorch(model, reset, constant):
    params = NeuronParams(
        model=model, reset=reset, beta=0.8, alpha=0.7, threshold=0.5,
        learn_beta=model != "if", learn_threshold=True,
    )
    _compare(params, constant=constant, chunks=[STEPS])


@pytest.mark.parametrize("surrogate", ["atan", "fast_sigmoid", "sigmoid", "straight_through", "triangular"])
def test_surrogates_match_snntorch(surrogate):
    params = NeuronParams(surrogate=surrogate, slope=4.0, threshold=0.5, learn_threshold=True)
    _compare(params, constant=False, chunks=[STEPS])


@pytest.mark.parametrize("model", ["leaky", "synaptic"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("constant", [True, False], ids=["constant", "varying"])
def test_state_carries_across_chunks(model, reset, constant):
    params = NeuronParams(model=model, reset=reset, beta=0.8, threshold=0.5, learn_beta=True, learn_threshold=True)
    _compare(params, constant=constant, chunks=[7, 1, 12])


def test_no_state_is_kept_between_calls():
    loop = NeuronLoop(NeuronParams(threshold=0.5))
    current = torch.rand(STEPS * BATCH, WIDTH)
    first, mem, mem_last, syn_last = loop(current, STEPS)
    assert mem.shape == mem_last.shape == (BATCH, WIDTH), "no membrane history when none is needed"
    assert syn_last is None
    assert torch.equal(loop(current, STEPS)[0], first)
    resumed = loop(current[: 5 * BATCH], 5, mem_last)[0]
    assert not torch.equal(resumed, first[: 5 * BATCH]), "a given state is used"


def test_spike_counts_match_a_manual_count():
    loop = NeuronLoop(NeuronParams(threshold=0.5), shape=(WIDTH,), record=True)
    current = torch.rand(STEPS * BATCH, WIDTH)
    spikes = loop(current, STEPS)[0] + loop(current, STEPS)[0]
    assert loop.spike_count() == int(spikes.sum().item())
    assert loop.neuron_count() == WIDTH
    assert loop.firing_rate() == pytest.approx(spikes.sum().item() / (2 * STEPS * BATCH * WIDTH))
    loop.reset_counts()
    assert loop.spike_count() == 0


def test_reference_mode_leaves_no_graph_behind():
    loop = NeuronLoop(NeuronParams(), mode="reference")
    loop(torch.rand(STEPS * BATCH, WIDTH, requires_grad=True), STEPS)[0].sum().backward()
    copy.deepcopy(loop)


def test_unknown_mode_lists_the_modes():
    with pytest.raises(UnsupportedError, match="unknown snn mode 'fast'; supported: fused, reference, unrolled"):
        NeuronLoop(NeuronParams(), mode="fast")
