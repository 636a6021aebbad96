"""The fast engine equals MemTorch's own layers on the same programmed crossbars (real MemTorch, tiny layers).

Tolerance: outputs agree to ``rtol=1e-4`` of the layer's output range wherever no read-out sits on an ADC
rounding boundary; float32 sums taken in another order can move a read-out across one, which changes that output
by one ADC step of its tile. So: at most 1% of outputs may differ, each by at most one ADC step after the
read-out correction (``2^sf · |coef|`` summed over the layer's tile rows), and the mean difference stays below
``1e-3`` of the output range.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

memtorch = pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")

from snnc.compiler.targets.mnn.build import build_mnn, crossbar_modules  # noqa: E402
from snnc.compiler.targets.mnn.engine import (CrossbarConv2d, CrossbarLinear, adc_quantize,  # noqa: E402
                                              from_memtorch)

pytestmark = pytest.mark.mnn


def assert_close_to_memtorch(fast_out: torch.Tensor, ref_out: torch.Tensor, step: float = 0.0) -> None:
    scale = float(ref_out.abs().max()) or 1.0
    diff = (fast_out - ref_out).abs()
    off = diff > 1e-4 * scale
    assert off.float().mean() <= 0.01, f"{int(off.sum())} of {off.numel()} outputs differ"
    assert float(diff.max()) <= max(step * 1.01, 1e-4 * scale), (float(diff.max()), step)
    assert float(diff.mean()) <= 1e-3 * scale


def _memtorch_layers(module, **options):
    built = build_mnn(module, {"engine": "memtorch", "tune": False, **options})
    return built, crossbar_modules(built.network)


@pytest.mark.parametrize("options", [
    {"tile_shape": [8, 4]},
    {"tile_shape": [8, 4], "adc_bits": None},
    {"tile_shape": None},
    {"tile_shape": [16, 16], "adc_bits": 4, "adc_overflow_rate": 0.1},
    {"tile_shape": [8, 4], "scheme": "single_column", "max_input_voltage": None},
    {"tile_shape": [8, 4], "nonidealities": {"device_faults": {"lrs_proportion": 0.2, "hrs_proportion": 0.1}}},
    {"tile_shape": [8, 4], "quantization": "log"},
], ids=["tiled-adc8", "tiled-no-adc", "untiled-adc8", "adc4-overflow", "single-column", "faults", "log-adc"])
def test_fast_layers_equal_memtorch_layers(ann, options):
    built, layers = _memtorch_layers(ann, **options)
    g = torch.Generator().manual_seed(3)
    inputs = {"conv1": torch.rand(5, 1, 8, 8, generator=g), "fc1": torch.rand(7, 48, generator=g) * 2}
    for name, layer in layers.items():
        fast = from_memtorch(layer)
        assert isinstance(fast, CrossbarConv2d if isinstance(layer, nn.Conv2d) else CrossbarLinear)
        with torch.no_grad():
            ref, out = layer(inputs[name]), fast(inputs[name])
        assert out.shape == ref.shape
        step = 0.0
        if layer.quant_method is not None:
            # one ADC step of the largest read-out, times the correction, per tile row
            g_eff = fast.weight_equivalent.abs().max().item()
            rows = fast.rows if fast.tile_shape is None else fast.tile_shape[0]
            top = g_eff * 0.3 * rows
            step = 2.0 ** (torch.ceil(torch.log2(torch.tensor(top))).item() + 1 - layer.ADC_resolution)
            step *= abs(fast.transform[0].item()) * (1 if fast.tile_shape is None else -(-fast.rows // rows))
        assert_close_to_memtorch(out, ref, step)


def test_whole_network_fast_equals_memtorch(ann, images):
    ref = build_mnn(ann, {"engine": "memtorch", "tile_shape": [8, 4]})
    fast = build_mnn(ann, {"engine": "fast", "tile_shape": [8, 4]})
    # the fast tune draws the same inputs and fits the same line
    for a, b in zip(ref.layers, fast.layers):
        assert a.transform == pytest.approx(b.transform, rel=1e-3, abs=1e-6)
    with torch.no_grad():
        r, f = ref.network(images), fast.network(images)
    assert (r.argmax(1) == f.argmax(1)).float().mean() >= 5 / 6
    assert float((r - f).abs().max()) <= 0.05 * float(r.abs().max())


def test_adc_quantize_matches_memtorch_quantize():
    from memtorch.bh.Quantize import quantize

    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 32, generator=g) * 1e-4
    for bits, rate in ((8, 0.0), (4, 0.0), (6, 0.2)):
        ref = torch.stack([quantize(row, quant=bits, overflow_rate=rate, quant_method="linear") for row in x])
        assert torch.equal(adc_quantize(x, bits, rate), ref)
    constant = torch.full((1, 8), 3e-5)
    assert torch.equal(adc_quantize(constant, 4, 0.0), constant)


def test_strided_convolution_without_padding_equals_memtorch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 5, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 3 * 3, 4)).eval()
    built, layers = _memtorch_layers(model, tile_shape=[8, 4], adc_bits=6)
    x = torch.rand(3, 2, 7, 7)
    conv = layers["0"]
    with torch.no_grad():
        assert_close_to_memtorch(from_memtorch(conv)(x), conv(x), step=float("inf"))
        diff = (from_memtorch(conv)(x) - conv(x)).abs().max()
    assert float(diff) <= 1e-4 * float(conv(x).abs().max())
