"""Training methods, by name: each owns the loss of a step (see :class:`~snnc.runtime.methods.base.Method`)."""

from snnc.compiler.registry import Registry

from .base import Batch, Method, MethodContext, NoOptions, StepInfo, StepOutput, tapped

METHODS: Registry = Registry("training method", {
    "erm": "snnc.runtime.methods.erm:ERM",
    "balanced": "snnc.runtime.methods.balanced:Balanced",
    "irm": "snnc.runtime.methods.irm:IRM",
    "vrex": "snnc.runtime.methods.vrex:VREx",
    "dann": "snnc.runtime.methods.dann:DANN",
    "spike_similarity": "snnc.runtime.methods.spike_similarity:SpikeSimilarity",
    "hwa": "snnc.runtime.methods.hwa:HWA",
    "qcfs": "snnc.runtime.methods.qcfs:QCFS",
})
"""Method name → :class:`Method` subclass, imported on first use."""

__all__ = ["Batch", "METHODS", "Method", "MethodContext", "NoOptions", "StepInfo", "StepOutput", "tapped"]
