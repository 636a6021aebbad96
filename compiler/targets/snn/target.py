"""The ``snn`` target object: its options and how it lowers the ann module (:func:`~.rewrite.ann_to_snn`)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ...spec.models import MAX_TIMESTEPS
from ..base import Target, TargetOptions


class SnnOptions(TargetOptions):
    """Options of the snn target (None: the spec's value or an automatic choice)."""

    timesteps: Optional[int] = Field(None, ge=1, le=MAX_TIMESTEPS, description="time steps per call "
                                     "(default: the spec's)")
    encoding: Optional[Literal["direct", "rate", "latency"]] = Field(None, description="input encoding "
                                                                     "(default: the spec's)")
    decoding: Optional[Literal["rate", "count", "membrane"]] = Field(None, description="output decoding "
                                                                     "(default: the spec's)")
    chunk: Optional[int] = Field(None, ge=1, le=MAX_TIMESTEPS, description="time steps folded into one pass "
                                 "(default: about 4 MiB of activations)")
    compile: bool = Field(False, description="run the body through torch.compile (slow first call)")
    mode: Literal["fused", "reference", "unrolled"] = Field("fused", description="how neurons run: fused "
                                                            "recurrence, snnTorch step by step, or unrolled")
    channels_last: Optional[bool] = Field(None, description="channels-last convolutions (default: when the "
                                          "net has a convolution)")
    tbptt: Optional[int] = Field(None, ge=1, le=MAX_TIMESTEPS, description="truncated BPTT: detach the neuron "
                                 "states every K steps (approximate gradients; null: full BPTT)")
    checkpoint_time: bool = Field(False, description="recompute each chunk of time steps in the backward pass "
                                  "(exact gradients, less memory); without 'chunk', chunks of about sqrt(T) "
                                  "steps: set a smaller chunk when one step's activations are large")


class SnnTarget(Target):
    """The ``snn`` target: snnTorch neurons at every spike node, trained with surrogate gradients and BPTT."""

    name = "snn"
    description = "spiking network of snnTorch neurons, trained with surrogate gradients and BPTT"
    Options = SnnOptions
    spiking = True
    trainable = True
    spike_roles = "snn"
    title = "SNN"

    def build(self, ann, options: SnnOptions, *, calibration=None, consume=False):
        from .rewrite import ann_to_snn

        return ann_to_snn(ann, **options.model_dump(exclude_none=True), inplace=consume)

    def describe(self, module) -> list[str]:
        return [f"T = {module.timesteps}, {module.encoding.kind} encoding, {module.decoding.kind} decoding, "
                f"{len(module.neurons)} neuron layers ({sum(module.neuron_counts().values()):,} neurons)"]


TARGET = SnnTarget()
