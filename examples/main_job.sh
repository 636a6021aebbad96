#!/usr/bin/env bash
# snnc's main job, a few minutes on a laptop CPU: compile Spiking GhostNetV2 (DFC attention) to an SNN with its
# cost summary, then train, evaluate and measure a small SNN on the bundled MNIST sample (progress bars, plots).
# Run from the repository root after installing (see README.md). Outputs go to $SNNC_OUT (default runs/main_job).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${SNNC_OUT:-runs/main_job}
# Why: piped into a log (no terminal), rich would lay the tables out at 80 columns and cut every number short.
[ -t 1 ] || export COLUMNS="${COLUMNS:-150}"
mkdir -p "$out"

echo "== 1. Validate a spec: syntax, types, wiring, shapes and sizes (no torch needed) =="
snnc validate specs/ghostnet_dfc.yaml

echo "== 2. Compile Spiking GhostNetV2 (DFC attention) to snnTorch neurons; cost summary by block =="
snnc compile specs/ghostnet_dfc.yaml --target snn -o "$out/ghostnet_dfc_snn.pt"

echo "== 3. Train the snnTorch tutorial SNN (784-1000-10, 25 steps) on the bundled MNIST sample =="
echo "   (a 2,000/500-image sample shipped with snnc; full data: --dataset mnist --data-dir DIR)"
rm -rf "$out/mnist_fc"
snnc train specs/mnist_fc.yaml --target snn --dataset mnist-sample --run-dir "$out/mnist_fc"

echo "== 4. Evaluate the best checkpoint: accuracy, confusion matrix, firing rates =="
snnc eval specs/mnist_fc.yaml --checkpoint "$out/mnist_fc/best.pt"

echo "== 5. Measure its cost on data: spikes, synaptic operations and energy against the ANN =="
snnc report specs/mnist_fc.yaml --target snn --checkpoint "$out/mnist_fc/best.pt" --dataset mnist-sample

echo "== Done. Plots: $out/mnist_fc/plots/ (loss/accuracy curves, spike raster, firing rates) =="
ls "$out/mnist_fc/plots"
