"""load_dataset and dataset_info: names, splits, options, and where data is looked for."""

from __future__ import annotations

import pytest
import torch

from snnc.compiler.errors import DataError
from snnc.runtime.data import DATASET_NAMES, ENV_VAR, dataset_info, dataset_options, load_dataset


def test_known_names():
    assert set(DATASET_NAMES) >= {"mnist", "fashion-mnist", "cifar10", "mnist-sample", "colored-mnist", "isbi2012"}


def test_unknown_name_lists_names_with_did_you_mean():
    with pytest.raises(DataError, match=r"unknown dataset 'mnits'\. Did you mean 'mnist'.*Known datasets: mnist, "):
        load_dataset("mnits")


def test_unknown_name_in_dataset_info():
    with pytest.raises(DataError, match="Did you mean 'cifar10'"):
        dataset_info("cifar100")


@pytest.mark.parametrize("alias", ["MNIST_Sample", "mnist-sample", " mnist_sample "])
def test_names_forgive_case_and_underscores(alias):
    assert dataset_info(alias).name == "mnist-sample"


def test_unknown_split():
    with pytest.raises(DataError, match="unknown split 'val' of mnist-sample: use 'train' or 'test'"):
        load_dataset("mnist-sample", "val")


def test_unknown_option_names_the_options():
    with pytest.raises(ValueError, match="no option 'corelation'. Did you mean 'correlation'"):
        load_dataset("colored-mnist", "train", corelation=0.9)
    with pytest.raises(ValueError, match="no option 'crop'.*Its options: none"):
        load_dataset("mnist-sample", "train", crop=64)


def test_options_table():
    assert dataset_options("isbi2012")["crop"] is None
    assert dataset_options("colored-mnist")["correlation"] == 0.99


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "colored-mnist", "mnist-sample"])
def test_info_is_consistent(name):
    info = dataset_info(name)
    assert info.task == "classification" and info.num_classes == 10
    assert len(info.mean) == len(info.std) == info.channels


def test_isbi_info():
    info = dataset_info("isbi2012")
    assert (info.task, info.channels, info.size, info.class_names) == (
        "segmentation", 1, (512, 512), ("cell interior", "membrane"))
    assert dict(info.counts) == {"train": 25, "test": 5}


def test_env_root_is_searched(monkeypatch, tmp_path, idx_dir):
    monkeypatch.setenv(ENV_VAR, str(idx_dir.parent))
    assert len(load_dataset("mnist", "train")) == 100


def test_default_search_names_the_env_root_then_the_repository(monkeypatch, tmp_path):
    # Only the location of the repository's data is redirected here; the readers run as they are.
    monkeypatch.setattr("snnc.runtime.data.locate.repository_data_root", lambda: tmp_path / "repo")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", "train")
    message = str(info.value)
    assert message.index(str(tmp_path / "env" / "fashion-mnist")) < message.index(
        str(tmp_path / "repo" / "fashion-mnist"))
    assert "FashionMNIST/raw" in message and "SNNC_DATA_DIR" in message


def test_data_dir_may_be_the_dataset_folder_or_its_root(idx_dir):
    assert len(load_dataset("mnist", "test", idx_dir)) == len(load_dataset("mnist", "test", idx_dir.parent)) == 50


def test_image_folder_needs_a_data_dir():
    with pytest.raises(DataError, match="'image-folder' dataset needs --data-dir"):
        load_dataset("image-folder")


def test_decoded_files_are_cached_until_cleared(idx_dir):
    from snnc.runtime.data import clear_cache
    from snnc.runtime.data.idx import read_mnist_split

    first = read_mnist_split(idx_dir, "train")[0]
    assert read_mnist_split(idx_dir, "train")[0] is first
    assert load_dataset("mnist", "train", idx_dir).images.data_ptr() == first.data_ptr()
    clear_cache()
    again = read_mnist_split(idx_dir, "train")[0]
    assert again is not first and torch.equal(again, first)
