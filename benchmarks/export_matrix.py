"""What exports for each bundled spec and target: the table of ``docs/export.md``.

For every spec in ``specs/`` it tries, with fresh weights: ONNX of the ann, of the snn (unrolled and step) and
of the burst network (converted on random calibration images), each checked in onnxruntime against PyTorch
(``check=True``: spikes identical, scores close); NIR of the snn, run in every installed foreign importer
(snnTorch, Norse, Sinabs: ``benchmarks/nir_foreign.py``) and compared spike for spike; Python source of the
ann and the snn (imported and compared). Cells read ``ok``, or the first words of the error. Big specs (224×224 inputs) run
with ``T = 1`` and one sample to keep the run short.

Usage::

    python benchmarks/export_matrix.py [--specs mnist_fc mnist_conv] [--nir-variants] [--columns "snn nir"]
                                       [--json out.json]

``--columns`` runs only those columns (the others read "not run"): ``--columns "snn nir" --nir-variants`` is
the NIR column alone, a few minutes.

``--nir-variants`` adds the networks of ``nir_foreign.NETWORKS``: bundled chains changed as far as NIR needs
(zero reset, average pooling) and VGG-16, ResNet-18 and SEW-ResNet-34 with their export switches
(``--param reset=zero``, ``--param pool=avg``: residual adds as edges, batch-norm folded, sum pooling). Their
NIR cell compares every neuron layer's spikes in each importer (``nir_foreign.check``), as imported and, where
that differs, mapped.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nir_foreign  # noqa: E402 - beside this file
import snnc  # noqa: E402
from snnc.compiler.errors import SnncError  # noqa: E402
from snnc.compiler.export import export  # noqa: E402

COLUMNS = ["ann onnx", "snn onnx unrolled", "snn onnx step", "burst onnx unrolled", "burst onnx step", "snn nir",
           "ann python", "snn python"]


def _cell(fn) -> str:
    start = time.perf_counter()
    try:
        detail = fn()
    except SnncError as error:
        blockers = getattr(error, "blockers", ())
        if blockers:  # every blocking node: count them, name the causes
            nodes, ops = len({b.node for b in blockers}), dict.fromkeys(b.op for b in blockers)
            return f"no: {nodes} nodes ({', '.join(ops)})"
        return "no: " + str(error).split(";")[0].split(": ", 1)[-1][:90]
    except Exception as error:  # noqa: BLE001 - report, do not stop the table
        return f"error: {type(error).__name__}: {str(error)[:80]}"
    detail = f"{detail}, " if isinstance(detail, str) else ""
    return f"ok ({detail}{time.perf_counter() - start:.0f} s)"


def _nir_foreign(snn, x: torch.Tensor, steps: int, folder: Path) -> str:
    """Export NIR, then each installed importer's output spikes against snnc's (a copy of the network with its
    weights times ``nir_foreign.GAIN``: fresh weights hardly fire): ``snnTorch identical; Norse differs (mapped
    identical); 40 spikes``, or "no importer installed"."""
    import copy

    export(snn, folder / "s.nir", format="nir")  # the blockers, if any, before any importer
    snn = copy.deepcopy(snn)
    with torch.no_grad():
        for name, p in snn.named_parameters():
            if name.endswith("weight"):
                p.mul_(nir_foreign.GAIN)
    found, spikes = [], 0.0
    for importer, (package, _) in nir_foreign.IMPORTERS.items():
        if nir_foreign.version(package) is None:
            continue
        plain = nir_foreign.check("", importer, x, steps, folder, model=snn)
        spikes = plain["spikes"]
        text = "identical" if plain["identical"] else "fails" if plain.get("mismatches") is None else "differs"
        if not plain["identical"]:
            mapped = nir_foreign.check("", importer, x, steps, folder, mapped=True, model=snn)
            text += f" (mapped {'identical' if mapped['identical'] else 'differs'})"
        found.append(f"{importer.split()[0]} {text}")
    return "; ".join(found) + f"; {spikes:.0f} spikes" if found else "no importer installed"


def run(spec: str, folder: Path, columns: Optional[list[str]] = None) -> dict[str, str]:
    """One row: every column of :data:`COLUMNS` (or only ``columns``; the others read "not run")."""
    path = nir_foreign.NETWORKS[spec]() if spec in nir_foreign.NETWORKS else ROOT / "specs" / f"{spec}.yaml"
    if columns is not None:
        unknown = sorted(set(columns) - set(COLUMNS))
        if unknown:
            raise SystemExit(f"unknown column(s) {unknown}: choose from {COLUMNS}")
    ann = snnc.compile(path, "ann").eval()
    shape = tuple(ann.meta["snnc_graph"].input.shape)
    big = shape[-1] > 64
    steps, batch = (1, 1) if big else (2, 2)
    x = torch.rand((batch, *shape), generator=torch.Generator().manual_seed(0))
    snn = snnc.compile(path, "snn", timesteps=steps).eval()
    burst: list = []
    makers: dict[str, Callable[[], Any]] = {
        "ann onnx": lambda: export(ann, folder / "a.onnx", check=True, check_inputs=x, example=x),
        "snn onnx unrolled": lambda: export(snn, folder / "s.onnx", check=True, check_inputs=x, example=x),
        "snn onnx step": lambda: export(snn, folder / "s1.onnx", form="step", check=True, check_inputs=x,
                                        example=x),
        "burst onnx unrolled": lambda: (burst.append(snnc.convert(ann, x, timesteps=steps)),
                                        export(burst[0], folder / "b.onnx", check=True, check_inputs=x, example=x)),
        "burst onnx step": lambda: export(burst[0], folder / "b1.onnx", form="step", check=True, check_inputs=x,
                                          example=x),
        # real images (the MNIST sample, or CIFAR-10 for 3×32×32) where the input is small enough
        "snn nir": lambda: _nir_foreign(snn, nir_foreign.images(2, shape) if not big else x, steps, folder),
        "ann python": lambda: export(ann, folder / "a.py", format="python", check=True, check_inputs=x),
        "snn python": lambda: export(snn, folder / "s.py", format="python", check=True, check_inputs=x),
    }
    cells: dict[str, str] = {}
    for column, make in makers.items():
        if columns is not None and column not in columns:
            cells[column] = "not run"
        elif column == "burst onnx step" and not burst:
            cells[column] = "—"
        else:
            cells[column] = _cell(make)
    return cells


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", default=None)
    parser.add_argument("--nir-variants", action="store_true", help="add nir_foreign's NIR-expressible networks")
    parser.add_argument("--columns", nargs="*", default=None, help=f"only these of {COLUMNS}")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    specs = args.specs or sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    specs += list(nir_foreign.NETWORKS) if args.nir_variants else []
    table: dict[str, dict[str, str]] = {}
    folder = Path(tempfile.mkdtemp(prefix="snnc-export-matrix-"))
    for spec in specs:
        table[spec] = run(spec, folder, args.columns)
        print(spec, json.dumps(table[spec]), flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps(table, indent=2))
    print("| spec | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (len(COLUMNS) + 1) + "|")
    for spec, cells in table.items():
        print(f"| `{spec}` | " + " | ".join(cells.get(c, "—") for c in COLUMNS) + " |")
    return table


if __name__ == "__main__":
    main()
