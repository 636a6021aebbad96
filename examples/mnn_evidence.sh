#!/usr/bin/env bash
# The mnn evidence of docs/mnn.md on full MNIST (about 12 minutes on 2 cores), from any directory.
set -euo pipefail
cd "$(dirname "$0")/.."
OMP_NUM_THREADS=2 nice -n 10 python examples/mnn_evidence.py --data-dir ../shared/data/mnist --out runs/mnn_evidence --plots docs/img "$@"
