"""What a registered dataset is: its facts (:class:`DatasetInfo`), its validated options and its reader.

Each dataset is one :class:`DatasetEntry` in the module of its reader (``mnist.py`` holds ``mnist``,
``fashion-mnist`` and ``mnist-sample``; ``cifar.py`` ``cifar10`` ...), found by name in
:data:`snnc.runtime.data.registry.DATASETS`. Options are a pydantic model with unknown keys refused, so a bad
option is an :class:`~snnc.compiler.targets.base.OptionsError` that names the option, with did-you-mean, as
target and method options are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

from pydantic import BaseModel, ConfigDict

from snnc.compiler.targets.base import OptionsError, validate_options

Base = Literal["mnist", "mnist-sample"]
"""Where the datasets made from grey MNIST take their digits: MNIST's files or the bundled sample."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, without reading it.

    Attributes:
        name: the name :func:`~snnc.runtime.data.load_dataset` takes.
        title: a display name.
        task: ``"classification"`` or ``"segmentation"``.
        channels: image channels (C of C x H x W).
        size: ``(H, W)`` of a whole image, or None when it depends on the files (image folders).
        class_names: label names, index = label (empty for image folders: see the dataset's ``classes``).
        mean, std: per-channel statistics of pixel/255 used by ``normalize=True``.
        counts: samples per split as shipped in ``shared/data`` (ISBI: whole slices before cropping).
        folder: the folder name under a data root.
        license: the data's licence, in short.
    """

    name: str
    title: str
    task: Literal["classification", "segmentation"]
    channels: int
    size: tuple[int, int] | None
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    counts: Mapping[str, int]
    folder: str
    license: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))  # read-only, as the rest

    @property
    def num_classes(self) -> int:
        """The number of classes (2 for the membrane masks)."""
        return len(self.class_names)


class DatasetOptions(BaseModel):
    """Base of every dataset's options: unknown keys are errors (with did-you-mean), values are checked.

    Rules between options (``gap`` or ``envs``) and bounds that depend on the data stay with the reader; its
    ``ValueError`` becomes an :class:`OptionsError` in :meth:`DatasetEntry.load`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


Reader = Callable[[str, "Path | None", bool, "int | None", Any], Any]
"""``read(split, data_dir, normalize, limit, options) -> Dataset`` with validated options."""


@dataclass(frozen=True)
class DatasetEntry:
    """One registered dataset.

    Attributes:
        info: its facts.
        read: its reader (see :data:`Reader`).
        Options: the pydantic model of its options (default: none).
    """

    info: DatasetInfo
    read: Reader
    Options: type[DatasetOptions] = DatasetOptions

    @property
    def name(self) -> str:
        return self.info.name

    def defaults(self) -> dict[str, Any]:
        """Every option with its default (e.g. ISBI's ``crop``: None)."""
        return {name: field.default for name, field in self.Options.model_fields.items()}

    def options(self, values: Mapping[str, Any] | None = None) -> DatasetOptions:
        """Validate ``values`` into :attr:`Options`.

        Raises:
            OptionsError: an unknown option (with did-you-mean and the list of options) or a bad value, named.
        """
        return validate_options(self.Options, values, f"dataset '{self.name}'")

    def load(self, split: str, data_dir: Path | str | None, *, normalize: bool, limit: int | None,
             options: Mapping[str, Any] | None = None) -> Any:
        """Validate ``options`` and read the split.

        Raises:
            OptionsError: a bad option; or a value the reader refuses once it has the data (a crop larger than
                the slices) or together with another option (``gap`` and ``envs``).
            DataError: files missing or malformed.
        """
        checked = self.options(options)
        try:
            return self.read(split, data_dir, normalize, limit, checked)
        except ValueError as exc:
            # Why: the readers check arguments with ValueError (they are also called directly); through the
            # registry every such value came from the user's options or limit.
            raise OptionsError(f"dataset '{self.name}': {exc}") from None
