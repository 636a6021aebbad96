"""``qcfs``: train the ANN with quantisation-clip-floor-shift activations so that it converts at low latency.

Bu et al., ICLR 2022 (code: github.com/putshua/SNN_conversion_QCFS). Before training, every ReLU of the ann is
replaced by ``λ · clip(floor(x · L / λ + 0.5) / L, 0, 1)`` with a trainable ``λ`` per site
(:func:`snnc.compiler.qcfs.apply_qcfs`); each step is then the run's plain loss, the floor passing its gradient
straight through. The checkpoint records the QCFS sites (the ann target's ``extras``), so ``snnc eval -t ann``
measures the QCFS ANN and ``snnc convert`` / ``-t burst`` builds, at each QCFS site, a burst neuron of threshold λ/L
firing up to L spikes per step (IF neurons of threshold λ with ``method="if"``): no calibration of thresholds, and
membranes starting at half the threshold (the converter's ``v_init = 0.5``).

λ starts, by default, at a percentile of each ReLU's activations on a few training images of the network as
built: with ``--init`` of an ERM-trained ann that is its own activation scale (fine-tuning), for a fresh network
its initial scale. ``threshold`` sets every λ to one value instead (the paper's code uses 8). An ``--init`` of a
QCFS checkpoint keeps its trained λ.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from snnc.compiler.errors import SnncError

from .base import Batch, Method, StepInfo, StepOutput


class QCFSOptions(BaseModel):
    """Options of ``qcfs``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: int = Field(8, ge=1, le=1024, description="quantisation levels L per activation (the paper: 4-16; "
                        "the converted net is best from T ≈ L on)")
    threshold: Optional[float] = Field(None, gt=0, description="initial λ of every site (the paper's code: 8); "
                                       "default: set from the activations of the network it starts from")
    init_percentile: float = Field(99.9, gt=0, le=100, description="percentile of each ReLU's activations that "
                                   "sets its initial λ (when threshold is not given)")
    init_samples: int = Field(256, ge=1, le=65536, description="training images the initial λ are read from")


INIT_BATCH = 64
"""Images per batch of the λ initialisation."""


class QCFS(Method):
    """The run's loss on the network with QCFS activations (see the module's docstring)."""

    name = "qcfs"
    description = ("QCFS (Bu et al., ICLR 2022): trains the ann with quantised clip-floor-shift activations "
                   "(L levels, trainable λ) so it converts to IF/burst neurons at low T with thresholds λ")
    Options = QCFSOptions

    def __init__(self, options: QCFSOptions, context):
        super().__init__(options, context)
        if context.spiking:
            raise SnncError("method 'qcfs' trains an ANN for conversion: train with --target ann (then snnc "
                            "convert, or eval -t burst, builds the spiking network with the trained thresholds)")
        self.initial: dict[str, float] = {}

    def prepare_model(self, model: nn.Module, dataset: Any) -> nn.Module:
        from snnc.compiler.qcfs import PAPER_THRESHOLD, apply_qcfs, init_thresholds, qcfs_sites

        kept = set(qcfs_sites(model))
        start = self.options.threshold if self.options.threshold is not None else PAPER_THRESHOLD
        qcfs = apply_qcfs(model, self.options.levels, start)
        new = [name for name in qcfs_sites(qcfs) if name not in kept]
        if not qcfs_sites(qcfs):
            raise SnncError("method 'qcfs': the network has no ReLU (spike node) to replace by a QCFS activation")
        if new and self.options.threshold is None:
            self.initial = init_thresholds(qcfs, _sample_batches(dataset, self.options.init_samples),
                                           self.options.init_percentile, sites=new)
        return qcfs

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        output = model(batch.x)
        return StepOutput(self.context.loss_fn(output, batch.y), output)


def _sample_batches(dataset: Any, samples: int):
    """Batches of ``samples`` images spread evenly over ``dataset`` (no random draw: a resumed run and every
    process of a distributed one read the same images)."""
    n = len(dataset)
    if n == 0:
        raise SnncError("method 'qcfs': the training set is empty")
    count = min(samples, n)
    indices = torch.linspace(0, n - 1, count).round().long().tolist()
    subset = torch.utils.data.Subset(dataset, indices)
    loader = torch.utils.data.DataLoader(subset, batch_size=INIT_BATCH, shuffle=False)
    for raw in loader:
        yield Batch.of(raw).x
