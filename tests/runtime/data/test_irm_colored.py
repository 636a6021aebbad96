"""IRM Colored MNIST and the grey → coloured domain pair: the recipe in the module docstring, on real digits."""

from __future__ import annotations

import math

import pytest
import torch

from snnc.compiler.targets.base import OptionsError
from snnc.runtime.data import dataset_info, dataset_options, load_dataset
from snnc.runtime.data.irm_colored import GAPS, Environment, IRMColoredMNIST, build_split, make_environments

from ...conftest import shared_data_dir


def _sample(split="train", name="irm-colored-mnist", **options):
    return load_dataset(name, split, base="mnist-sample", **options)


def _within_binomial(measured: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    return abs(measured - p) <= sigmas * math.sqrt(p * (1 - p) / n) + 1e-9


def test_items_carry_label_and_environment_and_the_digit_sits_in_its_colour_channel():
    data = _sample()
    grey = load_dataset("mnist-sample", "train")
    assert isinstance(data, IRMColoredMNIST) and len(data) == 2000
    x, y, env = data[0]
    assert x.shape == (2, 28, 28) and x.dtype == torch.float32 and y in (0, 1) and env in (0, 1)
    color = int(data.colors[0])
    assert x[1 - color].abs().sum() == 0 and x[color].sum() > 0
    digit = int(data.digits[0])
    # The image is one of the real digits with that label (the pool is shuffled, not altered).
    matches = [i for i in range(len(grey)) if grey[i][1] == digit and torch.equal(grey[i][0][0], x[color])]
    assert matches


def test_whole_set_tensors_equal_the_items():
    data = _sample(size=14, channels="rgb")
    xs, ys, envs = data.tensors()
    assert xs.shape == (2000, 3, 14, 14)
    for i in (0, 7, 1999):
        x, y, e = data[i]
        assert torch.equal(xs[i], x) and ys[i] == y and envs[i] == e
    assert xs[:, 2].abs().sum() == 0  # blue is never used


@pytest.mark.parametrize(("flip", "n"), [(0.1, 1000), (0.2, 1000)])
def test_label_noise_and_colour_agreement_per_environment_on_the_sample(flip, n):
    stats = {row["flip"]: row for row in _sample().statistics()}
    row = stats[flip]
    assert row["images"] == n
    assert _within_binomial(row["label_noise"], 0.25, n)
    assert _within_binomial(row["color_agreement"], 1 - flip, n)


def test_statistics_on_full_mnist_within_binomial_tolerance():
    if not (shared_data_dir() / "mnist").is_dir():
        pytest.skip("full MNIST is not in shared/data")
    train = load_dataset("irm-colored-mnist", "train", size=14, data_dir=shared_data_dir())
    test = load_dataset("irm-colored-mnist", "test", size=14, data_dir=shared_data_dir())
    assert len(train) == 60000 and len(test) == 10000
    for row in train.statistics() + test.statistics():
        assert _within_binomial(row["label_noise"], 0.25, row["images"])
        assert _within_binomial(row["color_agreement"], 1 - row["flip"], row["images"])
    # The clean label is digit < 5.
    clean = (train.digits < 5).long()
    assert _within_binomial(float((train.targets == clean).float().mean()), 0.75, len(train))


def test_the_same_seed_gives_the_same_set_and_another_seed_another():
    a, b, c = _sample(seed=3), _sample(seed=3), _sample(seed=4)
    for name in ("images", "targets", "colors", "envs", "digits"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.targets, c.targets) or not torch.equal(a.colors, c.colors)


def test_train_and_test_splits_draw_independently_and_test_is_anti_correlated():
    test = _sample("test")
    assert len(test) == 500 and set(test.envs.tolist()) == {0}
    assert _within_binomial(test.statistics()[0]["color_agreement"], 0.1, 500)


@pytest.mark.parametrize("gap", list(GAPS))
def test_report_b_gaps_set_the_training_environments(gap):
    data = _sample(gap=gap)
    assert tuple(e.flip for e in data.environments) == GAPS[gap]
    lo, hi = GAPS[gap]
    assert sum(GAPS[gap]) / 2 == pytest.approx(0.15)
    stats = data.statistics()
    assert _within_binomial(stats[0]["color_agreement"], 1 - lo, 1000)
    assert _within_binomial(stats[1]["color_agreement"], 1 - hi, 1000)


def test_per_env_and_limit_keep_environments_interleaved():
    data = _sample(per_env=100, envs=(0.1, 0.2, 0.9))
    assert len(data) == 300 and torch.bincount(data.envs).tolist() == [100, 100, 100]
    limited = _sample(limit=50)
    assert len(limited) == 50 and set(limited.envs.tolist()) == {0, 1}


def test_grey_to_coloured_domain_pair():
    train, test = _sample(name="grey-colored-mnist"), _sample("test", name="grey-colored-mnist")
    assert [e.flip for e in train.environments] == [None, 0.9]
    x, _, env = train[int(torch.nonzero(train.envs == 0)[0])]
    assert env == 0 and torch.equal(x[0], x[1])  # grey: the digit in both channels
    assert train.statistics()[0]["color_agreement"] is None
    assert _within_binomial(train.statistics()[1]["color_agreement"], 0.1, 1000)
    assert [e.flip for e in test.environments] == [0.9]


def test_grey_source_with_clean_labels_keeps_the_targets_noise_and_draws():
    noisy = _sample(name="grey-colored-mnist")
    clean = _sample(name="grey-colored-mnist", source_label_noise=0.0)
    source, target = clean.statistics()
    assert source["label_noise"] == 0.0 and clean.environments[0].label_noise == 0.0
    assert noisy.statistics()[0]["label_noise"] > 0.2  # the default: the target's 25 %
    # The target environment is drawn from the same random numbers either way: same images, labels and colours.
    t = clean.envs == 1
    assert torch.equal(t, noisy.envs == 1) and target["label_noise"] == noisy.statistics()[1]["label_noise"]
    assert torch.equal(clean.targets[t], noisy.targets[t]) and torch.equal(clean.colors[t], noisy.colors[t])
    # Source labels are the clean ones: digit < 5.
    s = clean.envs == 0
    assert torch.equal(clean.targets[s], (clean.digits[s] < 5).long())
    with pytest.raises(OptionsError, match="dataset 'irm-colored-mnist': unknown option 'source_label_noise'"):
        _sample(source_label_noise=0.0)  # the coloured environments have no grey source
    images, digits = clean.images[:8], clean.digits[:8]
    with pytest.raises(ValueError, match="grey source only"):
        build_split(images, digits, "train", source_label_noise=0.0)
    with pytest.raises(OptionsError, match="option 'source_label_noise': Input should be less than or equal to 1"):
        _sample("test", name="grey-colored-mnist", source_label_noise=1.5)  # checked on either split


@pytest.mark.parametrize("grey, lit", [("all", [True, True, True]), ("colour", [True, True, False]),
                                       ("half", [True, True, False])])
def test_grey_source_channels_in_rgb(grey, lit):
    train = _sample(name="grey-colored-mnist", channels="rgb", grey=grey)
    assert train.grey == grey
    x, _, _ = train.tensors()
    source = x[train.envs == 0]
    assert [bool(source[:, c].sum() > 0) for c in range(3)] == lit
    assert torch.equal(source[:, 0], source[:, 1])  # the same grey digit in each lit channel
    assert float(x[train.envs == 1][:, 2].abs().sum()) == 0.0  # the coloured target never lights blue
    first = int(torch.nonzero(train.envs == 0)[0])
    assert torch.equal(train[first][0], x[first])  # items and the whole-set tensors agree
    assert train.select(torch.tensor([first])).grey == grey and train.environment(0).grey == grey


def test_half_grey_sums_to_a_coloured_digits_intensity():
    half = _sample(name="grey-colored-mnist", channels="two", grey="half")
    full = _sample(name="grey-colored-mnist", channels="two", grey="colour")
    xh, _, _ = half.tensors()
    xf, _, _ = full.tensors()
    source = half.envs == 0
    assert torch.allclose(xh[source], xf[source] / 2)  # each lit channel at half intensity
    assert torch.allclose(xh[source].sum(1), half.images[source].float() / 255)  # red + green = the grey digit
    assert torch.equal(xh[~source], xf[~source])  # the coloured target is untouched
    first = int(torch.nonzero(source)[0])
    assert torch.equal(half[first][0], xh[first])


def test_irm_code_pool_splits_the_training_images_five_sixths_to_one_sixth():
    grey_train, grey_test = load_dataset("mnist-sample", "train"), load_dataset("mnist-sample", "test")
    train, test = _sample(pool="irm-code"), _sample("test", pool="irm-code")
    cut = len(grey_train) * 5 // 6
    assert len(train) == cut and len(test) == len(grey_train) - cut
    head = {grey_train[i][0][0].numpy().tobytes() for i in range(cut)}
    tail = {grey_train[i][0][0].numpy().tobytes() for i in range(cut, len(grey_train))}
    t10k = {grey_test[i][0][0].numpy().tobytes() for i in range(len(grey_test))}

    def digits_of(data):
        return {data[i][0].sum(0).numpy().tobytes() for i in range(len(data))}

    # Train takes the head of MNIST's training images, test its tail: never a test-file image, never shared.
    assert digits_of(train) <= head and digits_of(test) <= tail and not (digits_of(test) & t10k)
    assert [e.flip for e in test.environments] == [0.9]
    with pytest.raises(OptionsError, match=r"option 'pool': Input should be 'mnist' or 'irm-code' \(got 't10k'\)"):
        _sample(pool="t10k")


def test_bad_options_are_clear_errors():
    with pytest.raises(OptionsError, match=r"option 'size': must be 28 or 14 \(got 20\)"):
        _sample(size=20)
    with pytest.raises(OptionsError, match="option 'gap': unknown gap; use one of 10/20, 5/25"):
        _sample(gap="1/2")
    with pytest.raises(OptionsError, match="dataset 'irm-colored-mnist': give either gap or envs, not both"):
        _sample(gap="5/25", envs=(0.1, 0.2))
    with pytest.raises(OptionsError, match=r"option 'envs\.1': Input should be less than or equal to 1 \(got 1\.5\)"):
        _sample(envs=(0.1, 1.5))
    with pytest.raises(OptionsError, match="unknown option 'flips'"):
        _sample(flips=(0.1,))
    with pytest.raises(Exception, match="input.range"):
        load_dataset("irm-colored-mnist", "train", base="mnist-sample", normalize=True)
    with pytest.raises(ValueError, match="at least one environment"):
        make_environments(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4), [])


def test_registered_with_facts_and_options_and_the_old_colored_mnist_stays():
    info = dataset_info("irm-colored-mnist")
    assert info.num_classes == 2 and info.size is None
    assert {"envs", "gap", "size", "channels", "per_env", "seed", "label_noise", "pool"} <= set(dataset_options(info.name))
    assert dataset_info("irm_cmnist").name == "irm-colored-mnist"
    assert dataset_info("colored-mnist").num_classes == 10
    assert len(load_dataset("colored-mnist", "train", base="mnist-sample")[0]) == 2


def test_environment_recipe_draws_exact_probabilities_at_the_extremes():
    images = torch.randint(0, 255, (400, 28, 28), dtype=torch.uint8)
    digits = torch.arange(400) % 10
    data = make_environments(images, digits, [Environment(0.0, 0.0), Environment(1.0, 0.0)])
    stats = data.statistics()
    assert stats[0]["label_noise"] == 0 and stats[0]["color_agreement"] == 1.0
    assert stats[1]["color_agreement"] == 0.0
