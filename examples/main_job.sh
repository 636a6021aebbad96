#!/usr/bin/env bash
# snnc's main job, a few minutes on a laptop CPU: validate and summarise specs, compile them.
# Run from the repository root after installing (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${SNNC_OUT:-runs/main_job}
mkdir -p "$out"

echo "== 1. Validate a spec (no torch needed) =="
snnc validate specs/mnist_conv.yaml

echo "== 2. What a bad spec looks like: one located, actionable error per problem =="
snnc validate tests/specs/invalid/flatten_vs_linear.yaml || true

echo "== 3. Summarise: per-node shapes, parameters and MACs =="
snnc summary specs/mnist_conv.yaml

echo "== 4. Compile to a PyTorch module and save it (spec + weights) =="
snnc compile specs/mnist_fc.yaml --target ann -o "$out/mnist_fc_ann.pt" --quiet
