"""The checks of a study that need the registries: specs load, targets are trainable, datasets, recipes,
methods, losses and measures exist, options are the ones their owner takes.

Each check returns the resolved axis (what the cells are built from) and the problems it found as located
diagnostics, so that :func:`snnc.runtime.study.load.load_study` reports every problem of the file at once,
before any cell runs. What only a cell can tell (a parameter value that makes the network invalid, a dataset
whose files are missing on this machine) is left to the cell, which then fails alone.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from snnc.compiler.errors import Diagnostic, SnncError, SpecError, did_you_mean
from snnc.compiler.spec.yaml_source import SpecSource

from .diagnostics import pydantic_diagnostics
from .grid import Axis, SpecAxis, combinations, settings_label, token
from .models import LABEL_PATTERN, Study

GRID_OWNED: Mapping[str, str] = {
    "target": "grid.targets", "target_options": "the options of grid.targets", "dataset": "grid.datasets",
    "dataset_options": "the options of grid.datasets", "data_dir": "the data_dir of grid.datasets",
    "seed": "grid.seeds", "params": "the params of grid.specs"}
"""Training settings the grid sets (a recipe may not): setting → where the study sets it."""

Problems = list[Diagnostic]


def entry_path(data: Any, prefix: tuple, key: str) -> tuple:
    """The path of ``key`` in the entry at ``prefix``: the entry itself when it is written as a bare word."""
    node = data
    for part in prefix:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):  # a default the file does not write
            return prefix
    return prefix + (key,) if isinstance(node, dict) else prefix


def validate_with(model: type[BaseModel], values: Any, source: SpecSource, prefix: tuple) -> Problems:
    """The problems of ``values`` against an options model (a target's, a method's), located under ``prefix``."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        return pydantic_diagnostics(exc, values, source, model, prefix)
    return []


def _repeated(labels: list[str], source: SpecSource, where: str, what: str) -> Problems:
    problems = []
    for i, label in enumerate(labels):
        if label in labels[:i]:
            problems.append(source.diagnostic(("grid", where, i), f"{what} '{label}' is in the grid twice",
                                              "remove one, or give them different labels (label: ...)"))
    return problems


# --- specs ------------------------------------------------------------------------------------------------------

def _find_spec(text: str, folder: Path) -> Path | None:
    """A spec named in a study: a file next to the study, an absolute path, or a bundled spec's name (None:
    none of these)."""
    from snnc.compiler.spec.load import bundled_specs

    path = Path(text)
    found = path if path.is_absolute() else folder / path
    if found.is_file():
        return found
    stem = path.name.rsplit(".", 1)[0] if path.name.endswith((".yaml", ".yml")) else path.name
    return bundled_specs().get(stem) if path.name == text else None


def _one_spec(study: Study, data: Any, source: SpecSource, folder: Path, i: int) -> tuple[SpecAxis | None, Problems]:
    from snnc.compiler.spec.load import bundled_specs, load_spec

    entry = study.grid.specs[i]
    at = entry_path(data, ("grid", "specs", i), "spec")
    path = _find_spec(entry.spec, folder)
    if path is None:
        stem = Path(entry.spec).name.rsplit(".", 1)[0]
        where = folder.resolve()
        return None, [source.diagnostic(at, f"no spec '{entry.spec}': no such file in the study's folder ({where}) "
                                            f"and no bundled spec of that name.{did_you_mean(stem, bundled_specs())}",
                                        "give a path relative to the study file, or a bundled spec's name "
                                        "(snnc zoo lists them)")]
    try:
        loaded = load_spec(path)
    except SpecError as exc:
        n = len(exc.diagnostics)
        head = source.diagnostic(at, f"the spec '{entry.spec}' is invalid: {n} problem{'s' if n != 1 else ''}, "
                                     "listed after this one", "fix the spec (snnc validate SPEC shows the same)")
        return None, [head, *exc.diagnostics]
    problems = []
    declared = loaded.params
    for name in entry.params:
        if name not in declared:
            problems.append(source.diagnostic(
                ("grid", "specs", i, "params", name), f"spec '{loaded.spec.name}' has no parameter '{name}'."
                f"{did_you_mean(name, declared)}", "its parameters: " + (", ".join(declared) or "none"), key=True))
    sha = hashlib.sha256(loaded.document_text.encode("utf-8")).hexdigest()
    return SpecAxis(entry.spec, str(path), sha, entry.label or token(loaded.spec.name), dict(entry.params)), problems


