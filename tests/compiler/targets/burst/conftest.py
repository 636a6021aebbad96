"""Small models and data shared by the burst-target tests (random weights, fixed seeds, CPU, seconds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch-norm non-trivial running statistics and affine parameters (as after training)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(n, generator=generator) * 0.2)
    return model


class SmallCNN(nn.Module):
    """conv-bn-relu-maxpool(2,2), depthwise conv-bn-relu-maxpool(3,2), avgpool, linear-bn1d-relu, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(16, 5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class Block(nn.Module):
    """A residual block with functional relu, ``x.relu()`` and ``+``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return (out + x).relu()


class SmallResNet(nn.Module):
    """Stem, two residual blocks, a concat branch (torch.cat + torch.relu + clamp), global average pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.block1 = Block(6)
        self.block2 = Block(6)
        self.side = nn.Conv2d(6, 4, 1)
        self.head = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        x = self.block2(self.block1(x))
        side = self.side(x).clamp(min=0)
        x = torch.cat([x, side], dim=1)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


@pytest.fixture
def randomize_bn():
    """:func:`randomize_batch_norm`, for tests (conftest cannot be imported under --import-mode=importlib)."""
    return randomize_batch_norm


@pytest.fixture
def cnn() -> nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norm(SmallCNN()).eval()


@pytest.fixture
def resnet() -> nn.Module:
    torch.manual_seed(1)
    return randomize_batch_norm(SmallResNet(), seed=1).eval()


@pytest.fixture
def images() -> torch.Tensor:
    """Calibration images ``[64, 1, 8, 8]`` in [0, 1]."""
    return torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(2))


@pytest.fixture
def probe() -> torch.Tensor:
    """A fixed test batch ``[4, 1, 8, 8]``, distinct from the calibration images."""
    return torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
