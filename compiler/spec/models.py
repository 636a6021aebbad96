"""Spec models: the YAML a user writes, in the user's words, validated by pydantic.

These mirror the file (defaults, shorthands such as ``kernel_size: 3`` for ``[3, 3]`` or ``encoding: rate``);
the IR is the normalised form. Unknown keys are errors (``extra="forbid"``) and layer kinds form a
discriminated union on ``kind``, so pydantic reports each error at its exact path.

A minimal spec::

    name: mnist_fc
    input: {shape: [1, 28, 28]}
    task: {kind: classification, classes: 10}
    timesteps: 25
    neuron: {model: leaky, beta: 0.95}
    layers:
      - {kind: flatten}
      - {kind: linear, out_features: 1000}
      - {kind: spike}
      - {kind: linear, out_features: 10}
      - {kind: spike}
"""

import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator


NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
MAX_TIMESTEPS = 100_000

IntPair = Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]]
NonNegPair = Union[Annotated[int, Field(ge=0)], Annotated[list[Annotated[int, Field(ge=0)]],
                                                          Field(min_length=2, max_length=2)]]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --------------------------------------------------------------------------------------------- model-wide sections


class InputSpec(SpecModel):
    """The network input. ``shape`` excludes the batch: ``[channels, height, width]`` or ``[features]``."""

    shape: Annotated[list[PositiveInt], Field(min_length=1, max_length=3)]
    range: tuple[float, float] = Field((0.0, 1.0), description="value range of the input, e.g. [0, 1]")
    name: str = Field("input", pattern=NAME_PATTERN, description="how layers refer to the input in 'inputs'")


class TaskSpec(SpecModel):
    """What the network does: ``classification`` into ``classes``, or dense ``segmentation`` (per-pixel classes)."""

    kind: Literal["classification", "segmentation"] = "classification"
    classes: PositiveInt = 10


class NeuronSpec(SpecModel):
    """Neuron parameters. The model-wide section sets defaults; a spike layer's ``neuron`` overrides them.

    ``beta`` is the membrane decay per step; ``tau`` (in steps) is the alternative, ``beta = exp(-1/tau)``.
    ``slope`` is the surrogate gradient's sharpness. ``if`` is integrate-and-fire (no leak).
    """

    model: Literal["leaky", "synaptic", "if"] | None = None
    beta: float | None = Field(None, ge=0.0, le=1.0)
    tau: float | None = Field(None, gt=0.0)
    alpha: float | None = Field(None, ge=0.0, le=1.0, description="synaptic current decay (synaptic model)")
    threshold: float | None = Field(None, gt=0.0)
    reset: Literal["subtract", "zero", "none"] | None = None
    surrogate: Literal["atan", "fast_sigmoid", "sigmoid", "straight_through", "triangular"] | None = None
    slope: float | None = Field(None, gt=0.0)
    learn_beta: bool | None = None
    learn_threshold: bool | None = None

    @model_validator(mode="after")
    def _beta_or_tau(self):
        if self.beta is not None and self.tau is not None:
            raise ValueError("give either beta or tau, not both (beta = exp(-1/tau))")
        return self


class EncodingSpec(SpecModel):
    """Input encoding over time: ``direct`` (same current every step), ``rate`` (Bernoulli spikes with probability
    ``gain·x``), ``latency`` (one spike, earlier for brighter inputs). A bare string is a shorthand for ``kind``."""

    kind: Literal["direct", "rate", "latency"] = "direct"
    gain: float = Field(1.0, gt=0.0)
    tau: float = Field(5.0, gt=0.0)
    threshold: float = Field(0.01, ge=0.0)
    linear: bool = True
    normalize: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


class DecodingSpec(SpecModel):
    """Output decoding: spike ``rate`` or ``count`` of the output neurons, or their ``membrane``."""

    kind: Literal["rate", "count", "membrane"] = "rate"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


# ------------------------------------------------------------------------------------------------------- layers


class LayerBase(SpecModel):
    """Fields every layer may have.

    ``name`` (default ``<kind>_<index>``) is how other layers refer to it and becomes its module name;
    ``inputs`` (default: the previous layer) lists the layers feeding it; ``when: false`` drops the layer
    (its input passes through), which blocks use for optional parts such as a projection shortcut.
    """

    name: str | None = Field(None, pattern=NAME_PATTERN)
    inputs: list[Annotated[str, Field(pattern=REF_PATTERN)]] | None = None
    when: bool = True


class Conv2dLayer(LayerBase):
    """2-D convolution. ``in_channels`` is inferred (give it to have it checked); ``padding: same`` keeps the size
    at stride 1; ``depthwise: true`` sets ``groups`` to the input channels."""

    kind: Literal["conv2d"]
    out_channels: PositiveInt
    kernel_size: IntPair
    stride: IntPair = 1
    padding: NonNegPair | Literal["same"] = 0
    dilation: IntPair = 1
    groups: PositiveInt = 1
    depthwise: bool = False
    bias: bool = True
    in_channels: PositiveInt | None = None


