"""What exports for each bundled spec and target: the table of ``docs/export.md``.

For every spec in ``specs/`` it tries, with fresh weights: ONNX of the ann, of the snn (unrolled and step) and
of the burst network (converted on random calibration images), each checked in onnxruntime against PyTorch
(``check=True``: spikes identical, scores close); NIR of the snn; Python source of the ann and the snn
(imported and compared). Cells read ``ok``, or the first words of the error. Big specs (224×224 inputs) run
with ``T = 1`` and one sample to keep the run short.

Usage::

    python benchmarks/export_matrix.py [--specs mnist_fc mnist_conv] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import snnc  # noqa: E402
from snnc.compiler.errors import SnncError  # noqa: E402
from snnc.compiler.export import export  # noqa: E402

COLUMNS = ["ann onnx", "snn onnx unrolled", "snn onnx step", "burst onnx unrolled", "burst onnx step", "snn nir",
           "ann python", "snn python"]


def _cell(fn) -> str:
    start = time.perf_counter()
    try:
        fn()
    except SnncError as error:
        blockers = getattr(error, "blockers", ())
        if blockers:  # every blocking node: count them, name the causes
            nodes, ops = len({b.node for b in blockers}), dict.fromkeys(b.op for b in blockers)
            return f"no: {nodes} nodes ({', '.join(ops)})"
        return "no: " + str(error).split(";")[0].split(": ", 1)[-1][:90]
    except Exception as error:  # noqa: BLE001 - report, do not stop the table
        return f"error: {type(error).__name__}: {str(error)[:80]}"
    return f"ok ({time.perf_counter() - start:.0f} s)"


def run(spec: str, folder: Path) -> dict[str, str]:
    path = ROOT / "specs" / f"{spec}.yaml"
    ann = snnc.compile(path, "ann").eval()
    shape = tuple(ann.meta["snnc_graph"].input.shape)
    big = shape[-1] > 64
    steps, batch = (1, 1) if big else (2, 2)
    x = torch.rand((batch, *shape), generator=torch.Generator().manual_seed(0))
    snn = snnc.compile(path, "snn", timesteps=steps).eval()
    cells: dict[str, str] = {}
    cells["ann onnx"] = _cell(lambda: export(ann, folder / "a.onnx", check=True, check_inputs=x, example=x))
    cells["snn onnx unrolled"] = _cell(lambda: export(snn, folder / "s.onnx", check=True, check_inputs=x, example=x))
    cells["snn onnx step"] = _cell(lambda: export(snn, folder / "s1.onnx", form="step", check=True, check_inputs=x,
                                                  example=x))
    burst = []
    cells["burst onnx unrolled"] = _cell(lambda: (burst.append(snnc.convert(ann, x, timesteps=steps)),
                                                  export(burst[0], folder / "b.onnx", check=True, check_inputs=x,
                                                         example=x)))
    cells["burst onnx step"] = _cell(lambda: export(burst[0], folder / "b1.onnx", form="step", check=True,
                                                    check_inputs=x, example=x)) if burst else "—"
    cells["snn nir"] = _cell(lambda: export(snn, folder / "s.nir", format="nir"))
    cells["ann python"] = _cell(lambda: export(ann, folder / "a.py", format="python", check=True, check_inputs=x))
    cells["snn python"] = _cell(lambda: export(snn, folder / "s.py", format="python", check=True, check_inputs=x))
    return cells


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    specs = args.specs or sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    table: dict[str, dict[str, str]] = {}
    folder = Path(tempfile.mkdtemp(prefix="snnc-export-matrix-"))
    for spec in specs:
        table[spec] = run(spec, folder)
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
