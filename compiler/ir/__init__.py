"""Graph IR: typed, immutable, named nodes joined by edges (``inputs``); no tensors, no torch.

One module per node family (io, linear, conv, norm, pool, activation, neuron, shape, merge, resample);
per-kind behaviour (shape inference, costs, lowering) lives in tables elsewhere, keyed by ``kind``.
"""

from .activation import Activation
from .base import NodeBase, Shape
from .conv import Conv2d
from .graph import NODE_KINDS, Decoding, Encoding, Graph, Node, Task
from .io import Input
from .linear import Linear
from .merge import Add, Concat, Multiply
from .neuron import NeuronParams, Spike
from .norm import BatchNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool, MaxPool2d
from .resample import Upsample
from .shape import Dropout, Flatten, Identity, Reshape, Slice

__all__ = ["Activation", "Add", "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm", "Concat", "Conv2d", "Decoding",
           "Dropout", "Encoding", "Flatten", "GlobalAvgPool", "Graph", "Identity", "Input", "Linear", "MaxPool2d",
           "Multiply", "NODE_KINDS", "NeuronParams", "Node", "NodeBase", "Reshape", "Shape", "Slice", "Spike", "Task",
           "Upsample"]
