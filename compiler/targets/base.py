"""What a target is, and the contract every spiking network of snnc keeps.

A :class:`Target` carries its name, its validated :attr:`~Target.Options`, a few flags callers ask instead of
comparing names (``target.spiking``, ``target.trainable``, ``target.needs_trained_ann``) and
:meth:`~Target.build`, which lowers the ann ``torch.fx.GraphModule`` of a spec. Targets are found by name in
:data:`snnc.compiler.targets.registry.TARGETS`; adding one is one entry there.

A :class:`SpikingNetwork` (the snn target's ``SpikingModule``, the burst target's ``BurstSNN``) gives decoded
scores for a batch, a recording context that zeroes and collects per-layer spike counts, its neuron counts,
the value one spike carries, and an explicit-state step for streaming inference and export.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, ContextManager, Mapping, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import SnncError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor, fx, nn


class OptionsError(SnncError):
    """A target, method or strategy option that does not validate."""


class TargetOptions(BaseModel):
    """Base of every target's options: unknown keys are errors (with did-you-mean), values are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def build_consuming(target: "Target", ann: "fx.GraphModule", options: BaseModel, **kwargs: Any) -> "nn.Module":
    """``target.build(ann, options, consume=True, ...)``: the caller hands over a fresh ``ann``. Targets written
    before ``consume`` existed (their ``build`` does not take it) are built as before."""
    import inspect

    if "consume" in inspect.signature(target.build).parameters:
        return target.build(ann, options, consume=True, **kwargs)
    return target.build(ann, options, **kwargs)


