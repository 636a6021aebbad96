"""Burst-spike conversion of a small UNet on ISBI 2012 EM membrane segmentation: pixel accuracy, IoU and F1
of the membrane class against time steps.

A plain PyTorch UNet (two max-pool downsamplings, nearest upsampling, skip concatenations, batch-norm and
ReLU) is trained as an ANN on random crops of the 25 training slices (with flips), then converted with
:func:`snnc.convert` once per burst size ``Γ`` and scored on the 5 held-out slices (25..29, cut into a grid of
tiles) at every ``T``, next to the ANN. Membrane (label 1) is the positive class; the scores count pixels over
the whole held-out set.

Run (about 10-20 minutes on 2 shared CPU cores)::

    python examples/burst_unet_isbi.py                 # results in runs/burst_unet_isbi
    python examples/burst_unet_isbi.py --quick         # smoke test: a few steps, 4 test tiles, T = 4, 8

The checkpoint is reused when present (``--retrain`` trains again). Writes ``results.md``, ``results.json``
and ``results.png`` (IoU) plus ``results_<metric>.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from burst_common import (Log, comparison_table, count_macs, setup, train_ann, trained, write_json,  # noqa: E402
                          write_text)

import snnc  # noqa: E402
from snnc.runtime.convert import evaluate_snn, gamma_label, parse_int_list, sweep, write_sweep  # noqa: E402
from snnc.runtime.data import load_dataset, make_loader  # noqa: E402


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 conv (padding 1) + batch-norm + ReLU layers."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """A two-level UNet: ``enc1 → pool → enc2 → pool → bottom → up ⊕ enc2 → dec2 → up ⊕ enc1 → dec1 → 1x1``.

    Down: ``nn.MaxPool2d(2)`` (LIPooling after conversion); up: nearest ``F.interpolate`` by 2; ``⊕`` is a
    channel concatenation. Input ``1 x H x W`` with ``H, W`` divisible by 4; output two class scores per pixel.

    Args:
        width: channels of the first level (then 2x, 4x).
    """

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        w = width
        self.enc1, self.enc2, self.bottom = double_conv(1, w), double_conv(w, 2 * w), double_conv(2 * w, 4 * w)
        self.pool = nn.MaxPool2d(2)
        self.dec2, self.dec1 = double_conv(6 * w, 2 * w), double_conv(3 * w, w)
        self.head = nn.Conv2d(w, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.pool(e2))
        d2 = self.dec2(torch.cat([F.interpolate(b, scale_factor=2, mode="nearest"), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2, mode="nearest"), e1], dim=1))
        return self.head(d1)


class FlippedCrops:
    """Random training crops with random horizontal and vertical flips (image and mask together).

    Args:
        loader: a DataLoader of ``(image, mask)`` crops.
        seed: seed of the flips.
    """

    def __init__(self, loader: Any, seed: int = 0) -> None:
        self.loader = loader
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            flips = torch.rand(2, generator=self.generator) < 0.5
            for axis, flip in zip((-1, -2), flips):
                if flip:
                    x, y = x.flip(axis), y.flip(axis)
            yield x, y


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--width", type=int, default=8, help="channels of the first UNet level")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--crop", type=int, default=64, help="side of the random training crops")
    p.add_argument("--crops-per-slice", type=int, default=32, help="training crops per slice and epoch")
    p.add_argument("--test-tile", type=int, default=128, help="side of the grid tiles of the held-out slices")
    p.add_argument("--gammas", default="1,2,3,4,5", help="burst sizes, comma-separated")
    p.add_argument("--timesteps", default="4,8,16,32,64", help="time steps T, comma-separated")
    p.add_argument("--percentile", type=float, default=95.0, help="threshold percentile of every sweep column")
    p.add_argument("--if-percentile", type=float, default=99.0,
                   help="threshold percentile of the extra IF baseline (0: no baseline)")
    p.add_argument("--channelwise", action="store_true")
    p.add_argument("--v-init", type=float, default=0.5)
    p.add_argument("--calibration", type=int, default=64, help="random training tiles for the thresholds")
    p.add_argument("--test-limit", type=int, default=None, help="score on the first N test tiles only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", default=None, help="folder with isbi2012_train_30x512x512.npz")
    p.add_argument("--out", type=Path, default=Path("runs/burst_unet_isbi"))
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 epoch of 1 crop per slice, 4 test tiles, Γ = 1, 5, T = 4, 8")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.crops_per_slice, args.test_limit = 1, 1, args.test_limit or 4
        args.gammas, args.timesteps, args.calibration, args.if_percentile = "1,5", "4,8", 8, 0.0
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the example; returns the report dict (also written to ``--out/results.json``)."""
    args = parse_args(argv)
    setup(args.seed, args.threads)
    log = Log()
    args.out.mkdir(parents=True, exist_ok=True)
    common = dict(data_dir=args.data_dir, normalize=True, seed=args.seed)
    train = load_dataset("isbi2012", "train", crop=args.crop, crops_per_slice=args.crops_per_slice, **common)
    test = load_dataset("isbi2012", "test", crop=args.test_tile, tiling="grid", limit=args.test_limit, **common)
    calib = load_dataset("isbi2012", "train", crop=args.test_tile, tiling="random", limit=args.calibration,
                         crops_per_slice=max(1, -(-args.calibration // 25)), **{**common, "seed": args.seed + 1})
    log(f"ISBI 2012: {len(train)} random {args.crop}px training crops per epoch (slices {train.slice_ids[0]}.."
        f"{train.slice_ids[-1]}), {len(test)} {args.test_tile}px test tiles (slices {test.slice_ids})")
    model = UNet(args.width)
    loader = FlippedCrops(make_loader(train, args.batch_size, shuffle=True, seed=args.seed), seed=args.seed)
    start = time.perf_counter()

    def fit(m: nn.Module) -> None:
        train_ann(m, loader, epochs=args.epochs, lr=args.lr,
                  on_epoch=lambda e, loss, s: log(f"unet: epoch {e}/{args.epochs} loss {loss:.4f} ({s:.0f} s)"))

    fresh = trained(model, args.out / "ann.pt", fit, args.retrain)
    train_seconds = time.perf_counter() - start
    example = test[0][0].unsqueeze(0)
    macs = count_macs(model, example)
    log(f"unet: {'trained' if fresh else 'reused'} {args.out / 'ann.pt'} ({train_seconds:.0f} s), "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, {macs / 1e6:.1f} M MACs per tile and step")
    calibration = [x for x, _ in make_loader(calib, args.batch_size)]
    test_loader = make_loader(test, args.batch_size)
    gammas = parse_int_list(args.gammas, "--gammas")
    ts = parse_int_list(args.timesteps, "--timesteps")

    def on_gamma(g: int, res: dict) -> None:
        log(f"unet: {gamma_label(g)}: " + ", ".join(
            f"T={t} IoU {100 * r['iou']:.2f} F1 {100 * r['f1']:.2f}" for t, r in res.items()))

    results = sweep(model, calibration, test_loader, gammas=gammas, timesteps=ts, task="segmentation",
                    percentile=args.percentile, channelwise=args.channelwise, v_init=args.v_init,
                    fold_steps=4, on_gamma=on_gamma)
    ann = results["ann"]
    log(f"unet: ANN pixel accuracy {100 * ann['pixel_accuracy']:.2f}, IoU {100 * ann['iou']:.2f}, "
        f"F1 {100 * ann['f1']:.2f}")
    baseline = None
    if args.if_percentile:
        start = time.perf_counter()
        snn = snnc.convert(model, calibration, "if", percentile=args.if_percentile, channelwise=args.channelwise,
                           v_init=args.v_init, fold_batch=4 * args.batch_size)
        baseline = evaluate_snn(snn, test_loader, ts, task="segmentation")
        results["if_baseline"] = {"percentile": args.if_percentile, "seconds": round(time.perf_counter() - start, 2),
                                  "rows": [{"timesteps": t, **baseline[t]} for t in ts]}
        log(f"unet: IF @ p{args.if_percentile:g}: " + ", ".join(
            f"T={t} IoU {100 * r['iou']:.2f} F1 {100 * r['f1']:.2f}" for t, r in baseline.items()))
    results["metrics"] = ["iou", "f1", "pixel_accuracy"]
    results["train"] = {"seconds": round(train_seconds, 2), "fresh": fresh, "epochs": args.epochs}
    results["model"] = {"name": "unet", "width": args.width, "parameters": sum(p.numel() for p in model.parameters()),
                        "macs_per_tile": macs, "tile": args.test_tile}
    title = f"UNet on ISBI 2012 membranes (p{args.percentile:g})"
    write_sweep(results, args.out, title=title)
    results["command"] = "python examples/burst_unet_isbi.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results["wall_seconds"] = round(log.elapsed(), 1)
    text = (f"# {title}\n\n`{results['command']}` — {results['wall_seconds']:.0f} s, {results['samples']} test tiles "
            f"of {args.test_tile}x{args.test_tile} from slices {test.slice_ids}, membrane = positive class.\n\n"
            + "\n".join(f"## {heading}\n\n" + comparison_table("unet", results, baseline, args.if_percentile, key)
                        for key, heading in [*((m, f"{m} (%)") for m in results["metrics"]),
                                             ("spikes_per_sample", "spikes per tile")]))
    write_text(args.out / "results.md", text)
    write_json(args.out / "results.json", results)
    print(text)
    return results


if __name__ == "__main__":
    main()
