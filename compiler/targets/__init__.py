"""Target lowerings and rewrites: ann (IR → torch.fx), snn, burst and mnn (rewrites of the ann module)."""