def check_specs(study: Study, data: Any, source: SpecSource, folder: Path) -> tuple[list[SpecAxis], Problems]:
    """Find and load every spec of the grid; check the parameters it sweeps are the spec's.

    Returns:
        The specs resolved (those that load) and the problems.
    """
    axes, problems = [], []
    rows: list[set[str]] = []
    for i in range(len(study.grid.specs)):
        axis, found = _one_spec(study, data, source, folder, i)
        problems += found
        if axis is None:
            continue
        row = {settings_label(axis.label, c) for c in combinations(axis.params)}
        if any(row & earlier for earlier in rows):
            problems.append(source.diagnostic(("grid", "specs", i), f"spec '{axis.label}' with these parameter "
                                              "values is in the grid twice", "remove one, or give it another "
                                              "label (label: ...)"))
        rows.append(row)
        axes.append(axis)
    return axes, problems


# --- targets and datasets ---------------------------------------------------------------------------------------

def check_targets(study: Study, data: Any, source: SpecSource) -> tuple[list[Axis], Problems]:
    """Every target exists, is trained directly and takes the options given."""
    from snnc.compiler.targets.registry import TARGETS, get_target

    axes, problems = [], []
    for i, entry in enumerate(study.grid.targets):
        at = entry_path(data, ("grid", "targets", i), "name")
        if entry.name not in TARGETS:
            problems.append(source.diagnostic(at, f"unknown target '{entry.name}'.{did_you_mean(entry.name, TARGETS)}",
                                              "targets: " + ", ".join(TARGETS)))
            continue
        try:
            target = get_target(entry.name)
        except SnncError as exc:  # an optional dependency is missing
            problems.append(source.diagnostic(at, str(exc)))
            continue
        if not target.trainable:
            fix = ("train an ann cell and measure {burst_T: [...]} to convert it" if target.needs_trained_ann
                   else "use a trainable target")
            problems.append(source.diagnostic(at, f"the {target.name} target is not trained directly (a study "
                                                  "trains every cell)", fix))
            continue
        problems += validate_with(target.Options, entry.options, source, ("grid", "targets", i, "options"))
        axes.append(Axis(entry.name, dict(entry.options), entry.label or settings_label(entry.name, entry.options)))
    return axes, problems + _repeated([a.label for a in axes], source, "targets", "target")


def check_datasets(study: Study, data: Any, source: SpecSource, folder: Path) -> tuple[list[Axis], Problems]:
    """Every dataset exists and takes the options given (whether its files are here is the cell's question)."""
    from snnc.compiler.errors import DataError
    from snnc.runtime.data.registry import INFOS, canonical_name, dataset_options

    axes, problems = [], []
    for i, entry in enumerate(study.grid.datasets):
        at = entry_path(data, ("grid", "datasets", i), "name")
        try:
            key = canonical_name(entry.name)
        except DataError:
            problems.append(source.diagnostic(at, f"unknown dataset '{entry.name}'.{did_you_mean(entry.name, INFOS)}",
                                              "datasets: " + ", ".join(INFOS)))
            continue
        allowed = dataset_options(key)
        unknown = [option for option in entry.options if option not in allowed]
        for option in unknown:
            problems.append(source.diagnostic(
                ("grid", "datasets", i, "options", option), f"dataset '{key}' has no option '{option}'."
                f"{did_you_mean(option, allowed)}", "its options: " + (", ".join(allowed) or "none"), key=True))
        if not unknown:
            problems += _option_values(key, entry.options, source, ("grid", "datasets", i, "options"))
        data_dir = None
        if entry.data_dir is not None:
            data_dir = str(Path(entry.data_dir) if Path(entry.data_dir).is_absolute() else folder / entry.data_dir)
        axes.append(Axis(key, dict(entry.options), entry.label or settings_label(key, entry.options), data_dir))
    return axes, problems + _repeated([a.label for a in axes], source, "datasets", "dataset")


def _option_values(key: str, options: dict, source: SpecSource, at: tuple) -> Problems:
    """The values of a dataset's options, checked by its registered options model before any cell runs (a
    ``correlation`` of 2 would otherwise fail every cell of the dataset, one by one)."""
    from snnc.compiler.targets.base import OptionsError
    from snnc.runtime.data.registry import DATASETS

    try:
        DATASETS.get(key).options(options)
    except OptionsError as exc:
        bad = next((name for name in options if f"'{name}'" in str(exc)), None)
        return [source.diagnostic((*at, bad) if bad else at, str(exc), "give a value the option takes")]
    return []


# --- recipes ----------------------------------------------------------------------------------------------------

