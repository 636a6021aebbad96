"""The snn target on a CUDA device: the time folding, chunking, checkpointing and truncated BPTT on GPU tensors.

Every result is compared with the same module on the CPU. TF32 is switched off so that the GPU computes in full
float32; spikes are thresholded floats, so a few may flip where the membrane lands within rounding of the
threshold: at least 99.9 % of the output spikes must agree, and gradients within ``rtol=1e-3, atol=1e-4``.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from snnc.compiler.targets.snn import ann_to_snn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() "
                                "is False on this machine)")


@pytest.fixture(autouse=True)
def full_float32():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def _step(module, x, target):
    module.zero_grad()
    spk, mem = module(x)
    loss = nn.functional.cross_entropy(mem.mean(0), target) + nn.functional.cross_entropy(spk.mean(0), target)
    loss.backward()
    return spk.detach().cpu(), {n: p.grad.detach().cpu() for n, p in module.named_parameters()}


@pytest.mark.parametrize("options", [{}, {"chunk": 3}, {"checkpoint_time": True}, {"tbptt": 7, "chunk": 4},
                                     {"mode": "reference"}],
                         ids=["auto", "chunk3", "checkpoint", "tbptt", "reference"])
def test_training_step_on_cuda_matches_the_cpu(conv_ann, options):
    torch.manual_seed(1)
    x, target = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    cpu = ann_to_snn(conv_ann, **options)
    gpu = copy.deepcopy(cpu).cuda()
    want_spk, want = _step(cpu, x, target)
    spk, grads = _step(gpu, x.cuda(), target.cuda())
    assert (spk == want_spk).float().mean() >= 0.999
    for name, grad in want.items():
        assert torch.allclose(grads[name], grad, rtol=1e-3, atol=1e-4), name


def test_rate_encoding_and_spike_counts_on_cuda(fc_ann):
    module = ann_to_snn(fc_ann, encoding="rate").cuda()
    x = torch.rand(4, 1, 28, 28, device="cuda")
    with module.recording():
        spk, mem = module(x)
    assert spk.device.type == "cuda" and mem.shape == (25, 4, 10)
    counts = module.spike_counts()
    assert set(counts) == {"lif1", "lif2"} and counts["lif1"] > 0
    scores = module.decode(spk, mem)
    assert scores.device.type == "cuda" and scores.shape == (4, 10)
