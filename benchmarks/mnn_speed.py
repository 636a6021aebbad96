"""Speed of mnn inference: the float ANN, MemTorch used as its tutorial does, and snnc's fast engine, in one run.

    PYTHONPATH=. python benchmarks/mnn_speed.py                      # mnist_conv, batch 256, 2 threads
    PYTHONPATH=. python benchmarks/mnn_speed.py --checkpoint ann.pt --reps 5 --tutorial-reps 1 --json out.json

The tutorial path is MemTorch's tutorial settings on every conv and linear layer: ``patch_model`` with VTEAM
devices (``time_series_resolution=1e-10``), 1T1R, 128×128 tiles, inputs up to 0.3 V, an 8-bit linear ADC with
overflow rate 0, then ``tune_()``. snnc builds the same network with :func:`build_mnn` (same settings, same seed,
so both tune on the same random inputs) and runs it on the fast engine. Prints medians, ratios and how far the
two memristive networks' outputs are apart.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings

import torch


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="specs/mnist_conv.yaml")
    ap.add_argument("--checkpoint", default=None, help="trained ann state_dict (random weights otherwise)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the float and snnc runs")
    ap.add_argument("--tutorial-reps", type=int, default=1, help="repetitions of MemTorch's own forward (~20 s each)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    import memtorch
    from memtorch.map.Input import naive_scale
    from memtorch.map.Parameter import naive_map
    from memtorch.mn.Module import patch_model

    import snnc
    from snnc.compiler.targets.mnn.build import build_mnn, seeded

    ann = snnc.compile(args.spec, target="ann").eval()
    if args.checkpoint:
        ann.load_state_dict(torch.load(args.checkpoint, weights_only=True), strict=False)
    shape = ann.meta["snnc_graph"].input.shape if "snnc_graph" in ann.meta else (1, 28, 28)
    x = torch.rand((args.batch, *shape), generator=torch.Generator().manual_seed(0))
    out: dict = {"spec": args.spec, "batch": args.batch, "threads": args.threads}

    with torch.no_grad():
        ann(x)
        out["float_s"] = _median_time(lambda: ann(x), args.reps)

        # MemTorch as its tutorial uses it (every Conv2d and Linear), seeded like snnc's build
        with seeded(0), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            tutorial = patch_model(copy.deepcopy(ann), memristor_model=memtorch.bh.memristor.VTEAM,
                                   memristor_model_params={"time_series_resolution": 1e-10},
                                   module_parameters_to_patch=[torch.nn.Conv2d, torch.nn.Linear],
                                   mapping_routine=naive_map, transistor=True, programming_routine=None,
                                   tile_shape=(128, 128), max_input_voltage=0.3, scaling_routine=naive_scale,
                                   ADC_resolution=8, ADC_overflow_rate=0.0, quant_method="linear", verbose=False)
            out["tutorial_patch_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            tutorial.tune_()
            out["tutorial_tune_s"] = time.perf_counter() - t0
        ref = tutorial(x)
        out["tutorial_s"] = _median_time(lambda: tutorial(x), args.tutorial_reps)

        t0 = time.perf_counter()
        built = build_mnn(ann, {"device": "VTEAM", "tile_shape": [128, 128], "max_input_voltage": 0.3, "adc_bits": 8,
                                "seed": 0})
        out["snnc_build_s"] = time.perf_counter() - t0
        out["snnc_phases_s"] = built.seconds
        fast = built.network
        got = fast(x)
        out["snnc_s"] = _median_time(lambda: fast(x), args.reps)

    out["tutorial_over_snnc"] = out["tutorial_s"] / out["snnc_s"]
    out["snnc_over_float"] = out["snnc_s"] / out["float_s"]
    out["tutorial_over_float"] = out["tutorial_s"] / out["float_s"]
    scale = float(ref.abs().max())
    out["max_abs_diff_over_range"] = float((got - ref).abs().max()) / scale
    out["mean_abs_diff_over_range"] = float((got - ref).abs().mean()) / scale
    out["argmax_agreement"] = float((got.argmax(1) == ref.argmax(1)).float().mean())

    print(f"mnn speed on {args.spec}, batch {args.batch}, {args.threads} threads (medians; wall time on this machine)")
    print(f"  float ANN              {out['float_s'] * 1e3:10.1f} ms")
    print(f"  MemTorch tutorial path {out['tutorial_s'] * 1e3:10.1f} ms   ({out['tutorial_over_float']:.0f}x float)")
    print(f"  snnc fast engine       {out['snnc_s'] * 1e3:10.1f} ms   ({out['snnc_over_float']:.1f}x float, "
          f"{out['tutorial_over_snnc']:.0f}x faster than the tutorial path)")
    print(f"  patch + tune: tutorial {out['tutorial_patch_s']:.1f} + {out['tutorial_tune_s']:.1f} s; snnc "
          f"{built.seconds['patch']:.1f} + {built.seconds['tune']:.1f} s (+ {built.seconds['engine']:.2f} s engine)")
    print(f"  snnc vs tutorial outputs: max |diff| {out['max_abs_diff_over_range']:.2e}, mean "
          f"{out['mean_abs_diff_over_range']:.2e} of the output range; argmax agreement {out['argmax_agreement']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
