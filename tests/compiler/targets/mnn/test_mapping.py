"""The weight → conductance map the target programs with (and hardware-aware training perturbs through) is
MemTorch's, and the device effects of training match what MemTorch does to a built network."""

from __future__ import annotations

import pytest
import torch

memtorch = pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")

import memtorch.map.Parameter  # noqa: E402

from snnc.compiler.targets.mnn.build import build_mnn, crossbar_modules  # noqa: E402
from snnc.compiler.targets.mnn.mapping import map_weight, naive_map, quantize_states  # noqa: E402
from snnc.runtime.methods.hwa import LayerEffects, perturb  # noqa: E402

pytestmark = pytest.mark.mnn


@pytest.mark.parametrize("scheme", ["DoubleColumn", "SingleColumn"])
@pytest.mark.parametrize("p_l", [None, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(10, 48), (3, 1, 3, 3), (64, 12, 5, 5)])
def test_naive_map_is_bit_identical_to_memtorch(scheme, p_l, shape):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    member = getattr(memtorch.bh.Scheme, scheme)
    ours = naive_map(w, 50.0, 1000.0, member, p_l=p_l)
    theirs = memtorch.map.Parameter.naive_map(w, 50.0, 1000.0, member, p_l=p_l)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_states_in_training_match_the_built_crossbars(ann):
    """16 conductance states: the weights hwa trains with are those the built mnn network's crossbars hold
    (MemTorch's quantize, read back through the tuned read-out's scale)."""
    states = 16
    built = build_mnn(ann, {"tile_shape": None, "adc_bits": None, "max_input_voltage": None, "tune": False,
                            "engine": "memtorch",
                            "nonidealities": {"finite_conductance_states": {"states": states}}}).network
    for name in ("conv1", "fc1"):
        w = getattr(ann, name).weight.detach()
        layer = crossbar_modules(built)[name]
        g_pos, g_neg = (c.conductance_matrix for c in layer.crossbars)  # [rows, columns] = weight.T
        m = map_weight(w, 50.0, 1000.0)
        for ours, theirs in zip(m.crossbars, (g_pos, g_neg)):
            q = quantize_states(ours, states, m.g_min, m.g_max).reshape(w.shape[0], -1).T
            # the same level everywhere but at exact ties (none expected from continuous weights)
            assert torch.allclose(q.double(), theirs.double(), rtol=0, atol=1e-7 * m.g_max)
        trained = perturb(w, LayerEffects(50.0, 1000.0, "double_column", None, states, 0.0, 0.0, 0.0))
        seen = m.weight((g_pos.T.reshape(w.shape).float(), g_neg.T.reshape(w.shape).float()))
        assert torch.allclose(trained, seen, atol=1e-5 * float(w.abs().max()))
