"""torchvision's ImageFolder layout, written as real PNG files."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from snnc.compiler.errors import DataError
from snnc.runtime.data import ImageFolderDataset, load_dataset, load_image_folder


@pytest.fixture
def folder(tmp_path, sample):
    root = tmp_path / "digits"
    for split, count in (("train", 12), ("test", 4)):
        for i in range(count):
            label = int(sample[f"y_{split}"][i])
            (root / split / f"digit_{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(sample[f"x_{split}"][i]).save(root / split / f"digit_{label}" / f"{i:03d}.png")
    return root


def test_reads_rgb_and_grey(folder, sample):
    rgb = load_dataset("image-folder", "train", folder)
    assert isinstance(rgb, ImageFolderDataset) and len(rgb) == 12
    assert rgb.classes == tuple(sorted(rgb.classes))
    x, y = rgb[0]
    assert x.shape == (3, 28, 28) and rgb.classes[y].startswith("digit_")
    grey = load_dataset("image-folder", "train", folder, mode="L")
    x, y = grey[0]
    path = grey.samples[0][0]
    torch.testing.assert_close(x[0], torch.from_numpy(sample["x_train"][int(path.stem)]).float() / 255)


def test_split_folder_is_used(folder):
    assert len(load_image_folder(folder, "test")) == 4
    assert len(load_image_folder(folder / "train")) == 12


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match=r"image folder .*nowhere does not exist.*<class>/<image>\.png"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path / "empty")


def test_broken_image_is_a_data_error(folder):
    data = load_image_folder(folder, "test")
    data.samples[0][0].write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read this image"):
        data[0]
