"""The run directory of a training run: what it holds, and writing each file atomically.

Layout::

    runs/<spec-name>-<target>-<YYYYmmdd-HHMMSS>/
        spec.yaml        the spec text the model was compiled from (with config.json's params it rebuilds it)
        config.json      every training setting (resume checks them)
        metrics.json     one record per finished epoch, plus the test evaluation once training ends
        metrics.csv      the per-epoch records as a table (without the per-batch losses)
        batches.csv      the training loss of every batch: iteration, epoch, batch, loss
        last.pt          checkpoint after the last finished epoch (artifact + optimizer/scheduler/RNG state)
        best.pt          checkpoint of the epoch with the best validation accuracy
        test.json        the final test evaluation (evaluate's JSON)
        plots/           curves.png, loss_per_iteration.png, method_metrics.png (methods that log more than
                         loss and accuracy), spike_raster.png, firing_rates.png

Why atomic: a run interrupted at any moment (Ctrl-C, a killed job) leaves every file either as it was or as
it was meant to be, never half written, so ``--resume`` always finds a consistent checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from snnc.compiler.artifact import atomic_write_bytes

DEFAULT_ROOT = Path("runs")
"""Where run directories go when none is named."""


def default_run_dir(spec_name: str, target: str, root: str | Path = DEFAULT_ROOT, now: float | None = None) -> Path:
    """A fresh run directory name: ``<root>/<spec-name>-<target>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... if taken).

    Args:
        spec_name: the spec's ``name``.
        target: the compile target.
        root: the folder holding runs.
        now: a Unix time (default: now).

    Returns:
        A path that does not exist yet.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec_name) or "model"
    base = Path(root) / f"{safe}-{target}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, paths strings, tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def dumps_json(data: Any) -> str:
    """Pretty JSON text (non-finite floats written as null), ending with a newline."""
    return json.dumps(_plain(data), indent=2, allow_nan=False) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON, atomically."""
    atomic_write_bytes(path, dumps_json(data).encode("utf-8"))


def write_text(path: str | Path, text: str) -> None:
    """Write text (UTF-8), atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"val": {"acc": 1}}`` → ``{"val_acc": 1}`` (for CSV columns)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_record(value, f"{name}_"))
        else:
            out[name] = value
    return out


def records_csv(records: Sequence[dict[str, Any]]) -> str:
    """The records as CSV text; columns are the union of the flattened keys, in first-seen order."""
    rows = [flatten_record(r) for r in records]
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


@dataclass(frozen=True)
class RunDir:
    """The files of one run directory (see the module docstring for the layout).

    Attributes:
        path: the directory.
    """

    path: Path

    @property
    def spec(self) -> Path:
        """``spec.yaml``."""
        return self.path / "spec.yaml"

    @property
    def config(self) -> Path:
        """``config.json``."""
        return self.path / "config.json"

    @property
    def metrics_json(self) -> Path:
        """``metrics.json``."""
        return self.path / "metrics.json"

    @property
    def metrics_csv(self) -> Path:
        """``metrics.csv``."""
        return self.path / "metrics.csv"

    @property
    def batches_csv(self) -> Path:
        """``batches.csv``."""
        return self.path / "batches.csv"

    @property
    def last(self) -> Path:
        """``last.pt``."""
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        """``best.pt``."""
        return self.path / "best.pt"

    @property
    def test(self) -> Path:
        """``test.json``."""
        return self.path / "test.json"

    @property
    def plots(self) -> Path:
        """The ``plots`` folder."""
        return self.path / "plots"

    def create(self) -> None:
        """Make the directory (and its parents)."""
        self.path.mkdir(parents=True, exist_ok=True)

    def read_config(self) -> dict[str, Any]:
        """The run's ``config.json`` (empty when absent)."""
        if not self.config.is_file():
            return {}
        return json.loads(self.config.read_text(encoding="utf-8"))

    def write_metrics(self, epochs: Sequence[dict[str, Any]], test: dict[str, Any] | None = None) -> None:
        """Write ``metrics.json`` (``{"epochs": [...], "test": ...}``), ``metrics.csv`` and ``batches.csv``, each
        atomically. An epoch record's ``batch_losses`` (one loss per batch) goes to ``batches.csv``, not to
        ``metrics.csv``'s columns."""
        write_json(self.metrics_json, {"epochs": list(epochs), "test": test})
        write_text(self.metrics_csv, records_csv([{k: v for k, v in r.items() if k != BATCH_LOSSES}
                                                  for r in epochs]))
        write_text(self.batches_csv, batch_csv_text(epochs))


BATCH_LOSSES = "batch_losses"
"""The key of an epoch record's list of per-batch training losses."""


def batch_rows(epochs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per logged batch: ``iteration`` (1-based over the run), ``epoch``, ``batch`` (1-based in its epoch)
    and ``loss`` (None where a batch was not logged)."""
    rows: list[dict[str, Any]] = []
    for record in epochs:
        for index, loss in enumerate(record.get(BATCH_LOSSES) or [], start=1):
            rows.append({"iteration": len(rows) + 1, "epoch": record["epoch"], "batch": index, "loss": loss})
    return rows


def batch_csv_text(epochs: Sequence[dict[str, Any]]) -> str:
    """:func:`batch_rows` as CSV text (the header ``iteration,epoch,batch,loss`` also when there are none)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["iteration", "epoch", "batch", "loss"], lineterminator="\n")
    writer.writeheader()
    for row in batch_rows(epochs):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()
