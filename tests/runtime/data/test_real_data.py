"""The real datasets in ../shared/data load with the counts and statistics their README documents.

Marked ``data``; each test skips, naming the folder, when that dataset is not on this machine.
"""

from __future__ import annotations

import pytest
import torch

from snnc.runtime.data import dataset_info, load_dataset, make_loader, repository_data_root

SHARED = repository_data_root()


def needs(folder: str) -> pytest.MarkDecorator:
    """Skip unless ``shared/data/<folder>`` exists."""
    path = SHARED / folder
    return pytest.mark.skipif(not path.is_dir(), reason=f"real dataset not present at {path}")


MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.data
@needs("mnist")
@pytest.mark.parametrize(("split", "counts"), [("train", MNIST_TRAIN), ("test", MNIST_TEST)])
def test_mnist(split, counts):
    data = load_dataset("mnist", split)
    assert len(data) == sum(counts) == dataset_info("mnist").counts[split]
    assert torch.bincount(data.targets, minlength=10).tolist() == counts
    mean = data.images.float().mean().item() / 255
    assert mean == pytest.approx(0.1307 if split == "train" else 0.1325, abs=5e-5)


@pytest.mark.data
@needs("mnist")
def test_mnist_matches_the_bundled_sample():
    full, sample = load_dataset("mnist", "train"), load_dataset("mnist-sample", "train")
    assert torch.equal(full.images[:2000], sample.images) and torch.equal(full.targets[:2000], sample.targets)


@pytest.mark.data
@needs("mnist")
def test_mnist_normalised_batch_is_standardised():
    x, _ = next(iter(make_loader(load_dataset("mnist", "train", normalize=True), 4096, shuffle=True, seed=0)))
    assert x.mean().item() == pytest.approx(0.0, abs=0.03) and x.std().item() == pytest.approx(1.0, abs=0.03)


@pytest.mark.data
@needs("fashion-mnist")
@pytest.mark.parametrize(("split", "per_class"), [("train", 6000), ("test", 1000)])
def test_fashion_mnist(split, per_class):
    data = load_dataset("fashion-mnist", split)
    assert torch.bincount(data.targets).tolist() == [per_class] * 10
    assert data.classes[0] == "T-shirt/top"
    assert data.images.float().mean().item() / 255 == pytest.approx(0.2860 if split == "train" else 0.2868, abs=5e-5)


@pytest.mark.data
@needs("cifar10")
@pytest.mark.parametrize(("split", "counts"), [
    ("train", [396, 366, 420, 384, 422, 393, 414, 385, 407, 413]),
    ("test", [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]),
])
def test_cifar10_subset(split, counts):
    data = load_dataset("cifar10", split)
    assert torch.bincount(data.targets, minlength=10).tolist() == counts
    assert data.classes == dataset_info("cifar10").class_names
    x, _ = data[0]
    assert x.shape == (3, 32, 32)
    if split == "train":
        means = data.images.float().mean((0, 2, 3))
        torch.testing.assert_close(means, torch.tensor([125.4, 122.8, 113.4]), atol=0.06, rtol=0)


@pytest.mark.data
@needs("isbi2012-em-membranes")
def test_isbi2012():
    train, test = load_dataset("isbi2012", "train"), load_dataset("isbi2012", "test")
    assert (len(train), len(test)) == (25, 5)
    masks = torch.cat([train.masks, test.masks])
    assert masks.shape == (30, 512, 512)
    assert masks.float().mean().item() == pytest.approx(0.2196, abs=5e-5)
    tiles = load_dataset("isbi2012", "test", crop=128)
    assert len(tiles) == 5 * 16 and tiles[0][0].shape == (1, 128, 128)


@pytest.mark.data
@needs("mnist")
def test_colored_mnist_full():
    train = load_dataset("colored-mnist", "train")
    assert len(train) == 60000 and train.alignment() == pytest.approx(0.99, abs=0.002)
    assert load_dataset("colored-mnist", "test", test_colors="anti").alignment() == 0.0
