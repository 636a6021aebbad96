"""Batch-norm folding is exact, for every conv flavour and for Linear + BatchNorm1d."""

from __future__ import annotations

import pytest
import torch
from torch import fx, nn

from snnc.compiler.targets.burst.fold_bn import fold_batch_norm, fold_bn_into
from snnc.compiler.targets.burst.trace import trace

LAYERS = {
    "conv2d": (lambda: nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), (2, 4, 7, 7)),
    "grouped": (lambda: nn.Conv2d(4, 6, 3, groups=2, dilation=2, padding=2), nn.BatchNorm2d(6), (2, 4, 7, 7)),
    "depthwise": (lambda: nn.Conv2d(4, 8, 3, groups=4, bias=False), nn.BatchNorm2d(8), (2, 4, 7, 7)),
    "conv1d": (lambda: nn.Conv1d(3, 5, 3, padding_mode="circular", padding=1), nn.BatchNorm1d(5), (2, 3, 9)),
    "conv3d": (lambda: nn.Conv3d(2, 4, 2, groups=2), nn.BatchNorm3d(4), (2, 2, 4, 4, 4)),
    "transposed": (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), nn.BatchNorm2d(6), (2, 4, 5, 5)),
    "linear": (lambda: nn.Linear(10, 7), nn.BatchNorm1d(7), (5, 10)),
    "linear-no-bias": (lambda: nn.Linear(10, 7, bias=False), nn.BatchNorm1d(7), (5, 10)),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_fold_bn_into_is_exact(kind, randomize_bn):
    torch.manual_seed(0)
    make_layer, bn, shape = LAYERS[kind]
    layer = make_layer()
    randomize_bn(bn).eval()
    x = torch.randn(*shape)
    fused = fold_bn_into(layer, bn)
    torch.testing.assert_close(fused(x), bn(layer(x)), rtol=1e-5, atol=1e-5)
    assert getattr(fused, "groups", 1) == getattr(layer, "groups", 1)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_fold_batch_norm_pass_removes_every_bn_and_keeps_the_function(kind, randomize_bn):
    torch.manual_seed(0)
    make_layer, bn, shape = LAYERS[kind]
    model = randomize_bn(nn.Sequential(make_layer(), bn)).eval()
    x = torch.randn(*shape)
    gm = fold_batch_norm(trace(model))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in gm.modules())
    torch.testing.assert_close(gm(x), model(x), rtol=1e-5, atol=1e-5)


def test_a_conv_used_twice_is_not_folded_into_in_place(randomize_bn):
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn(self.conv(x)) + self.conv(x)

    model = randomize_bn(Shared()).eval()
    x = torch.randn(2, 3, 4, 4)
    gm = fold_batch_norm(trace(model))
    torch.testing.assert_close(gm(x), model(x), rtol=1e-5, atol=1e-5)
    targets = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert "conv" in targets and "conv_0" in targets and "bn" not in targets


def test_bn_after_a_sum_stays_as_an_affine_map(randomize_bn):
    class PreAct(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn(self.conv(x) + x)

    model = randomize_bn(PreAct()).eval()
    gm = fold_batch_norm(trace(model))
    assert isinstance(gm.bn, nn.BatchNorm2d)
    assert isinstance(gm, fx.GraphModule)
