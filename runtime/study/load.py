"""Loading a study file: safe YAML → the schema (:mod:`~snnc.runtime.study.models`) → the registry checks
(:mod:`~snnc.runtime.study.checks`) → the cells (:mod:`~snnc.runtime.study.grid`), every problem located.

Paths in a study file (specs, ``data_dir``, a technology file) are relative to the file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from snnc.compiler.errors import Diagnostic, SnncError, SpecError, did_you_mean
from snnc.compiler.spec.yaml_source import SpecSource, parse_yaml, read_spec_text

from . import checks
from .diagnostics import StudyError, pydantic_diagnostics
from .grid import Cell, expand
from .models import Study


@dataclass
class LoadedStudy:
    """A validated study with its cells.

    Attributes:
        study: the validated model.
        source: the file's text, name and positions.
        path: the study file.
        cells: every cell, in grid order.
        technology: the energy technology (a preset name or the resolved path of its file).
    """

    study: Study
    source: SpecSource
    path: Path
    cells: list[Cell] = field(default_factory=list)
    technology: str = "45nm-fp32"

    @property
    def name(self) -> str:
        """The study's name."""
        return self.study.study

    def select(self, ids: list[str] | None) -> list[Cell]:
        """The cells with these ids (all cells for None or an empty list), in grid order.

        Raises:
            SnncError: an id that is not a cell of the study (with did-you-mean).
        """
        if not ids:
            return list(self.cells)
        known = {c.id for c in self.cells}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise SnncError(f"no cell '{unknown[0]}' in the study {self.name}.{did_you_mean(unknown[0], known)} "
                            f"'snnc study plan {self.path}' lists its {len(known)} cells")
        return [c for c in self.cells if c.id in ids]


def _read(path: Path) -> tuple[SpecSource, Any]:
    if not path.is_file():
        raise StudyError([Diagnostic(f"no study file at '{path}'", hint="check the path (e.g. studies/quick.yaml)",
                                     file=str(path))])
    try:
        source = read_spec_text(path)
        return source, parse_yaml(source)
    except StudyError:
        raise
    except SpecError as exc:  # YAML syntax, unsafe tags, size: located the same way, said of the study
        raise StudyError(exc.diagnostics) from None


def load_study(path: str | Path) -> LoadedStudy:
    """Read and check a study file, and expand its grid.

    Args:
        path: the study file (YAML).

    Returns:
        The :class:`LoadedStudy`.

    Raises:
        StudyError: every problem of the file (and of the specs it names), located.
    """
    path = Path(path)
    source, data = _read(path)
    if not isinstance(data, dict):
        raise StudyError([source.diagnostic((), f"a study is a mapping of keys (study, grid, measure, ...), not a "
                                                f"{type(data).__name__}", "start the file with 'study: NAME'")])
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        raise StudyError(pydantic_diagnostics(exc, data, source, Study)) from None
    folder = path.parent
    specs, problems = checks.check_specs(study, data, source, folder)
    targets, found = checks.check_targets(study, data, source)
    problems += found
    datasets, found = checks.check_datasets(study, data, source, folder)
    problems += found
    recipes, found = checks.check_recipes(study, source)
    problems += found
    technology, found = checks.check_measures(study, source, folder, targets)
    problems += found
    if problems:
        raise StudyError(problems)
    cells = expand(specs, targets, datasets, recipes, list(study.grid.seeds))
    return LoadedStudy(study=study, source=source, path=path, cells=cells, technology=technology)
