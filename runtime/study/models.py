"""The study file's schema: pydantic models of the YAML a user writes (no torch, no registries).

A study file names a grid and what to measure on every cell of it::

    study: quick                                  # the study's name (also a directory-safe label)
    description: ann against snn on the sample
    grid:
      specs:                                      # paths relative to this file, or bundled spec names
        - tiny_fc.yaml
        - {spec: tiny_fc.yaml, params: {hidden: [32, 64]}}   # a list is a grid axis; a scalar one value
      targets: [ann, snn, {name: snn, options: {timesteps: 4}, label: snn-T4}]
      datasets: [mnist-sample, {name: colored-mnist, options: {correlation: 0.9}}]
      recipes:                                    # TrainConfig fields (those of snnc train)
        - {name: quick, epochs: 1, limit_train: 256, limit_test: 200}
      seeds: [0, 1]
    measure: [accuracy, params, macs, sops, energy, seconds_per_epoch, {epochs_to: 0.9}, {burst_T: [2, 4, 8]}]
    cost: {batches: 2, batch_size: 32, technology: 45nm-fp32}
    burst: {gamma: 5, calibration: 256}

The models check shapes and ranges only; names (targets, datasets, methods, recipe fields, spec parameters) are
checked against their registries by :mod:`snnc.runtime.study.checks`, with the same located diagnostics.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from snnc.compiler.errors import did_you_mean

LABEL_PATTERN = r"^[A-Za-z0-9_.=+-]+$"
"""Labels become parts of directory names: letters, digits and ``_ . = + -``."""

SIMPLE_MEASURES = ("accuracy", "params", "macs", "sops", "energy", "seconds_per_epoch")
"""Measures named by a bare word: test accuracy of ``best.pt``, parameters, MACs of one dense pass, synaptic
operations and energy per inference (:mod:`snnc.runtime.cost`), mean wall time of an epoch."""

VALUED_MEASURES = ("epochs_to", "burst_T")
"""Measures written as a one-key mapping: ``{epochs_to: 0.95}`` (the first epoch whose validation accuracy, or
training accuracy without a validation split, reaches 95 %; a list gives several thresholds) and
``{burst_T: [2, 4, 8]}`` (the ann cells converted to burst neurons, test accuracy at each ``T``)."""

DEFAULT_MEASURES = SIMPLE_MEASURES
"""What a study measures when it has no ``measure:`` list."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _named(key: str):
    """A before-validator turning the shorthand ``"x"`` into ``{key: "x"}`` (``targets: [ann]``)."""

    def expand(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    return expand


def _alternatives(value: Any) -> list[Any]:
    """A parameter's values: a list is the grid axis, anything else one value."""
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("empty_axis", "an empty list of values",
                                      {"hint": "give at least one value (a list-valued parameter is written "
                                               "[[1, 2]])"})
        return value
    return [value]


ParamValues = Annotated[Any, AfterValidator(_alternatives)]
Label = Optional[Annotated[str, Field(pattern=LABEL_PATTERN)]]


class SpecEntry(_Model):
    """One spec of the grid, with the values of its parameters to sweep.

    Attributes:
        spec: a path (relative to the study file) or the name of a bundled spec.
        label: the cells' name for it (default: the spec's ``name``).
        params: parameter → values (a list: one cell per value; a scalar: that value in every cell).
    """

    spec: str = Field(min_length=1)
    label: Label = None
    params: dict[str, ParamValues] = Field(default_factory=dict)


class TargetEntry(_Model):
    """One target of the grid (a trainable one: ``ann``, ``snn``), with its options (``snnc targets``).

    Attributes:
        name: the target's name.
        options: target options (e.g. ``timesteps``).
        label: the cells' name for it (default: the name, with the options).
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    label: Label = None


class DatasetEntry(_Model):
    """One dataset of the grid, with its reader's options.

    Attributes:
        name: the dataset's name (``snnc datasets`` lists them).
        options: the reader's options (e.g. ``colored-mnist``'s ``correlation``).
        data_dir: where its files are, relative to the study file (default: ``$SNNC_DATA_DIR``, then
            ``../shared/data``; nothing for the bundled sample).
        label: the cells' name for it (default: the name, with the options).
    """

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    data_dir: Optional[str] = None
    label: Label = None


def _seeds(value: Any) -> Any:
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


class Grid(_Model):
    """The axes of the study: every combination of them is one cell.

    Attributes:
        specs: the specs (with their parameter values).
        targets: the trained targets.
        datasets: the datasets (default: the bundled MNIST sample).
        recipes: training settings, each a mapping of :class:`~snnc.runtime.trainer.TrainConfig` fields with an
            optional ``name`` (checked by :mod:`snnc.runtime.study.checks`; default: one recipe with the spec's
            own ``training:`` recipe and snnc train's defaults).
        seeds: the seeds (the innermost axis: a table row is the mean over them).
    """

    specs: list[Annotated[SpecEntry, BeforeValidator(_named("spec"))]] = Field(min_length=1)
    targets: list[Annotated[TargetEntry, BeforeValidator(_named("name"))]] = Field(min_length=1)
    datasets: list[Annotated[DatasetEntry, BeforeValidator(_named("name"))]] = Field(
        default_factory=lambda: [DatasetEntry(name="mnist-sample")], min_length=1)
    recipes: list[dict[str, Any]] = Field(default_factory=lambda: [{}], min_length=1)
    seeds: Annotated[list[int], BeforeValidator(_seeds)] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        twice = sorted({s for s in seeds if seeds.count(s) > 1})
        if twice:
            raise PydanticCustomError("duplicate_seed", "seed {seed} is listed twice",
                                      {"seed": str(twice[0]), "hint": "list each seed once"})
        return seeds


class Measure(_Model):
    """One entry of ``measure:``.

    Attributes:
        kind: one of :data:`SIMPLE_MEASURES` or :data:`VALUED_MEASURES`.
        values: the thresholds of ``epochs_to`` (accuracies in (0, 1]) or the ``T`` values of ``burst_T``.
    """

    kind: str
    values: tuple[float, ...] = ()


def _number_list(key: str, value: Any, integer: bool) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    ok = bool(items) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                             for v in items)
    if ok and integer:
        ok = all(float(v).is_integer() and v >= 1 for v in items)
    elif ok:
        ok = all(0 < v <= 1 for v in items)
    if not ok:
        want = "time steps T, integers >= 1" if integer else "accuracies in (0, 1]"
        raise PydanticCustomError("bad_measure", "{key} takes {want}, got {value}",
                                  {"key": key, "want": want, "value": repr(value),
                                   "hint": "e.g. {burst_T: [2, 4, 8]}" if integer else "e.g. {epochs_to: 0.95}"})
    return tuple(sorted({int(v) if integer else float(v) for v in items}))


def _measure(value: Any) -> Any:
    """A ``measure:`` entry as a :class:`Measure`: a bare word, or a one-key mapping with its values."""
    if isinstance(value, Measure):
        return value
    if isinstance(value, str):
        if value in SIMPLE_MEASURES:
            return Measure(kind=value)
        known = SIMPLE_MEASURES + VALUED_MEASURES
        raise PydanticCustomError("unknown_name", "unknown measure '{name}'.{suggestion}",
                                  {"name": value, "suggestion": did_you_mean(value, known),
                                   "hint": "measures: " + ", ".join(SIMPLE_MEASURES) +
                                           ", {epochs_to: ACCURACY}, {burst_T: [T, ...]}"})
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key in VALUED_MEASURES:
            return Measure(kind=key, values=_number_list(key, inner, integer=key == "burst_T"))
        raise PydanticCustomError("unknown_name", "unknown measure '{name}'.{suggestion}",
                                  {"name": key, "suggestion": did_you_mean(key, VALUED_MEASURES + SIMPLE_MEASURES),
                                   "hint": "measures with values: {epochs_to: 0.95}, {burst_T: [2, 4, 8]}"})
    raise PydanticCustomError("bad_measure", "a measure is a name or a one-key mapping, got {value}",
                              {"value": repr(value), "hint": "e.g. accuracy, or {epochs_to: 0.95}"})


class CostOptions(_Model):
    """How ``sops`` and ``energy`` are measured (:func:`snnc.runtime.cost.report` on the test split).

    Attributes:
        batches: test batches the spikes are counted on.
        batch_size: samples per batch.
        technology: the energy table (a preset such as ``45nm-fp32``, or a YAML/JSON file relative to the study).
    """

    batches: int = Field(4, ge=1)
    batch_size: int = Field(32, ge=1)
    technology: str = "45nm-fp32"


class BurstOptions(_Model):
    """How ``burst_T`` converts an ann cell's ``best.pt`` (as ``snnc convert`` does) and scores it.

    Attributes:
        gamma: the largest burst per step (1: IF neurons).
        calibration: training samples that set the thresholds.
        percentile: the activation percentile of each threshold (default: 99 for Γ = 1, 95 for bursts).
        limit_test: score on this many test samples (default: the recipe's ``limit_test``, else all).
        batch_size: samples per batch.
    """

    gamma: int = Field(5, ge=1)
    calibration: int = Field(512, ge=1)
    percentile: Optional[float] = Field(None, gt=0, le=100)
    limit_test: Optional[int] = Field(None, ge=1)
    batch_size: int = Field(256, ge=1)


class Study(_Model):
    """A whole study file.

    Attributes:
        study: the study's name.
        description: what it compares.
        grid: the axes (:class:`Grid`).
        measure: what to measure on each cell (default :data:`DEFAULT_MEASURES`).
        cost: how costs are measured.
        burst: how ``burst_T`` converts.
    """

    study: str = Field(pattern=LABEL_PATTERN)
    description: str = ""
    grid: Grid
    measure: list[Annotated[Measure, BeforeValidator(_measure)]] = Field(
        default_factory=lambda: [Measure(kind=k) for k in DEFAULT_MEASURES])
    cost: CostOptions = Field(default_factory=CostOptions)
    burst: BurstOptions = Field(default_factory=BurstOptions)

    def wants(self, kind: str) -> bool:
        """Whether ``measure:`` lists ``kind``."""
        return any(m.kind == kind for m in self.measure)

    def values_of(self, kind: str) -> tuple[float, ...]:
        """The values of every ``kind`` entry together, sorted (``epochs_to`` thresholds, ``burst_T`` steps)."""
        return tuple(sorted({v for m in self.measure if m.kind == kind for v in m.values}))
