"""The snn target: the ann module rewritten into a spiking network on snnTorch neurons.

``ann_to_snn(gm)`` replaces every spike node of the ann target's ``torch.fx.GraphModule`` by a neuron layer
run over time (``snn.Leaky``, ``snn.Synaptic`` or integrate-and-fire) and returns a :class:`SpikingModule`
whose ``forward(x)`` gives ``(spk, mem)`` shaped ``[T, B, ...]``, like a recorded snnTorch loop.

It is fast by construction: stateless layers run once over all ``T * B`` samples, layers that do not depend
on time run once, and each neuron's recurrence is a single autograd node that gives the same spikes as the
snnTorch step-by-step loop (which stays available as ``mode="reference"``).
"""

from .coding import Decoding, Encoding, resolve_decoding, resolve_encoding
from .loop import NeuronLoop
from .module import SpikingModule
from .neurons import build_neuron, build_surrogate
from .rewrite import ann_to_snn

__all__ = [
    "Decoding",
    "Encoding",
    "NeuronLoop",
    "SpikingModule",
    "ann_to_snn",
    "build_neuron",
    "build_surrogate",
    "resolve_decoding",
    "resolve_encoding",
]