def _recipe_name(raw: dict, i: int, several: bool, source: SpecSource) -> tuple[str | None, Problems]:
    name = raw.get("name")
    if name is None:
        if several:
            return None, [source.diagnostic(("grid", "recipes", i), "this recipe has no name, and the grid has "
                                            "several", "add 'name: ...' (it names the cells' directories)")]
        return "default", []
    if not isinstance(name, str) or not re.match(LABEL_PATTERN, name):
        return None, [source.diagnostic(("grid", "recipes", i, "name"), f"'{name}' is not a valid recipe name",
                                        "names are letters, digits and '_ . = + -'")]
    return name, []


def _recipe_settings(raw: dict, i: int, source: SpecSource) -> tuple[dict[str, Any], Problems]:
    from snnc.runtime.losses import LOSSES
    from snnc.runtime.methods import METHODS
    from snnc.runtime.strategies import STRATEGIES
    from snnc.runtime.trainer import TrainConfig

    prefix = ("grid", "recipes", i)
    fields = [k for k in TrainConfig.model_fields if k not in GRID_OWNED]
    problems, settings = [], {}
    for key, value in raw.items():
        if key == "name":
            continue
        if key in GRID_OWNED:
            problems.append(source.diagnostic(prefix + (key,), f"'{key}' is set by {GRID_OWNED[key]}, not by a "
                                              "recipe", "move it to the grid", key=True))
        elif key not in TrainConfig.model_fields:
            problems.append(source.diagnostic(prefix + (key,), f"unknown recipe setting '{key}'."
                                              f"{did_you_mean(key, fields)}", "settings: name, " + ", ".join(fields),
                                              key=True))
        else:
            settings[key] = value
    problems += validate_with(TrainConfig, settings, source, prefix)
    for key, registry in (("method", METHODS), ("strategy", STRATEGIES), ("loss", LOSSES)):
        value = settings.get(key)
        if isinstance(value, str) and value not in registry:
            what, plural = (registry.what, f"{key}s") if key != "loss" else ("loss", "losses")
            problems.append(source.diagnostic(prefix + (key,), f"unknown {what} '{value}'."
                                              f"{did_you_mean(value, registry)}", f"{plural}: " + ", ".join(registry)))
    method = settings.get("method", "erm")
    if isinstance(method, str) and method in METHODS:
        problems += validate_with(METHODS.get(method).Options, settings.get("method_options") or {}, source,
                                  prefix + ("method_options",))
    return settings, problems


def check_recipes(study: Study, source: SpecSource) -> tuple[dict[str, dict[str, Any]], Problems]:
    """Every recipe holds training settings the trainer takes (not the grid's own), with a unique name.

    Returns:
        Recipe name → its settings as written (the spec's own ``training:`` recipe and the trainer's defaults
        fill in the rest when a cell trains, as ``snnc train`` does), and the problems.
    """
    recipes: dict[str, dict[str, Any]] = {}
    problems: Problems = []
    several = len(study.grid.recipes) > 1
    for i, raw in enumerate(study.grid.recipes):
        name, found = _recipe_name(raw, i, several, source)
        settings, more = _recipe_settings(raw, i, source)
        problems += found + more
        if name in recipes:
            problems.append(source.diagnostic(("grid", "recipes", i, "name"), f"recipe '{name}' is in the grid twice",
                                              "give each recipe its own name"))
        elif name is not None:
            recipes[name] = settings
    return recipes, problems


# --- measures ---------------------------------------------------------------------------------------------------

def check_measures(study: Study, source: SpecSource, folder: Path, targets: list[Axis]) -> tuple[str, Problems]:
    """``burst_T`` has ann cells to convert; the energy technology exists.

    Returns:
        The technology (a preset name, or the path of its file) and the problems.
    """
    from snnc.compiler.targets.registry import get_target
    from snnc.runtime.cost import TECHNOLOGIES, load_technology

    problems = []
    for i, measure in enumerate(study.measure):
        if measure.kind == "burst_T" and not any(get_target(t.name).ann_weights for t in targets):
            problems.append(source.diagnostic(("measure", i), "burst_T converts the cells of a trained ANN, and "
                                              "the grid trains none", "add ann to grid.targets"))
    technology = study.cost.technology
    if technology not in TECHNOLOGIES:
        path = Path(technology)
        technology = str(path if path.is_absolute() else folder / path)
        at = ("cost", "technology")
        if not Path(technology).is_file():
            close = did_you_mean(study.cost.technology, TECHNOLOGIES)
            problems.append(source.diagnostic(at, f"unknown technology '{study.cost.technology}': not a preset "
                                                  f"and no such file.{close}",
                                              "presets: " + ", ".join(TECHNOLOGIES) + "; or a YAML/JSON file "
                                              "(relative to the study) with name, e_mac_pj, e_ac_pj, reference"))
        else:
            try:
                load_technology(technology)
            except SnncError as exc:
                problems.append(source.diagnostic(at, str(exc)))
    return technology, problems
