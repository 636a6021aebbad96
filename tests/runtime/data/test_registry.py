"""load_dataset and dataset_info: names, splits, options, and where data is looked for."""

from __future__ import annotations

import pytest
import torch

from snnc.compiler.errors import DataError
from snnc.compiler.targets.base import OptionsError
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
    with pytest.raises(OptionsError, match=r"dataset 'colored-mnist': unknown option 'corelation' \(did you mean "
                                           r"'correlation'\?\)\. Its options: correlation, test_colors, seed, base"):
        load_dataset("colored-mnist", "train", corelation=0.9)
    with pytest.raises(OptionsError, match=r"dataset 'mnist-sample': unknown option 'crop'\. Its options: none"):
        load_dataset("mnist-sample", "train", crop=64)


def test_bad_option_value_is_located_before_anything_is_read(monkeypatch):
    # The reader must not run: the value is refused by the entry's Options first.
    from snnc.runtime.data.registry import dataset_entry

    monkeypatch.setattr("snnc.runtime.data.mnist.load_sample_arrays", lambda *a: pytest.fail("read"))
    with pytest.raises(OptionsError, match=r"dataset 'colored-mnist': option 'correlation': Input should be less "
                                           r"than or equal to 1 \(got 2\)"):
        load_dataset("colored-mnist", "train", base="mnist-sample", correlation=2)
    with pytest.raises(OptionsError, match=r"option 'base': Input should be 'mnist' or 'mnist-sample' \(got "
                                           r"'mnist-smaple'\) \(did you mean 'mnist-sample'\?\)"):
        load_dataset("colored-mnist", "train", base="mnist-smaple")
    assert dataset_entry("colored-mnist").options({"correlation": 0.5}).correlation == 0.5


def test_every_name_is_one_registered_entry_in_its_readers_module():
    from snnc.runtime.data import DATASETS, DatasetEntry

    modules = {}
    for name, entry in DATASETS.items():
        assert isinstance(entry, DatasetEntry) and entry.name == name == dataset_info(name).name
        assert set(dataset_options(name)) == set(entry.Options.model_fields)
        modules.setdefault(entry.read.__module__, []).append(name)
    assert modules["snnc.runtime.data.mnist"] == ["mnist", "fashion-mnist", "mnist-sample"]
    assert modules["snnc.runtime.data.cifar"] == ["cifar10"]
    assert modules["snnc.runtime.data.isbi"] == ["isbi2012"]


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
