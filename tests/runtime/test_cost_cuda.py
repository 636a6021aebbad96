"""Cost measurement on a CUDA device: the spike and synaptic-operation counts equal the CPU's."""

from __future__ import annotations

import pytest
import torch

import snnc
from snnc.runtime.cost import build_report, measure_activity

from .test_cost import _zero_then, tiny

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() "
                                "is False on this machine)")


@pytest.mark.parametrize("encoding", ["direct", "rate"])
def test_snn_activity_on_cuda_equals_the_cpu(encoding):
    spec = tiny(encoding)
    graph = snnc.build_graph(spec)
    reports = []
    for device in ("cpu", "cuda"):
        module = snnc.compile(spec, "snn")
        _zero_then(module)
        module.to(device)
        x = torch.ones(3, 1, 4, 4)
        reports.append(build_report(graph, target="snn", activity=measure_activity(module, graph, x)))
    cpu, gpu = reports
    assert gpu.totals == cpu.totals and gpu.totals["sops"] > 0


def test_burst_activity_on_cuda_equals_the_cpu():
    from snnc.compiler.targets.burst import convert

    spec = tiny()
    graph = snnc.build_graph(spec)
    totals = []
    for device in ("cpu", "cuda"):
        ann = snnc.compile(spec).eval()
        _zero_then(ann, b2=1.0)
        x = torch.ones(3, 1, 4, 4, device=device)
        burst = convert(ann.to(device), x, timesteps=4)
        totals.append(build_report(graph, target="burst", activity=measure_activity(burst, graph, x)).totals)
    assert totals[0] == totals[1] and totals[0]["sops"] > 0
