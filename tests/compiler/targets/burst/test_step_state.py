"""The explicit-state step of a burst network: pure, and iterated from ``init_state`` it equals ``forward``."""

from __future__ import annotations

import torch

from snnc.compiler.targets.burst import convert


def test_explicit_state_step_equals_forward_and_leaves_the_modules_alone(cnn, images, probe):
    snn = convert(cnn, images, timesteps=12, fold_batch=probe.shape[0])  # forward runs one step per chunk
    expected = snn(probe, return_steps=True)
    snn.reset()
    state = snn.init_state(probe.shape[0])
    assert all(k.endswith((".mem", ".accumulated", ".emitted")) for k in state)
    outs = []
    for _ in range(12):
        out, state = snn.step(probe, state)
        outs.append(out)
    assert torch.equal(torch.stack(outs), expected)
    assert all(m.v is None for m in snn.neurons().values())  # the modules' own state was not touched
    folded = convert(cnn, images, timesteps=12)(probe, return_steps=True)  # all steps folded at once
    torch.testing.assert_close(torch.stack(outs), folded, rtol=1e-5, atol=1e-5)
