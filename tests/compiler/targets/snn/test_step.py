"""The explicit-state step of the snn target: ``init_state`` + ``step`` iterated T times equals ``forward``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

import snnc

from ....conftest import assert_same_run

SPECS = Path(__file__).resolve().parents[4] / "specs"


def _spiking(module, gain: float = 4.0):
    """Scale the weights of an untrained net so that every layer fires."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight"):
                p.mul_(gain)
    return module.eval()


def _variant(name: str, **neuron) -> dict:
    data = yaml.safe_load((SPECS / f"{name}.yaml").read_text())
    data["neuron"] = {**data["neuron"], **neuron}
    return data


@pytest.mark.parametrize("spec,neuron", [
    ("mnist_fc", {}),
    ("mnist_conv", {}),
    ("mnist_fc", {"model": "synaptic", "alpha": 0.8, "reset": "zero"}),
    ("mnist_conv", {"model": "if", "reset": "zero"}),
])
def test_step_iterated_from_init_state_equals_forward(spec, neuron):
    torch.manual_seed(0)
    # float64: forward folds the 8 steps into the batch, step runs 3 rows (see assert_same_run)
    snn = _spiking(snnc.compile(_variant(spec, **neuron), "snn", timesteps=8)).double()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        spk, mem = snn(x)
        state = snn.init_state(3)
        steps = []
        for _ in range(8):
            out, state = snn.step(x, state)
            steps.append(out)
    assert spk.sum() > 0
    assert_same_run(torch.stack(steps), spk)
    last = list(state)[-2 if neuron.get("model") == "synaptic" else -1]
    assert last.endswith(".mem")
    assert_same_run(state[last], mem[-1])


def test_state_keys_are_readable_and_ordered():
    snn = snnc.compile(_variant("mnist_fc", model="synaptic", alpha=0.5), "snn")
    state = snn.init_state(2)
    assert list(state) == ["lif1.mem", "lif1.syn", "lif2.mem", "lif2.syn"]
    assert state["lif1.mem"].shape == (2, 1000) and not state["lif1.mem"].any()


def test_step_with_rate_encoding_takes_the_encoded_frame():
    data = _variant("mnist_fc")
    data["encoding"] = "rate"
    snn = _spiking(snnc.compile(data, "snn", timesteps=6))
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        torch.manual_seed(1)
        spk, _ = snn(x)
        torch.manual_seed(1)
        frames = snnc.compiler.targets.snn.coding.encode(x, 6, snn.encoding)
        state = snn.init_state(2)
        steps = []
        for frame in frames:
            out, state = snn.step(frame, state)
            steps.append(out)
    assert torch.equal(torch.stack(steps), spk)
