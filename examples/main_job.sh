#!/usr/bin/env bash
# snnc's main job, a few minutes on a laptop CPU: compile Spiking GhostNetV2 (DFC attention) to an SNN with its
# cost summary, then train, evaluate and measure a small SNN on the bundled MNIST sample (progress bars, plots),
# convert a trained ANN to a burst-spiking SNN (accuracy against time steps), put it on simulated memristive
# crossbars (MemTorch) and evaluate it, and export the SNN to ONNX checked in onnxruntime.
# Run from the repository root after installing (see README.md). Outputs go to $SNNC_OUT (default runs/main_job).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${SNNC_OUT:-runs/main_job}
mkdir -p "$out"

echo "== 1. Validate a spec: syntax, types, wiring, shapes and sizes (no torch needed) =="
snnc validate specs/ghostnet_dfc.yaml

echo "== 2. Compile Spiking GhostNetV2 (DFC attention) to snnTorch neurons; cost summary by block =="
snnc compile specs/ghostnet_dfc.yaml --target snn -o "$out/ghostnet_dfc_snn.pt"

echo "== 3. Train the snnTorch tutorial SNN (784-1000-10, 25 steps) on the bundled MNIST sample =="
echo "   (a 2,000/500-image sample shipped with snnc; full data: --dataset mnist --data-dir DIR)"
rm -rf "$out/mnist_fc"
echo "   (the spec's own recipe is the tutorial's, 1 epoch of 60,000 images; on the 2,000-image sample: 3 epochs)"
snnc train specs/mnist_fc.yaml --target snn --dataset mnist-sample --epochs 3 --run-dir "$out/mnist_fc"

echo "== 4. Evaluate the best checkpoint: accuracy, confusion matrix, firing rates =="
snnc eval specs/mnist_fc.yaml --checkpoint "$out/mnist_fc/best.pt"

echo "== 5. Measure its cost on data: spikes, synaptic operations and energy against the ANN =="
snnc report specs/mnist_fc.yaml --target snn --checkpoint "$out/mnist_fc/best.pt" --dataset mnist-sample

echo "== 6. Or train an ANN and convert it: the tutorial CSNN as an ANN, then burst spikes, accuracy against T =="
rm -rf "$out/mnist_conv_ann"
snnc train specs/mnist_conv.yaml --target ann --dataset mnist-sample --epochs 5 --run-dir "$out/mnist_conv_ann"
snnc convert specs/mnist_conv.yaml --checkpoint "$out/mnist_conv_ann/best.pt" --dataset mnist-sample \
    --timesteps 4,8,16,32 -O gamma=1,3 -O percentile=95 --output "$out/burst"

echo "== 7. Put the trained ANN on memristive crossbars (MemTorch: VTEAM devices, 1T1R, 6-bit ADC) and evaluate it =="
snnc compile specs/mnist_conv.yaml --target mnn --checkpoint "$out/mnist_conv_ann/best.pt" -O adc_bits=6 \
    -o "$out/mnist_conv_mnn.pt" -q
snnc eval --checkpoint "$out/mnist_conv_mnn.pt" --dataset mnist-sample

echo "== 8. Export the trained SNN to ONNX and check it in onnxruntime (identical spikes) =="
snnc export specs/mnist_fc.yaml --target snn --checkpoint "$out/mnist_fc/best.pt" --format onnx --check \
    -o "$out/mnist_fc_snn.onnx"

echo "== Done. Plots: $out/mnist_fc/plots/ (loss/accuracy curves, spike raster, firing rates), $out/burst/ =="
ls "$out/mnist_fc/plots" "$out/burst"
