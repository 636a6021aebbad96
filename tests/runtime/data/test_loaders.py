"""Seeded splits and loaders give the same samples in the same order for the same seed."""

from __future__ import annotations

import pytest
import torch

from snnc.runtime.data import load_dataset, make_loader, split_train_val


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-sample", "test")


def test_split_is_a_partition_and_deterministic(data):
    train, val = split_train_val(data, 0.2, seed=7)
    assert (len(train), len(val)) == (400, 100)
    assert sorted(train.indices + val.indices) == list(range(500))
    again = split_train_val(data, 0.2, seed=7)
    assert again[0].indices == train.indices and again[1].indices == val.indices
    assert split_train_val(data, 0.2, seed=8)[1].indices != val.indices


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_bad_fractions(data, fraction):
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_train_val(data, fraction)


def _labels(loader) -> list[int]:
    return [int(v) for _, y in loader for v in y]


def test_shuffled_loader_repeats_for_a_seed(data):
    first = _labels(make_loader(data, 64, shuffle=True, seed=3))
    assert first == _labels(make_loader(data, 64, shuffle=True, seed=3))
    assert first != _labels(make_loader(data, 64, shuffle=True, seed=4))
    assert sorted(first) == sorted(data.targets.tolist())


def test_epochs_differ_but_the_sequence_repeats(data):
    a, b = make_loader(data, 100, shuffle=True, seed=1), make_loader(data, 100, shuffle=True, seed=1)
    epochs_a = [_labels(a), _labels(a)]
    assert epochs_a[0] != epochs_a[1] and epochs_a == [_labels(b), _labels(b)]


def test_batches_have_the_expected_shape(data):
    x, y = next(iter(make_loader(data, 32)))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_workers_give_the_same_batches():
    data = load_dataset("mnist-sample", "test", limit=64)
    assert _labels(make_loader(data, 16, shuffle=True, seed=5, num_workers=2)) == _labels(
        make_loader(data, 16, shuffle=True, seed=5))


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        make_loader([], 0)


def test_a_sampler_sets_the_order_and_workers_can_persist():
    from snnc.runtime.strategies.distributed import ShardSampler

    data = torch.utils.data.TensorDataset(torch.arange(10).float())
    sampler = ShardSampler(data, 2, 1, shuffle=True, seed=4)
    loader = make_loader(data, 2, sampler=sampler, num_workers=1, persistent_workers=True)
    epochs = [[int(v) for (batch,) in loader for v in batch] for _ in range(2)]
    whole = [list(ShardSampler(data, 1, 0, shuffle=True, seed=4, epoch=e)) for e in range(2)]
    assert epochs == [w[1::2] for w in whole] and epochs[0] != epochs[1]
    assert loader.persistent_workers
