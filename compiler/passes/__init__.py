"""Named, registered IR passes and analyses.

* ``infer-spike-values`` (:mod:`.spike_values`) — analysis: which values are spikes and which are time-invariant,
  per target; the cost report uses it to charge layers as accumulates (spike input) or MACs (real input).
"""
