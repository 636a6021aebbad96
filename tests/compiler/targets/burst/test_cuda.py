"""The burst target on a CUDA device: calibration, conversion and the burst network run on GPU tensors.

The converted network on the GPU is compared with the one converted on the CPU (TF32 off): thresholds within
``rtol=1e-4`` and outputs within ``2e-3`` of the largest output (a burst can flip where a membrane lands within
rounding of a threshold).
"""

from __future__ import annotations

import copy

import pytest
import torch

from snnc.compiler.targets.burst import convert

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() "
                                "is False on this machine)")


@pytest.fixture(autouse=True)
def full_float32():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_conversion_and_run_on_cuda_match_the_cpu(cnn, images, probe):
    on_cpu = convert(copy.deepcopy(cnn), images, timesteps=64)
    on_gpu = convert(copy.deepcopy(cnn).cuda(), images.cuda(), timesteps=64)
    assert next(on_gpu.parameters()).device.type == "cuda"
    for name, neuron in on_cpu.neurons().items():
        assert torch.allclose(on_gpu.neurons()[name].threshold.cpu(), neuron.threshold, rtol=1e-4), name
    want, out = on_cpu(probe), on_gpu(probe.cuda())
    assert out.device.type == "cuda"
    assert (out.cpu() - want).abs().max() <= 2e-3 * want.abs().max() + 1e-4
    counts = on_gpu.spike_counts()
    assert sum(counts.values()) > 0