class LinearLayer(LayerBase):
    """Fully connected layer on the last dimension. ``in_features`` is inferred (give it to have it checked)."""

    kind: Literal["linear"]
    out_features: PositiveInt
    bias: bool = True
    in_features: PositiveInt | None = None


class BatchNormLayer(LayerBase):
    """Batch normalisation; ``batchnorm`` picks 1-D or 2-D from the input's rank."""

    kind: Literal["batchnorm", "batchnorm1d", "batchnorm2d"]
    eps: float = Field(1e-5, gt=0.0)
    momentum: float = Field(0.1, ge=0.0, le=1.0)
    affine: bool = True
    num_features: PositiveInt | None = None


class PoolLayer(LayerBase):
    """Max or average pooling; ``stride`` defaults to ``kernel_size``."""

    kind: Literal["maxpool2d", "avgpool2d"]
    kernel_size: IntPair
    stride: IntPair | None = None
    padding: NonNegPair = 0
    ceil_mode: bool = False


class AdaptivePoolLayer(LayerBase):
    """Adaptive average pooling to ``output_size``."""

    kind: Literal["adaptive_avgpool2d"]
    output_size: IntPair


class ActivationLayer(LayerBase):
    """A non-spiking activation (it stays analog in spiking targets). Use ``spike`` where a neuron should fire."""

    kind: Literal["activation"]
    function: Literal["relu", "relu6", "sigmoid", "hardsigmoid", "hardswish", "gelu", "tanh", "silu", "leaky_relu",
                      "softmax"]
    negative_slope: float = 0.01


class SpikeLayer(LayerBase):
    """Where a neuron fires: a ReLU in the ann target, a spiking neuron in spiking targets. ``neuron`` overrides
    the model-wide neuron section for this layer only."""

    kind: Literal["spike"]
    neuron: NeuronSpec = NeuronSpec()


class ReshapeLayer(LayerBase):
    """Reshape to ``shape`` (without batch); one entry may be -1."""

    kind: Literal["reshape"]
    shape: Annotated[list[int], Field(min_length=1, max_length=4)]


class SliceLayer(LayerBase):
    """``x[..., start:stop]`` along ``dim`` (batch is dim 0, channels dim 1)."""

    kind: Literal["slice"]
    dim: int = 1
    start: Annotated[int, Field(ge=0)] = 0
    stop: PositiveInt


class SplitLayer(LayerBase):
    """Split along ``dim`` into parts of ``sizes``; other layers refer to part ``k`` as ``<name>.<k>``."""

    kind: Literal["split"]
    dim: int = 1
    sizes: Annotated[list[PositiveInt], Field(min_length=2)]


class DropoutLayer(LayerBase):
    """Dropout with probability ``p`` (training only)."""

    kind: Literal["dropout"]
    p: float = Field(0.5, ge=0.0, lt=1.0)


class MergeLayer(LayerBase):
    """``add`` and ``multiply`` combine two or more equal-shaped inputs element-wise (``multiply`` also
    broadcasts a ``[C, 1, 1]`` gate); ``concat`` joins them along ``dim`` (channels, dim 1, by default)."""

    kind: Literal["add", "multiply", "concat"]
    dim: int = 1


class UpsampleLayer(LayerBase):
    """Spatial up-sampling by ``scale_factor``, to ``size``, or to the height and width of the layer named by
    ``like`` (which then only lends its size, e.g. to undo a pooling of an odd-sized map)."""

    kind: Literal["upsample"]
    scale_factor: PositiveInt | None = None
    size: IntPair | None = None
    like: str | None = Field(None, pattern=REF_PATTERN)
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool = False

    @model_validator(mode="after")
    def _one_of(self):
        if sum(v is not None for v in (self.scale_factor, self.size, self.like)) != 1:
            raise ValueError("give exactly one of scale_factor, size or like")
        return self


class SimpleLayer(LayerBase):
    """Layers with no options: ``flatten``, ``identity``, ``global_avgpool`` (mean over H and W: [C,H,W] → [C])."""

    kind: Literal["flatten", "identity", "global_avgpool"]


class BlockLayer(LayerBase):
    """An instance of a block defined under ``blocks``: ``args`` fill its parameters (and name the layers feeding
    its extra ``inputs``) and ``repeat`` stacks copies named ``<name>.0``, ``<name>.1``, ... (inside ``args``,
    ``${i}`` is the copy's index). Later layers take the last copy's output as ``<name>``, copy ``k``'s as
    ``<name>.<k>`` (also ``<name>.0`` when there is one copy)."""

    kind: Literal["block"]
    block: str = Field(pattern=NAME_PATTERN)
    args: dict[str, Any] = {}
    repeat: PositiveInt = 1


