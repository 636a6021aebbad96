"""Declarative studies: a YAML grid over specs, targets, datasets, recipes and seeds, each cell an ordinary run
directory, and a report of what was measured (mean ± std over seeds, CSV/JSON/markdown, plots).

The pieces: :mod:`~.models` (the schema), :mod:`~.checks` (names against the registries), :mod:`~.load`
(:func:`load_study`), :mod:`~.grid` (cells and their ids), :mod:`~.runner` (:func:`run_study`, resumable),
:mod:`~.measure` (a cell's ``results.json``), :mod:`~.collect` (:func:`collect`, :func:`write_report`) and
:mod:`~.plots`. ``docs/studies.md`` describes the file and the commands.
"""

from .diagnostics import StudyError
from .load import LoadedStudy, load_study

__all__ = ["LoadedStudy", "StudyError", "load_study"]
