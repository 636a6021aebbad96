"""The tensor-backed classification dataset every in-memory reader returns.

Images are kept as one uint8 ``N x C x H x W`` tensor and converted one sample at a time to float32 in [0, 1]
(then optionally normalised), so a 60,000-image set costs 47 MB, not 188 MB, and no sample goes through PIL.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.utils.data import Dataset


def normalizer(mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(mean, std)`` as ``C x 1 x 1`` float32 tensors, ready to broadcast over an image."""
    return (torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
            torch.tensor(std, dtype=torch.float32).view(-1, 1, 1))


class ImageDataset(Dataset):
    """Labelled images held in memory: item ``i`` is ``(float32 C x H x W image, int label)``.

    Attributes:
        images: uint8 ``N x C x H x W`` (shared with the reader's cache; never modified).
        targets: int64 ``N`` labels (torchvision's name for them).
        classes: the class names, index = label.
        mean, std: the per-channel statistics used when ``normalize`` is true.
        normalize: whether items are returned as ``(x - mean) / std`` rather than in [0, 1].
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        classes: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        *,
        normalize: bool = False,
        limit: int | None = None,
    ):
        """Wrap uint8 images and int labels.

        Args:
            images: uint8 ``N x C x H x W``.
            targets: integer labels, ``N``.
            classes: class names.
            mean, std: per-channel statistics (one value per channel).
            normalize: return normalised images.
            limit: keep only the first ``limit`` samples.

        Raises:
            ValueError: shapes or types disagree, or ``limit`` is negative.
        """
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 N x C x H x W, got {images.dtype} {tuple(images.shape)}")
        if targets.shape != (len(images),):
            raise ValueError(f"{len(images)} images but targets of shape {tuple(targets.shape)}")
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            images, targets = images[:limit], targets[:limit]
        self.images = images
        self.targets = targets.long()
        self.classes = tuple(classes)
        self.mean, self.std = tuple(mean), tuple(std)
        self.normalize = normalize
        self._mean, self._std = normalizer(mean, std)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index].float().div_(255.0)
        if self.normalize:
            x = (x - self._mean) / self._std
        return x, int(self.targets[index])

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return f"{type(self).__name__}({len(self)} images, {c}x{h}x{w}, {len(self.classes)} classes)"
