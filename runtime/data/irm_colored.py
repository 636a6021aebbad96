"""The Colored MNIST of Arjovsky et al. (IRM, 2019): binary labels, 25% label noise, a colour per environment.

Recipe (what :func:`make_environments` does, after ``code/colored_mnist/main.py`` of the IRM code and DomainBed's
``ColoredMNIST``):

1. Start from grey MNIST digits ``g`` (uint8 ``28 x 28``) and their digits ``d``. With ``size=14`` take every
   second pixel (``g[::2, ::2]``), as the IRM code does.
2. The clean label is ``d < 5`` (1 for 0..4, 0 for 5..9). Flip it with probability ``label_noise`` (0.25): the
   label ``y`` is what the model is trained and tested on, so 75% is the best a shape-only model can reach.
3. The colour is ``c = y XOR Bernoulli(e)`` with ``e`` the environment's colour-flip probability: colour agrees
   with the label with probability ``1 - e`` (0.9 and 0.8 in the training environments, 0.1 at test).
4. The image is two channels ``[red, green]`` with the digit in channel ``c`` and zeros in the other (``channels=
   "two"``, the IRM code's layout; colour 0 = red, 1 = green), or RGB with a zero blue channel (``"rgb"``). A
   grey environment (``e = None``, for the grey → coloured domain pair) puts the digit in every channel
   (``grey="all"``), or in the red and green channels only (``grey="colour"``: with RGB, the blue channel then
   stays empty in every environment, as in the coloured ones), or in red and green at half intensity each
   (``grey="half"``: red + green then sum to the grey digit, as the one lit channel of a coloured digit does, so
   source and target differ in hue only, not in brightness). The grey source's label noise may differ from the
   target's (``source_label_noise``; 0 gives plain MNIST's binary labels); its flips are drawn either way, so the
   target's images, labels and colours do not change with it.

Randomness: the whole pool of digits is shuffled once by a NumPy ``PCG64`` generator seeded with
``SeedSequence([seed, stream])`` and dealt round-robin to the environments (image ``i`` of the shuffled pool goes
to environment ``i % E``, as the IRM code's ``[::2]``/``[1::2]``); then label flips and colour flips are drawn for
every environment in order, from the same generator. The same seed always gives the same images, labels,
colours and environments. The ``train`` split is built from MNIST's training images and the ``test`` split from
its test images, with different streams, so train and test never share a digit.

Every item is ``(x, y, env)``: float32 ``C x H x W`` in [0, 1], the int label and the int environment index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, Optional, Sequence, get_args

import numpy as np
import torch
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError
from torch.utils.data import Dataset

from snnc.compiler.errors import DataError

from .entry import Base, DatasetEntry, DatasetInfo, DatasetOptions

Channels = Literal["two", "rgb"]
Grey = Literal["all", "colour", "half"]

GAPS: dict[str, tuple[float, float]] = {
    "10/20": (0.1, 0.2),
    "5/25": (0.05, 0.25),
    "2.5/27.5": (0.025, 0.275),
    "0/30": (0.0, 0.3),
}
"""Report B's environment gaps: name → the two training environments' colour-flip probabilities (mean 0.15)."""

TRAIN_ENVS = (0.1, 0.2)
TEST_ENVS = (0.9,)
LABEL_NOISE = 0.25
CLASSES = ("digit >= 5", "digit < 5")


@dataclass(frozen=True)
class Environment:
    """One environment's recipe.

    Attributes:
        flip: the colour-flip probability ``e`` (colour disagrees with the label with this probability), or None
            for grey images (no colour at all).
        label_noise: the probability a label is flipped.
    """

    flip: float | None
    label_noise: float = LABEL_NOISE


class IRMColoredMNIST(Dataset):
    """Binary Colored MNIST over several environments: item ``i`` is ``(float32 C x H x W, int label, int env)``.

    Images are coloured per item from the grey digits, so the set costs no more memory than grey MNIST.

    Attributes:
        images: uint8 ``N x H x W`` grey digits (already subsampled to 14 x 14 when asked).
        targets: int64 ``N`` labels after label noise.
        digits: int64 ``N`` original digits.
        colors: int64 ``N`` colour of each image (0 red, 1 green, -1 grey).
        envs: int64 ``N`` environment index of each image.
        environments: the :class:`Environment` of each index.
        channels: ``"two"`` or ``"rgb"``.
        grey: the channels of a grey image: ``"all"``, ``"colour"`` (red and green) or ``"half"`` (red and green
            at half intensity).
        classes: the class names (label 1 = digit < 5).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, digits: torch.Tensor, colors: torch.Tensor,
                 envs: torch.Tensor, environments: Sequence[Environment], channels: Channels = "two",
                 grey: Grey = "all"):
        """Wrap prepared arrays (see :func:`make_environments`).

        Raises:
            ValueError: lengths disagree, or ``channels`` or ``grey`` is unknown.
        """
        if channels not in ("two", "rgb"):
            raise ValueError(f"channels must be 'two' or 'rgb', got {channels!r}")
        if grey not in ("all", "colour", "half"):
            raise ValueError(f"grey must be 'all', 'colour' or 'half', got {grey!r}")
        if not len(images) == len(targets) == len(digits) == len(colors) == len(envs):
            raise ValueError("images, targets, digits, colors and envs must have the same length")
        self.images, self.targets, self.digits = images, targets.long(), digits.long()
        self.colors, self.envs = colors.long(), envs.long()
        self.environments = tuple(environments)
        self.channels = channels
        self.grey = grey
        self.classes = CLASSES

    @property
    def _grey_channels(self) -> slice:
        return slice(None) if self.grey == "all" else slice(0, 2)

    @property
    def _grey_scale(self) -> float:
        # Why: "half" lights red and green at half intensity each, so a grey digit sums to what a coloured one does.
        return 0.5 if self.grey == "half" else 1.0

    def select(self, index: torch.Tensor | slice) -> "IRMColoredMNIST":
        """The images ``index`` (indices, a mask or a slice) as a dataset of the same kind and options."""
        return IRMColoredMNIST(self.images[index], self.targets[index], self.digits[index], self.colors[index],
                               self.envs[index], self.environments, self.channels, self.grey)

    @property
    def num_channels(self) -> int:
        """C of C x H x W: 2 or 3."""
        return 2 if self.channels == "two" else 3

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        g = self.images[index].float().div_(255.0)
        x = torch.zeros(self.num_channels, *g.shape)
        color = int(self.colors[index])
        if color < 0:
            x[self._grey_channels] = g * self._grey_scale
        else:
            x[color] = g
        return x, int(self.targets[index]), int(self.envs[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The whole set at once: ``(x [N, C, H, W], y [N], env [N])`` (for full-batch training)."""
        g = self.images.float().div(255.0)
        x = torch.zeros(len(self), self.num_channels, *g.shape[1:])
        grey = self.colors < 0
        x[torch.nonzero(grey).squeeze(1), self._grey_channels] = g[grey].unsqueeze(1) * self._grey_scale
        idx = torch.nonzero(~grey).squeeze(1)
        x[idx, self.colors[idx]] = g[idx]
        return x, self.targets.clone(), self.envs.clone()

    def environment(self, index: int) -> "IRMColoredMNIST":
        """Only the images of one environment (the index stays the same)."""
        return self.select(self.envs == index)

    def statistics(self) -> list[dict[str, float | None]]:
        """Per environment: images, measured label noise and colour agreement (colour == label; None if grey)."""
        clean = (self.digits < 5).long()
        rows = []
        for i, env in enumerate(self.environments):
            keep = self.envs == i
            n = int(keep.sum())
            noise = float((self.targets[keep] != clean[keep]).float().mean()) if n else 0.0
            agree = float((self.colors[keep] == self.targets[keep]).float().mean()) if n and env.flip is not None \
                else None
            rows.append({"env": i, "flip": env.flip, "images": n, "label_noise": noise, "color_agreement": agree})
        return rows

    def __repr__(self) -> str:
        envs = ", ".join("grey" if e.flip is None else f"{e.flip:g}" for e in self.environments)
        return f"{type(self).__name__}({len(self)} images, {self.num_channels}x{tuple(self.images.shape[1:])}, " \
               f"environments [{envs}])"


def _check_probability(value: float, what: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], got {value}")
    return value


def make_environments(images: torch.Tensor, digits: torch.Tensor, environments: Sequence[Environment], *,
                      size: int = 28, channels: Channels = "two", per_env: int | None = None, seed: int = 0,
                      stream: int = 0, grey: Grey = "all") -> IRMColoredMNIST:
    """Build the environments from grey digits (recipe in the module docstring).

    Args:
        images: uint8 ``N x 28 x 28`` grey digits.
        digits: their digits, ``N``.
        environments: one :class:`Environment` per environment, in index order.
        size: 28, or 14 for the IRM code's 2x subsampling.
        channels: ``"two"`` (red, green) or ``"rgb"``.
        per_env: keep at most this many images per environment (the first ones dealt).
        seed: the seed.
        stream: a second seed word (0 for the train split, 1 for test) so splits draw independently.
        grey: the channels of grey images: ``"all"``, ``"colour"`` (red and green only) or ``"half"`` (red and
            green at half intensity).

    Returns:
        The dataset, ordered by the shuffled pool (environments interleaved).

    Raises:
        ValueError: bad size, channels, probabilities, no environment, or ``per_env`` < 1.
    """
    if size not in (14, 28):
        raise ValueError(f"size must be 28 or 14, got {size}")
    if channels not in ("two", "rgb"):
        raise ValueError(f"channels must be 'two' or 'rgb', got {channels!r}")
    if not environments:
        raise ValueError("at least one environment is needed")
    if per_env is not None and per_env < 1:
        raise ValueError(f"per_env must be >= 1, got {per_env}")
    for i, env in enumerate(environments):
        if env.flip is not None:
            _check_probability(env.flip, f"the colour flip of environment {i}")
        _check_probability(env.label_noise, f"the label noise of environment {i}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))
    order = torch.from_numpy(rng.permutation(len(images)))
    n_env = len(environments)
    env_of = torch.arange(len(order)) % n_env
    if per_env is not None:
        keep = torch.zeros(len(order), dtype=torch.bool)
        for e in range(n_env):
            keep[torch.nonzero(env_of == e).squeeze(1)[:per_env]] = True
        order, env_of = order[keep], env_of[keep]
    pool = images[order]
    if size == 14:
        pool = pool[:, ::2, ::2].contiguous()
    digit = digits[order].long()
    clean = (digit < 5).long()
    targets = clean.clone()
    colors = torch.full_like(clean, -1)
    for e, env in enumerate(environments):
        idx = torch.nonzero(env_of == e).squeeze(1)
        flips = torch.from_numpy(rng.random(len(idx)) < env.label_noise).long()
        targets[idx] = clean[idx] ^ flips
        draw = torch.from_numpy(rng.random(len(idx)) < (env.flip if env.flip is not None else 0.0)).long()
        if env.flip is not None:
            colors[idx] = targets[idx] ^ draw
    return IRMColoredMNIST(pool, targets, digit, colors, env_of, environments, channels, grey)


def environment_list(flips: Sequence[float | None], label_noise: float = LABEL_NOISE) -> list[Environment]:
    """:class:`Environment` objects for colour-flip probabilities (None = grey), all with one label noise."""
    return [Environment(None if f is None else float(f), float(label_noise)) for f in flips]


def resolve_gap(gap: str | None, envs: Sequence[float] | None) -> tuple[float, ...]:
    """The training environments' flips from a report-B gap name (``"5/25"``) or an explicit list.

    Raises:
        ValueError: both or an unknown gap given.
    """
    if gap is not None:
        if envs is not None:
            raise ValueError("give either gap or envs, not both")
        if gap not in GAPS:
            raise ValueError(f"unknown gap {gap!r}; use one of {', '.join(GAPS)}")
        return GAPS[gap]
    return tuple(float(e) for e in (envs if envs is not None else TRAIN_ENVS))


def build_split(images: torch.Tensor, digits: torch.Tensor, split: str, *, envs: Sequence[float] | None = None,
                test_envs: Sequence[float] = TEST_ENVS, gap: str | None = None, label_noise: float = LABEL_NOISE,
                size: int = 28, channels: Channels = "two", per_env: int | None = None, seed: int = 0,
                grey_source: bool = False, grey: Grey = "all",
                source_label_noise: float | None = None) -> IRMColoredMNIST:
    """One split of IRM Colored MNIST or of the grey → coloured domain pair.

    Args:
        images, digits: grey MNIST of that split.
        split: ``"train"`` (training environments) or ``"test"`` (test environments).
        envs: the training environments' colour flips (default 0.1, 0.2).
        test_envs: the test environments' colour flips (default 0.9).
        gap: a report-B gap name instead of ``envs``.
        label_noise: label-flip probability in every environment.
        size, channels, per_env, seed: see :func:`make_environments`.
        grey_source: the domain pair: the train split is environment 0 = grey digits (the labelled source) and
            environment 1 = coloured digits of ``test_envs[0]`` (the target; a domain-adaptation method must not
            read its labels); the test split is the coloured target.
        grey: the channels of the grey source: ``"all"``, ``"colour"`` (red and green only) or ``"half"``.
        source_label_noise: with ``grey_source``, the label noise of the grey source (default ``label_noise``;
            0 for plain MNIST's binary labels); the coloured target keeps ``label_noise``.

    Returns:
        The dataset.

    Raises:
        ValueError: bad split or option values.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source_label_noise is not None:
        source_label_noise = _check_probability(float(source_label_noise), "source_label_noise")
    if grey_source:
        if gap is not None or envs is not None:
            raise ValueError("grey_source takes no envs or gap: the source is grey, the target is test_envs[0]")
        target = Environment(float(test_envs[0]), float(label_noise))
        source = Environment(None, float(label_noise if source_label_noise is None else source_label_noise))
        environments = [source, target] if split == "train" else [target]
    else:
        if source_label_noise is not None:
            raise ValueError("source_label_noise is for the grey source only (grey_source=True)")
        flips = list(resolve_gap(gap, envs)) if split == "train" else [float(f) for f in test_envs]
        environments = environment_list(flips, label_noise)
    return make_environments(images, digits, environments, size=size, channels=channels,
                             per_env=per_env, seed=seed, stream=0 if split == "train" else 1, grey=grey)


# --- the registered datasets ----------------------------------------------------------------------------------

Probability = Field(ge=0.0, le=1.0)

Pool = Literal["mnist", "irm-code"]
IRM_POOLS: tuple[str, ...] = get_args(Pool)
"""Where IRM Colored MNIST's splits take their digits: ``mnist`` (train ← MNIST's training images, test ← its test
images) or ``irm-code`` (the IRM code's ``mnist.data[:50000]`` / ``[50000:]``: train ← the first five sixths of
the training images, test ← the last sixth, so figures compare with the IRM paper's directly)."""


class _MadeOptions(DatasetOptions):
    """What both datasets made of binary-labelled MNIST take (see :func:`make_environments`)."""

    label_noise: float = Field(default=LABEL_NOISE, ge=0.0, le=1.0)
    size: int = 28
    channels: Channels = "two"
    per_env: Optional[int] = Field(default=None, ge=1)
    seed: int = 0
    base: Base = "mnist"

    @field_validator("size")
    @classmethod
    def _size(cls, size: int) -> int:
        if size not in (28, 14):
            raise PydanticCustomError("size", "must be 28 or 14")
        return size


class IRMOptions(_MadeOptions):
    """The options of ``irm-colored-mnist`` (see :func:`build_split`; ``envs`` or ``gap``, not both)."""

    envs: Optional[tuple[Annotated[float, Probability], ...]] = Field(default=None, min_length=1)
    test_envs: tuple[Annotated[float, Probability], ...] = Field(default=TEST_ENVS, min_length=1)
    gap: Optional[str] = None
    pool: Pool = "mnist"

    @field_validator("gap")
    @classmethod
    def _gap(cls, gap: Optional[str]) -> Optional[str]:
        if gap is not None and gap not in GAPS:
            raise PydanticCustomError("gap", "unknown gap; use one of {gaps}", {"gaps": ", ".join(GAPS)})
        return gap


class GreyOptions(_MadeOptions):
    """The options of ``grey-colored-mnist``: the coloured target's flip, the grey source's channels and noise."""

    target_flip: float = Field(default=0.9, ge=0.0, le=1.0)
    grey: Grey = "all"
    source_label_noise: Optional[float] = Field(default=None, ge=0.0, le=1.0)


def _split_digits(split: str, data_dir, base: str, pool: str, title: str):
    """The grey digits a split is made of (``pool``: see :data:`IRM_POOLS`)."""
    from .mnist import grey_mnist

    if pool == "mnist":
        return grey_mnist(split, data_dir, base, title)
    # Why 5/6: MNIST's 60,000 training images split 50,000 / 10,000, as the IRM code's main.py does.
    images, digits = grey_mnist("train", data_dir, base, title)
    cut = len(images) * 5 // 6
    return (images[:cut], digits[:cut]) if split == "train" else (images[cut:], digits[cut:])


def _made_split(split: str, data_dir, normalize: bool, limit: int | None, title: str, base: str,
                pool: str = "mnist", **options) -> IRMColoredMNIST:
    if normalize:
        raise DataError(f"{title} is read in [0, 1] only: give the spec input.range [0, 1].")
    images, digits = _split_digits(split, data_dir, base, pool, title)
    data = build_split(images, digits, split, **options)
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        data = data.select(slice(0, limit))
    return data


def _read_irm(split: str, data_dir, normalize: bool, limit: int | None, options: IRMOptions) -> IRMColoredMNIST:
    given = options.model_dump(exclude={"base", "pool"})
    return _made_split(split, data_dir, normalize, limit, "IRM Colored MNIST", options.base, options.pool, **given)


def _read_grey(split: str, data_dir, normalize: bool, limit: int | None, options: GreyOptions) -> IRMColoredMNIST:
    given = options.model_dump(exclude={"base", "target_flip"})
    return _made_split(split, data_dir, normalize, limit, "grey → Colored MNIST", options.base,
                       test_envs=(options.target_flip,), grey_source=True, **given)


_MNIST_LICENSE = "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)"

# Why size None: 28x28 or 14x14 and two or three channels are options, so the spec check is left to the reader.
IRM_COLORED_MNIST = DatasetEntry(DatasetInfo(
    name="irm-colored-mnist", title="Colored MNIST of IRM (binary, 25% label noise)", task="classification",
    channels=2, size=None, class_names=CLASSES, mean=(0.0,), std=(1.0,), counts={"train": 60000, "test": 10000},
    folder="mnist", license=_MNIST_LICENSE), _read_irm, IRMOptions)
"""``irm-colored-mnist``: items ``(x, y, env)`` (module docstring)."""

GREY_COLORED_MNIST = DatasetEntry(DatasetInfo(
    name="grey-colored-mnist", title="Grey MNIST → Colored MNIST (domain pair)", task="classification",
    channels=2, size=None, class_names=CLASSES, mean=(0.0,), std=(1.0,), counts={"train": 60000, "test": 10000},
    folder="mnist", license=_MNIST_LICENSE), _read_grey, GreyOptions)
"""``grey-colored-mnist``: a grey labelled source and a coloured target (see :func:`build_split`)."""