Layer = Annotated[
    Union[Conv2dLayer, LinearLayer, BatchNormLayer, PoolLayer, AdaptivePoolLayer, ActivationLayer, SpikeLayer,
          ReshapeLayer, SliceLayer, SplitLayer, DropoutLayer, MergeLayer, UpsampleLayer, SimpleLayer, BlockLayer],
    Field(discriminator="kind"),
]
"""Any layer; ``kind`` selects the model."""

LAYER_KINDS: tuple[str, ...] = (
    "conv2d", "linear", "batchnorm", "batchnorm1d", "batchnorm2d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d",
    "activation", "spike", "reshape", "slice", "split", "dropout", "add", "multiply", "concat", "upsample",
    "flatten", "identity", "global_avgpool", "block")


class BlockSpec(SpecModel):
    """A reusable, parameterised group of layers.

    ``params`` maps each parameter to its default (``null`` = required). Inside the block, ``${expr}`` strings are
    replaced by the expression's value (sandboxed Jinja2 expressions over the parameters, e.g.
    ``${channels * 2}`` or ``${2 if i == 0 else 1}``); the block's input is called ``input``; its output is the
    last layer unless ``output`` names another. Layers are validated when the block is used.

    ``inputs`` names further inputs (a U-Net decoder's skip connection): each instance gives every one in its
    ``args`` as the name of a layer defined above it, and inside the block that name refers to that layer.
    """

    params: dict[str, Any] = {}
    inputs: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = []
    layers: Annotated[list[dict[str, Any]], Field(min_length=1)]
    output: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _inputs_are_not_params(self):
        for name in self.inputs:
            if name in self.params or name == "input":
                raise ValueError(f"'{name}' is both an input and a parameter (or the main 'input') of the block")
        return self


# --------------------------------------------------------------------------------------------------------- spec


class TrainingSpec(SpecModel):
    """The spec's own training recipe: the defaults of ``snnc train`` for the target it names (flags override)."""

    target: Literal["snn", "ann"] = Field("snn", description="the target this recipe trains")
    optimizer: Literal["adam", "sgd"] | None = None
    lr: Annotated[float, Field(gt=0, le=10)] | None = None
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    schedule: Literal["none", "cosine", "step"] | None = None
    epochs: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    loss: str | None = Field(None, description="a loss name (snnc train --help lists them)")
    loss_options: dict[str, Any] | None = None
    val_fraction: Annotated[float, Field(ge=0, lt=1)] | None = None


def _memristor_model() -> type[BaseModel]:
    from .memristor import MemristorSpec

    return MemristorSpec


LAZY_SECTIONS = {"memristor": _memristor_model}
"""Spec sections whose model is imported when a spec has the section: name → the model's loader."""


class Spec(SpecModel):
    """A whole spec file.

    ``params`` are spec-wide parameters usable as ``${name}`` anywhere (overridable from the CLI with
    ``--param name=value``); ``blocks`` defines reusable blocks; ``layers`` is the network, sequential unless a
    layer lists its ``inputs``; ``outputs`` defaults to the last layer.
    """

    extends: str | None = Field(None, description="a spec file (relative to this one) whose keys this one "
                                                   "overrides; params and blocks are merged entry by entry")
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    reference: str = Field("", description="where the architecture comes from (paper, table)")
    params: dict[str, Any] = {}
    input: InputSpec
    task: TaskSpec = TaskSpec()
    timesteps: Annotated[int, Field(ge=1, le=MAX_TIMESTEPS)] = 25
    neuron: NeuronSpec = NeuronSpec()
    encoding: EncodingSpec = EncodingSpec()
    decoding: DecodingSpec = DecodingSpec()
    blocks: dict[Annotated[str, Field(pattern=NAME_PATTERN)], BlockSpec] = {}
    layers: Annotated[list[Layer], Field(min_length=1)]
    outputs: list[Annotated[str, Field(pattern=REF_PATTERN)]] | None = None
    training: TrainingSpec = Field(TrainingSpec(), description="the training recipe snnc train uses by default")
    memristor: Optional[Any] = Field(None, description="memristive crossbar settings of the mnn target "
                                                       "(device, crossbar, ADC, non-idealities, seed)")

    @field_validator("memristor", mode="before")
    @classmethod
    def _memristor_section(cls, value: Any) -> Any:
        # Why here and not as the field's type: its models are built only for specs that have the section
        # (a tenth of `snnc validate`); errors keep their paths (memristor.adc_bits).
        if value is None:
            return None
        model = LAZY_SECTIONS["memristor"]()
        return value if isinstance(value, model) else model.model_validate(value)

    @field_validator("params")
    @classmethod
    def _params_are_scalars(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, v in value.items():
            if not re.match(NAME_PATTERN, key):
                raise ValueError(f"parameter name '{key}' must be an identifier")
            if not isinstance(v, (int, float, str, bool, list)) and v is not None:
                raise ValueError(f"parameter '{key}' must be a number, string, boolean or list")
        return value
