"""ISBI 2012 reader: the .npz and PNG layouts, the slice split and the crops (on small files in the same format)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from snnc.compiler.errors import DataError
from snnc.compiler.targets.base import OptionsError
from snnc.runtime.data import ISBI2012Dataset, load_dataset
from snnc.runtime.data.isbi import NPZ_NAME


@pytest.fixture
def isbi_dir(tmp_path, sample):
    """Ten 56 x 84 'slices' tiled from real digits, labels 0 (membrane) where ink is dark, else 255."""
    x = sample["x_train"][:60].reshape(10, 2, 3, 28, 28).transpose(0, 1, 3, 2, 4).reshape(10, 56, 84)
    labels = np.where(x > 128, 0, 255).astype(np.uint8)
    folder = tmp_path / "isbi2012-em-membranes"
    folder.mkdir()
    np.savez(folder / NPZ_NAME, images=x, labels=labels)
    return folder


def test_whole_slices_and_split(isbi_dir):
    train, test = load_dataset("isbi2012", "train", isbi_dir), load_dataset("isbi2012", "test", isbi_dir)
    assert isinstance(train, ISBI2012Dataset)
    assert (train.slice_ids, test.slice_ids) == (list(range(5)), list(range(5, 10)))
    image, mask = test[0]
    assert image.shape == (1, 56, 84) and image.dtype == torch.float32
    assert mask.shape == (56, 84) and mask.dtype == torch.int64 and set(mask.unique().tolist()) <= {0, 1}
    torch.testing.assert_close(mask.bool(), image[0] > 128 / 255)


def test_grid_tiles_cover_each_slice(isbi_dir):
    test = load_dataset("isbi2012", "test", isbi_dir, crop=32)
    assert test.tiling == "grid" and len(test) == 5 * 2 * 3  # rows at 0, 24; columns at 0, 32, 52
    covered = torch.zeros(56, 84, dtype=torch.bool)
    for _, y, x in test._tiles[:6]:
        covered[y:y + 32, x:x + 32] = True
    assert bool(covered.all())
    image, mask = test[5]
    assert image.shape == (1, 32, 32) and mask.shape == (32, 32)


def test_random_crops_are_seeded(isbi_dir):
    def crops(seed):
        data = load_dataset("isbi2012", "train", isbi_dir, crop=16, crops_per_slice=3, seed=seed)
        return torch.stack([data[i][0] for i in range(len(data))])

    assert crops(0).shape == (15, 1, 16, 16)
    assert torch.equal(crops(0), crops(0)) and not torch.equal(crops(0), crops(1))


def test_png_layout_without_the_npz(isbi_dir):
    with np.load(isbi_dir / NPZ_NAME) as npz:
        images, labels = npz["images"], npz["labels"]
    (isbi_dir / NPZ_NAME).unlink()
    for kind, stack in (("images", images), ("labels", labels)):
        (isbi_dir / "train" / kind).mkdir(parents=True)
        for i, array in enumerate(stack):
            Image.fromarray(array).save(isbi_dir / "train" / kind / f"{i}.png")
    test = load_dataset("isbi2012", "test", isbi_dir, test_slices=2)
    assert test.slice_ids == [8, 9]
    torch.testing.assert_close(test[1][0][0], torch.from_numpy(images[9]).float() / 255)


def test_bad_options(isbi_dir):
    # Bounds that depend on the files are the reader's; through the registry they are option errors too.
    with pytest.raises(OptionsError, match=r"dataset 'isbi2012': crop must be in 1\.\.56, got 100"):
        load_dataset("isbi2012", "train", isbi_dir, crop=100)
    with pytest.raises(OptionsError, match=r"dataset 'isbi2012': test_slices must be in 1\.\.9"):
        load_dataset("isbi2012", "train", isbi_dir, test_slices=10)


def test_missing_isbi_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"ISBI 2012 EM membranes not found. It needs isbi2012_train_30x512x512\.npz"):
        load_dataset("isbi2012", "train", tmp_path)


def test_malformed_npz(tmp_path):
    np.savez(tmp_path / NPZ_NAME, images=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(DataError, match="needs arrays 'images' and 'labels'"):
        load_dataset("isbi2012", "train", tmp_path)
