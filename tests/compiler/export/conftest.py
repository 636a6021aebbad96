"""Fixtures for the export tests: real MNIST test images (the bundled sample) and nets that fire."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SAMPLE = Path(__file__).resolve().parents[3] / "runtime" / "data" / "sample" / "mnist_sample.npz"


@pytest.fixture(scope="session")
def mnist() -> torch.Tensor:
    """Eight real MNIST test images ``[8, 1, 28, 28]`` in [0, 1] (from the sample shipped with snnc)."""
    data = np.load(SAMPLE)
    return torch.from_numpy(data["x_test"][:8]).float().div(255).unsqueeze(1)


@pytest.fixture
def firing():
    """Scale the weights of an untrained net so that its layers fire (in place; returns it in eval mode)."""

    def scale(module, gain: float = 4.0):
        with torch.no_grad():
            for name, p in module.named_parameters():
                if name.endswith("weight"):
                    p.mul_(gain)
        return module.eval()

    return scale


@pytest.fixture
def images(mnist):
    """``images(spec)``: real images in the spec's input format (MNIST digits; tiled to 3 channels for
    colored_mnist_cnn)."""
    return lambda spec: mnist.expand(-1, 3, -1, -1).contiguous() if spec == "colored_mnist_cnn" else mnist
