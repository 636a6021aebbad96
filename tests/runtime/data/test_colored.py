"""Colored MNIST: the recipe in the module docstring, on the bundled real digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnc.runtime.data import ColoredMNIST, colorize, dataset_info, load_dataset
from snnc.runtime.data.colored import PALETTE


def _load(split, **options):
    return load_dataset("colored-mnist", split, base="mnist-sample", **options)


def test_items_are_coloured_digits():
    data = _load("train")
    grey = load_dataset("mnist-sample", "train")
    assert isinstance(data, ColoredMNIST) and len(data) == 2000
    x, y = data[0]
    assert x.shape == (3, 28, 28) and x.dtype == torch.float32 and y == grey[0][1]
    colour = torch.tensor(PALETTE[int(data.colors[0])]).view(3, 1, 1)
    torch.testing.assert_close(x, grey[0][0] * colour)


@pytest.mark.parametrize(("split", "options", "expected"), [
    ("train", {"correlation": 0.9}, 0.9),
    ("train", {"correlation": 1.0}, 1.0),
    ("test", {"test_colors": "random"}, 0.1),
    ("test", {"test_colors": "anti"}, 0.0),
    ("test", {"test_colors": "correlated", "correlation": 0.8}, 0.8),
])
def test_colour_label_alignment(split, options, expected):
    assert _load(split, **options).alignment() == pytest.approx(expected, abs=0.04)


def test_anti_never_uses_the_class_colour_and_covers_the_others():
    data = _load("test", test_colors="anti")
    assert not bool((data.colors == data.targets).any())
    assert set(data.colors.tolist()) == set(range(10))


def test_seeded_and_deterministic():
    a, b, c = _load("train", seed=1), _load("train", seed=1), _load("train", seed=2)
    assert torch.equal(a.colors, b.colors) and not torch.equal(a.colors, c.colors)


def test_limit_does_not_change_colours():
    assert torch.equal(_load("train", limit=50).colors, _load("train").colors[:50])


def test_colorize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown colour mode 'inverse'"):
        colorize(np.zeros(3, int), "inverse")
    with pytest.raises(ValueError, match=r"correlation must be in \[0, 1\]"):
        colorize(np.zeros(3, int), "correlated", correlation=1.5)


def test_normalisation_statistics_match_random_colours():
    data = _load("test", test_colors="random")
    x = torch.stack([data[i][0] for i in range(len(data))])
    info = dataset_info("colored-mnist")
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.tensor(info.mean), atol=0.01, rtol=0)
    torch.testing.assert_close(x.std((0, 2, 3)), torch.tensor(info.std), atol=0.02, rtol=0)
