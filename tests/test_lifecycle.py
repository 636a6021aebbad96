"""Every registered target, the way a user goes: compile (from a trained ANN where the target needs one) →
save → load → evaluate (twice: the same numbers) → report, through the API and the files."""

from __future__ import annotations

import pytest
import torch

import snnc
from snnc.compiler.targets.registry import TARGETS
from snnc.runtime.convert import calibration_data
from snnc.runtime.data import load_dataset

from .conftest import SPECS

SPEC = SPECS / "mnist_conv.yaml"


@pytest.fixture(scope="module")
def ann_checkpoint(tmp_path_factory):
    """A briefly trained ANN of the spec (weights that make spikes flow)."""
    path = tmp_path_factory.mktemp("ann") / "ann.pt"
    ann = snnc.compile(SPEC, "ann")
    data = load_dataset("mnist-sample", "train", limit=256)
    x = torch.stack([data[i][0] for i in range(256)])
    y = torch.tensor([int(data[i][1]) for i in range(256)])
    opt = torch.optim.Adam(ann.parameters(), lr=2e-3)
    torch.manual_seed(0)
    for _ in range(3):
        for i in range(0, 256, 64):
            loss = torch.nn.functional.cross_entropy(ann(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    snnc.save(ann, path)
    return path


def _build(name: str, ann_checkpoint):
    target = TARGETS.get(name)
    options = {"timesteps": 4} if "timesteps" in target.Options.model_fields else {}
    if not target.needs_trained_ann:
        return snnc.compile(SPEC, name, options=options)
    graph = snnc.build_graph(SPEC)
    calibration = calibration_data(graph, "mnist-sample:64")
    return snnc.compile(SPEC, name, options=options, checkpoint=ann_checkpoint, calibration=calibration)


@pytest.mark.parametrize("name", TARGETS.names())
def test_compile_save_load_evaluate_report(name, ann_checkpoint, tmp_path):
    module = _build(name, ann_checkpoint).eval()
    path = snnc.save(module, tmp_path / f"{name}.pt")
    again = snnc.load(path)
    x = torch.stack([load_dataset("mnist-sample", "test", limit=8)[i][0] for i in range(8)])
    with torch.no_grad():
        torch.manual_seed(0)
        first = module(x)
        torch.manual_seed(0)
        second = again(x)
    for a, b in zip(first if isinstance(first, tuple) else (first,), second if isinstance(second, tuple) else
                    (second,)):
        assert torch.equal(a, b)

    # the same evaluation twice gives the same numbers, from the module and from the file
    runs = [snnc.evaluate(module, "mnist-sample", limit=48, batch_size=16) for _ in range(2)]
    runs += [snnc.evaluate(path, "mnist-sample", limit=48, batch_size=16) for _ in range(2)]
    for run in runs[1:]:
        assert run.accuracy == runs[0].accuracy
        assert run.spikes_per_sample == runs[0].spikes_per_sample
        assert run.total_spikes_per_sample == runs[0].total_spikes_per_sample
    assert runs[0].target == name
    if TARGETS.get(name).spiking:
        assert runs[0].total_spikes_per_sample > 0

    report = snnc.report(checkpoint=path, target=name, data=x)
    assert report.target == name and report.totals["params"] > 0
    if TARGETS.get(name).spiking:
        assert report.dynamic and report.samples == 8 and report.totals["energy_uj"] > 0
        again_report = snnc.report(checkpoint=path, target=name, data=x)
        assert again_report.totals == report.totals
