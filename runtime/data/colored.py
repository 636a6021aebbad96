"""Colored MNIST: a 10-class out-of-distribution benchmark with a controllable spurious colour.

Recipe (exactly what :func:`colorize` does):

1. Start from real MNIST (train or test split), grey image ``g`` in [0, 1] of ``1 x 28 x 28`` and its digit
   label ``y`` in 0..9. Labels are never changed.
2. Every class ``k`` owns one colour ``c_k`` of :data:`PALETTE` (RGB in [0, 1]). An image coloured ``k`` is
   ``x = g * c_k`` per channel: the stroke takes the colour, the background stays black; ``x`` is
   ``3 x 28 x 28`` float32 in [0, 1].
3. The colour index of each image is drawn from a NumPy ``PCG64`` generator seeded with
   ``SeedSequence([seed, 0 for train / 1 for test])``, for the whole split at once and in the original order
   (``limit`` takes the first images afterwards, so it never changes their colours):
   ``u = rng.random(N)``, then ``r = rng.integers(0, 9, N)``, then ``s = rng.integers(0, 10, N)``.

   * ``"correlated"`` with correlation ``rho``: colour ``y`` when ``u < rho``, else ``(y + 1 + r) % 10``
     (uniform over the nine other colours). Colour then predicts the label with accuracy ``rho``.
   * ``"anti"``: always ``(y + 1 + r) % 10`` (never the class's own colour): a model that learned the colour
     shortcut scores 0 %.
   * ``"random"``: ``s``, uniform over all ten, independent of the label (colour is pure noise).

The train split uses ``"correlated"`` (default ``rho = 0.99``); the test split uses ``test_colors``
(default ``"random"``; ``"anti"`` for the hardest shift, ``"correlated"`` for an in-distribution check).
The idea follows the 10-class coloured-digit benchmarks of Kim et al. (CVPR 2019, "Learning Not to Learn") and
Bahng et al. (ICML 2020, ReBias, ``rho`` in {0.99, 0.995, 0.997, 0.999}); it is not the binary, label-noised
Colored MNIST of Arjovsky et al. (IRM, 2019). The palette is the first ten of Sasha Trubetskoy's "20 simple,
distinct colors".
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np
import torch
from pydantic import Field
from torch.utils.data import Dataset

from .base import normalizer
from .entry import Base, DatasetEntry, DatasetInfo, DatasetOptions

ColorMode = Literal["correlated", "anti", "random"]
COLOR_MODES = ("correlated", "anti", "random")

PALETTE_RGB = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190),
)
"""The colour of class 0..9 (red, green, yellow, blue, orange, purple, cyan, magenta, lime, pink), 0..255."""

PALETTE = tuple(tuple(v / 255.0 for v in rgb) for rgb in PALETTE_RGB)
""":data:`PALETTE_RGB` scaled to [0, 1]."""

COLOR_NAMES = ("red", "green", "yellow", "blue", "orange", "purple", "cyan", "magenta", "lime", "pink")


def _stats(mean: float = 0.1307, std: float = 0.3081) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # Why: x_c = g * p_c with g (MNIST grey) independent of the colour p drawn uniformly from the palette, so
    # E[x_c] = E[g] E[p_c] and E[x_c^2] = E[g^2] E[p_c^2]; exact for "random" colours, close for the others.
    g2 = std**2 + mean**2
    means, stds = [], []
    for c in range(3):
        p = [rgb[c] for rgb in PALETTE]
        ep, ep2 = sum(p) / len(p), sum(v * v for v in p) / len(p)
        means.append(mean * ep)
        stds.append(math.sqrt(g2 * ep2 - (mean * ep) ** 2))
    return tuple(means), tuple(stds)


MEAN, STD = _stats()
"""Per-channel mean and std of Colored MNIST (uniform colours, MNIST's grey statistics)."""


def colorize(labels: np.ndarray, mode: ColorMode, *, correlation: float = 0.99, seed: int = 0,
             split: str = "train") -> np.ndarray:
    """Draw the colour index of every image (step 3 of the module docstring's recipe).

    Args:
        labels: the digit labels, ``N`` ints in 0..9.
        mode: ``"correlated"``, ``"anti"`` or ``"random"``.
        correlation: probability of the class's own colour in ``"correlated"`` mode, in [0, 1].
        seed: the seed; with ``split`` it fixes every colour.
        split: ``"train"`` or ``"test"`` (the two splits use independent streams).

    Returns:
        int64 colour indices, ``N``.

    Raises:
        ValueError: unknown mode or split, or a correlation outside [0, 1].
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"unknown colour mode {mode!r}; use one of {', '.join(COLOR_MODES)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [0, 1], got {correlation}")
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0 if split == "train" else 1])))
    n = len(labels)
    u, r, s = rng.random(n), rng.integers(0, 9, n), rng.integers(0, 10, n)
    other = (labels + 1 + r) % 10
    if mode == "correlated":
        return np.where(u < correlation, labels, other)
    if mode == "anti":
        return other
    return s


class ColoredMNIST(Dataset):
    """Coloured MNIST digits: item ``i`` is ``(float32 3 x 28 x 28 image, int label)``.

    Colouring is done per item from the grey digits and a colour index (see the module docstring), so the set
    costs no more memory than grey MNIST.

    Attributes:
        images: uint8 ``N x 1 x 28 x 28`` grey digits.
        targets: int64 ``N`` digit labels.
        colors: int64 ``N`` colour index of each image (the spurious attribute; equal to the label when aligned).
        classes: ``"0"`` .. ``"9"``.
        mean, std: per-channel statistics used when ``normalize`` is true.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, colors: np.ndarray | torch.Tensor, *,
                 normalize: bool = False, limit: int | None = None,
                 mean: Sequence[float] = MEAN, std: Sequence[float] = STD):
        """Wrap grey digits with their colours.

        Args:
            images: uint8 ``N x 1 x 28 x 28`` (or ``N x 28 x 28``).
            targets: labels, ``N``.
            colors: colour indices, ``N`` (see :func:`colorize`).
            normalize: return ``(x - mean) / std``.
            limit: keep only the first ``limit`` images.
            mean, std: per-channel statistics.

        Raises:
            ValueError: lengths disagree or ``limit`` is negative.
        """
        if images.dim() == 3:
            images = images.unsqueeze(1)
        colors = torch.as_tensor(colors, dtype=torch.long)
        if not len(images) == len(targets) == len(colors):
            raise ValueError(f"{len(images)} images, {len(targets)} labels and {len(colors)} colours")
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            images, targets, colors = images[:limit], targets[:limit], colors[:limit]
        self.images, self.targets, self.colors = images, targets.long(), colors
        self.classes = tuple(str(d) for d in range(10))
        self.mean, self.std = tuple(mean), tuple(std)
        self.normalize = normalize
        self._palette = torch.tensor(PALETTE, dtype=torch.float32).view(10, 3, 1, 1)
        self._mean, self._std = normalizer(mean, std)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index].float().div_(255.0) * self._palette[self.colors[index]]
        if self.normalize:
            x = (x - self._mean) / self._std
        return x, int(self.targets[index])

    def alignment(self) -> float:
        """The fraction of images whose colour is their class's own colour (about ``rho``, 0.1 or 0)."""
        return float((self.colors == self.targets).float().mean()) if len(self) else 0.0


