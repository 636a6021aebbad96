"""The graph: named nodes in topological order, plus what a spiking target needs to run it.

Weights never live here: they live beside the graph, keyed by node name (a torch state dict).
"""

from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from .activation import Activation
from .conv import Conv2d
from .io import Input
from .linear import Linear
from .merge import Add, Concat, Multiply
from .neuron import Spike
from .norm import BatchNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool, MaxPool2d
from .resample import Upsample
from .shape import Dropout, Flatten, Identity, Reshape, Slice

Node = Annotated[
    Union[Input, Conv2d, Linear, BatchNorm, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool, Activation,
          Spike, Flatten, Reshape, Slice, Dropout, Identity, Add, Multiply, Concat, Upsample],
    Field(discriminator="kind"),
]
"""Any IR node; ``kind`` selects the class."""

NODE_KINDS: tuple[str, ...] = ("input", "conv2d", "linear", "batchnorm", "maxpool2d", "avgpool2d",
                               "adaptive_avgpool2d", "global_avgpool", "activation", "spike", "flatten", "reshape",
                               "slice", "dropout", "identity", "add", "multiply", "concat", "upsample")


class Encoding(BaseModel):
    """How an input image becomes input current over ``timesteps`` steps.

    ``direct``: the same analog input every step. ``rate``: Bernoulli spikes with probability
    ``clamp(gain * x, 0, 1)`` per step (``snntorch.spikegen.rate``). ``latency``: one spike per input at a time
    that decreases with intensity (``snntorch.spikegen.latency`` with ``tau``, ``threshold``, ``linear``,
    ``normalize``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    kind: Literal["direct", "rate", "latency"] = "direct"
    gain: float = 1.0
    tau: float = 5.0
    threshold: float = 0.01
    linear: bool = True
    normalize: bool = True


class Decoding(BaseModel):
    """How the output layer's activity becomes a prediction: spike ``rate``, spike ``count`` or ``membrane``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    kind: Literal["rate", "count", "membrane"] = "rate"


class Task(BaseModel):
    """What the network is for: ``classification`` into ``classes`` or dense ``segmentation``."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    kind: Literal["classification", "segmentation"] = "classification"
    classes: PositiveInt = 10


class Graph(BaseModel):
    """A verified, shape-annotated network.

    Attributes:
        name: the model's name.
        nodes: every node, in topological order, the first being the ``input`` node.
        outputs: names of the output nodes.
        timesteps: simulation steps for spiking targets.
        encoding: input encoding for spiking targets.
        decoding: output decoding for spiking targets.
        task: classification or segmentation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    timesteps: PositiveInt = 25
    encoding: Encoding = Encoding()
    decoding: Decoding = Decoding()
    task: Task = Task()

    @cached_property
    def by_name(self) -> dict[str, Node]:
        """Node lookup by name."""
        return {n.name: n for n in self.nodes}

    def node(self, name: str) -> Node:
        """The node called ``name`` (KeyError if absent)."""
        return self.by_name[name]

    @property
    def input(self) -> Input:
        """The input node."""
        return next(n for n in self.nodes if n.kind == "input")

    def consumers(self, name: str) -> list[Node]:
        """Nodes that take ``name`` as an input."""
        return [n for n in self.nodes if name in n.inputs]