def validate_options(model: type[BaseModel], values: Mapping[str, Any] | None, owner: str) -> BaseModel:
    """``model(**values)``, with every problem in one :class:`OptionsError` naming the option and the fix.

    Args:
        model: the pydantic options model.
        values: the options given (None: all defaults).
        owner: who takes them, for the message (``"target 'snn'"``).

    Raises:
        OptionsError: unknown options (with did-you-mean and the list of options) or invalid values.
    """
    values = dict(values or {})
    known = list(model.model_fields)
    try:
        return model(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "options"
            if err["type"] == "extra_forbidden":
                hint = did_you_mean(key, known).strip()
                problems.append(f"unknown option '{key}'" + (f" ({hint[0].lower()}{hint[1:]})" if hint else ""))
            else:
                hint = ""
                if err["type"] == "literal_error" and isinstance(err.get("input"), str):
                    choices = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
                    hint = did_you_mean(err["input"], choices).strip()
                problems.append(f"option '{key}': {err['msg']} (got {err.get('input')!r})"
                                + (f" ({hint[0].lower()}{hint[1:]})" if hint else ""))
        listing = ", ".join(known) if known else "none"
        raise OptionsError(f"{owner}: " + "; ".join(problems) + f". Its options: {listing}") from None


class Target:
    """One compilation target. Subclasses set the class attributes and :meth:`build`.

    Attributes:
        name: what ``--target`` takes.
        description: one line for ``snnc targets``.
        Options: the pydantic model of its options.
        spiking: whether its modules are :class:`SpikingNetwork` s.
        trainable: whether ``snnc train`` trains it directly.
        needs_trained_ann: whether it is built from a trained ANN (weights and, for burst, calibration data)
            rather than from the spec alone.
        takes_spiking_source: whether it can also be built from a trained spiking network (an snn checkpoint).
        calibrates: whether its build needs calibration data (burst thresholds) beside the trained weights.
        ann_weights: whether its state dict is the ANN's own (so its weights load into the ann target).
        spike_roles: the table of the ``infer-spike-values`` pass that says what its ops do to spikes.
        cost_notes: what its cost reports must say about how it runs.
        title: what its networks are called in reports (``SNN``).
        neuron_label: how reports name its neuron layers ("" to describe the IR node).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = TargetOptions
    spiking: ClassVar[bool] = False
    trainable: ClassVar[bool] = False
    needs_trained_ann: ClassVar[bool] = False
    takes_spiking_source: ClassVar[bool] = False
    calibrates: ClassVar[bool] = False
    ann_weights: ClassVar[bool] = False
    spike_roles: ClassVar[str] = "ann"
    cost_notes: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str] = "network"
    neuron_label: ClassVar[str] = ""

    @property
    def built_from(self) -> str:
        """What the target is built from, in the words every command uses: ``"the spec"``, ``"a trained ANN"``
        or ``"a trained ann or snn"`` (one rule, from :attr:`needs_trained_ann` and :attr:`takes_spiking_source`)."""
        if not self.needs_trained_ann:
            return "the spec"
        return "a trained ann or snn" if self.takes_spiking_source else "a trained ANN"

    def check_available(self) -> None:
        """Raise :class:`~snnc.compiler.errors.BackendUnavailable` (with the install command) when an optional
        dependency the target needs is missing."""

    def spec_defaults(self, spec: Any) -> dict[str, Any]:
        """Option values the spec itself sets (a section of the spec model), under those given to compile."""
        return {}

    def options(self, values: Mapping[str, Any] | BaseModel | None = None,
                defaults: Mapping[str, Any] | None = None) -> BaseModel:
        """Validate ``values`` (over ``defaults``, see :meth:`spec_defaults`) into this target's :attr:`Options`.

        Raises:
            OptionsError: an unknown option or a bad value.
        """
        if isinstance(values, self.Options) and not defaults:
            return values
        if isinstance(values, BaseModel):
            values = values.model_dump()
        return validate_options(self.Options, {**dict(defaults or {}), **dict(values or {})}, f"target '{self.name}'")

    def build(self, ann: "fx.GraphModule", options: BaseModel, *, calibration: Any = None,
              consume: bool = False) -> "nn.Module":
        """Lower the spec's ann module to this target.

        Args:
            ann: the module from the ann target (carries the IR graph); for targets that
                :attr:`needs_trained_ann`, with trained weights.
            options: validated :attr:`Options`.
            calibration: data the conversion needs (burst thresholds), if any.
            consume: the caller hands ``ann`` over (nobody else holds it), so the build may reuse its modules
                instead of copying them; otherwise ``ann`` is left as it was.
        """
        raise NotImplementedError

    def skeleton(self, ann: "fx.GraphModule", options: BaseModel,
                 extras: Mapping[str, Any] | None = None) -> "nn.Module":
        """A module of this target's structure for a saved state dict to be loaded into, from the spec's ann and
        what :meth:`extras` saved (default: :meth:`build`)."""
        return build_consuming(self, ann, options)

    def hardware_costs(self, graph: Any, options: BaseModel, *,
                       source: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """What running ``graph`` on this target's hardware costs beyond MACs and SOPs (e.g. crossbar tiles, ADC
        conversions and their energy), as JSON-ready data with ``layers``, ``totals`` and ``notes``; None when
        the target adds nothing (``snnc report`` shows it when present).

        Args:
            graph: the IR graph.
            options: validated :attr:`Options`.
            source: what the network was built from, as a built artifact records it (``timesteps`` for a
                spiking source), or None.
        """
        return None

    def describe(self, module: "nn.Module") -> list[str]:
        """Lines saying what was built (``snnc compile`` prints them)."""
        return []

    def extras(self, module: "nn.Module") -> dict[str, Any]:
        """Plain metadata of a built module saved beside its weights (see :meth:`restore`)."""
        return {}

    def restore(self, module: "nn.Module", extras: Mapping[str, Any]) -> None:
        """Put back what :meth:`extras` saved, after the weights are loaded."""


@runtime_checkable
class SpikingNetwork(Protocol):
    """What runtime code may ask of any spiking network, whatever its target (see also :class:`Steppable`).

    Attributes:
        timesteps: ``T``, the steps one call runs by default; ``forward(x, timesteps)`` and
            ``scores(x, timesteps)`` run another ``T`` for one call without changing it.
        output_form: ``"recording"`` when ``forward`` returns ``(spk, mem)`` ``[T, B, ...]`` (trained with
            spiking losses), ``"scores"`` when it returns decoded scores ``[B, ...]``.
    """

    timesteps: int
    output_form: str

    def scores(self, x: "Tensor", timesteps: int | None = None) -> "Tensor":
        """Decoded scores ``[B, ...]`` of an input batch over ``timesteps`` steps (default :attr:`timesteps`)."""

    def decode_output(self, output: Any) -> "Tensor":
        """Scores ``[B, ...]`` from what ``forward`` returned."""

    def recording(self) -> ContextManager[Any]:
        """Zero every layer's spike count and count the calls inside the ``with`` block."""

    def spike_counts(self) -> dict[str, float]:
        """Spikes per neuron layer counted while recording (a burst of ``k`` counts ``k``)."""

    def neuron_counts(self) -> dict[str, int]:
        """Neurons per sample in each neuron layer."""

    def firing_rates(self) -> dict[str, float]:
        """Spikes per neuron per step in each neuron layer while recording."""

    def spike_values(self) -> dict[str, Any]:
        """The value one spike carries in each neuron layer (1 in the snn target, ``θ`` in the burst target)."""

    def layer(self, name: str) -> "nn.Module":
        """The submodule that computes IR node ``name``."""


@runtime_checkable
class Steppable(Protocol):
    """The explicit-state step of a spiking network: streaming inference and the step form of exports."""

    def init_state(self, batch_size: int) -> dict[str, "Tensor"]:
        """The state before the first step, by readable name (``lif1.mem``)."""

    def step(self, x: "Tensor", state: dict[str, "Tensor"]) -> tuple[Any, dict[str, "Tensor"]]:
        """One time step from ``state``: ``(output of the step, new state)``."""


def is_spiking(module: Any) -> bool:
    """Whether ``module`` keeps the :class:`SpikingNetwork` contract."""
    return isinstance(module, SpikingNetwork)
