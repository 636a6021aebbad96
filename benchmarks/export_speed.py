"""Inference speed of the ONNX exports in onnxruntime against PyTorch eager, for ``specs/mnist_conv.yaml``.

In one run, on the same weights and two threads for both runtimes, it times

* ``ann``: one forward pass;
* ``snn unrolled``: a whole ``T``-step inference (PyTorch: the snn target's ``forward``, time folded into the
  batch; onnxruntime: the unrolled file, which keeps that folding);
* ``snn step``: ``T`` calls of one step with explicit state (PyTorch: ``SpikingModule.step``; onnxruntime:
  the step file, fed its own outputs);

at batch 1 (latency) and batch 128 (throughput), with repetitions interleaved across the runtimes, and prints
medians, samples per second and the ratio (PyTorch time / onnxruntime time: above 1, onnxruntime is faster).
Before timing, it checks that both runtimes give identical spikes.

Usage::

    python benchmarks/export_speed.py                 # about a minute on two cores
    python benchmarks/export_speed.py --quick         # fewer repetitions
    python benchmarks/export_speed.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import snnc  # noqa: E402
from snnc.compiler.export import export  # noqa: E402
from snnc.compiler.export.onnx import run_step_session  # noqa: E402


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of each runtime (default 1: on a shared, busy machine two OpenMP "
                             "threads of eager PyTorch spin and distort the figures)")
    parser.add_argument("--timesteps", type=int, default=25)
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = ROOT / "specs" / "mnist_conv.yaml"
    ann = snnc.compile(spec, "ann").eval()
    snn = snnc.compile(spec, "snn", timesteps=args.timesteps)
    snn.load_state_dict(ann.state_dict(), strict=False)
    with torch.no_grad():  # weights that fire, so that the spikes compared below are not all zero
        for name, p in snn.named_parameters():
            if name.endswith("weight"):
                p.mul_(4.0)
    snn.eval()
    T = args.timesteps
    folder = Path(tempfile.mkdtemp(prefix="snnc-export-speed-"))
    export(ann, folder / "ann.onnx")
    export(snn, folder / "unrolled.onnx")
    export(snn, folder / "step.onnx", form="step")
    sessions = {name: _session(folder / f"{name}.onnx", args.threads) for name in ("ann", "unrolled", "step")}

    images = torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    # identical spikes before timing
    with torch.no_grad():
        spk, _ = snn(images[:16])
    onnx_spk = sessions["unrolled"].run(None, {"x": images[:16].numpy()})[1]
    assert np.array_equal(onnx_spk, spk.numpy()), "unrolled spikes differ"

    def torch_step(x):
        state = snn.init_state(x.shape[0])
        for _ in range(T):
            _, state = snn.step(x, state)

    def onnx_step(x):
        init = {k: v.numpy() for k, v in snn.init_state(x.shape[0]).items()}
        run_step_session(sessions["step"], x.numpy(), init, T)

    cases = {
        "ann": (lambda x: ann(x), lambda x: sessions["ann"].run(None, {"x": x.numpy()})),
        "snn unrolled": (lambda x: snn(x), lambda x: sessions["unrolled"].run(None, {"x": x.numpy()})),
        "snn step": (torch_step, onnx_step),
    }
    reps = {1: 10 if args.quick else 40, 128: 3 if args.quick else 9}
    rows = []
    with torch.no_grad():
        for batch, n in reps.items():
            x = images[:batch].contiguous()
            for case, (pt, ox) in cases.items():
                pt(x), ox(x)  # warm-up
                times = {"pytorch": [], "onnxruntime": []}
                for _ in range(n):
                    times["pytorch"].append(_time(lambda: pt(x)))
                    times["onnxruntime"].append(_time(lambda: ox(x)))
                med = {k: statistics.median(v) for k, v in times.items()}
                rows.append({"case": case, "batch": batch, "pytorch_ms": 1e3 * med["pytorch"],
                             "onnxruntime_ms": 1e3 * med["onnxruntime"], "ratio": med["pytorch"] / med["onnxruntime"],
                             "pytorch_samples_per_s": batch / med["pytorch"],
                             "onnxruntime_samples_per_s": batch / med["onnxruntime"], "repetitions": n})
    print(f"mnist_conv, T = {T}, {args.threads} threads, medians (ratio = PyTorch / onnxruntime; > 1: onnxruntime "
          "faster)")
    print(f"{'case':14} {'batch':>5} {'PyTorch ms':>11} {'ORT ms':>9} {'PyTorch /s':>11} {'ORT /s':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['case']:14} {r['batch']:>5} {r['pytorch_ms']:>11.2f} {r['onnxruntime_ms']:>9.2f} "
              f"{r['pytorch_samples_per_s']:>11.0f} {r['onnxruntime_samples_per_s']:>9.0f} {r['ratio']:>6.2f}")
    for r in rows:
        faster = "onnxruntime" if r["ratio"] > 1 else "PyTorch"
        print(f"- {r['case']}, batch {r['batch']}: {faster} is faster ({max(r['ratio'], 1 / r['ratio']):.2f}x)")
    print("Why: at batch 1 the cost is per-call overhead (Python dispatch of every op in eager PyTorch, one "
          "session call in onnxruntime); at batch 128 both run the same oneDNN/MLAS-class kernels and the "
          "snn's time-folded convolutions dominate. The step form pays one call (and state copies) per step.")
    result = {"spec": "mnist_conv", "timesteps": T, "threads": args.threads, "rows": rows}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