def make_colored_mnist(images: torch.Tensor, targets: torch.Tensor, split: str, *, correlation: float = 0.99,
                       test_colors: ColorMode = "random", seed: int = 0, normalize: bool = False,
                       limit: int | None = None) -> ColoredMNIST:
    """Build one split of Colored MNIST from grey MNIST tensors (recipe in the module docstring).

    Args:
        images: uint8 ``N x 28 x 28`` (or ``N x 1 x 28 x 28``) grey digits of that split.
        targets: their labels.
        split: ``"train"`` (coloured with ``correlation``) or ``"test"`` (coloured by ``test_colors``).
        correlation: train-split probability that a digit wears its class's colour.
        test_colors: ``"random"``, ``"anti"`` or ``"correlated"`` (the last uses ``correlation`` too).
        seed: fixes every colour.
        normalize: return normalised images.
        limit: keep only the first ``limit`` images (colours are drawn before, so they do not change).

    Returns:
        The dataset.

    Raises:
        ValueError: bad split, mode or correlation.
    """
    mode: ColorMode = "correlated" if split == "train" else test_colors
    colors = colorize(targets.numpy(), mode, correlation=correlation, seed=seed, split=split)
    return ColoredMNIST(images, targets, colors, normalize=normalize, limit=limit)


# --- the registered dataset -----------------------------------------------------------------------------------


class ColoredOptions(DatasetOptions):
    """The options of ``colored-mnist`` (see :func:`make_colored_mnist`).

    Attributes:
        correlation: train-split probability that a digit wears its class's colour.
        test_colors: how the test split is coloured.
        seed: fixes every colour.
        base: the grey digits: MNIST's files or the bundled sample.
    """

    correlation: float = Field(default=0.99, ge=0.0, le=1.0)
    test_colors: ColorMode = "random"
    seed: int = 0
    base: Base = "mnist"


def _read(split: str, data_dir, normalize: bool, limit: int | None, options: ColoredOptions) -> ColoredMNIST:
    from .mnist import grey_mnist

    images, labels = grey_mnist(split, data_dir, options.base, "Colored MNIST")
    return make_colored_mnist(images, labels, split, correlation=options.correlation,
                              test_colors=options.test_colors, seed=options.seed, normalize=normalize, limit=limit)


COLORED_MNIST = DatasetEntry(DatasetInfo(
    name="colored-mnist", title="Colored MNIST", task="classification", channels=3, size=(28, 28),
    class_names=tuple(str(d) for d in range(10)), mean=MEAN, std=STD, counts={"train": 60000, "test": 10000},
    folder="mnist", license="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)"), _read, ColoredOptions)
"""``colored-mnist``: MNIST with a colour per class (module docstring)."""
