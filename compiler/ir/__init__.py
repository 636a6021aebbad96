"""Graph IR: typed, immutable nodes; no tensors, no torch."""
