"""``hwa``: hardware-aware training for the mnn target — each step runs on weights perturbed as crossbars would.

Every conv and linear layer's weights go through the mnn target's own weight → conductance map
(:mod:`snnc.compiler.targets.mnn.mapping`), get the configured device effects (finite conductance states,
programming noise, stuck devices, drawn afresh every step) and come back as weights; the forward pass uses those,
and the gradient is applied to the stored weights unchanged (straight through), by default also to the map's
scale ``max|w|`` (``range_gradient``). Optional Gaussian input noise. Settings come from the spec's
``memristor:`` section, method options override them; ``docs/mnn.md`` has the details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor, nn

from snnc.compiler.targets.base import OptionsError

from .base import Batch, Method, StepInfo, StepOutput, _is_wrapper


SEED_TAG = 0x687761
"""Mixed into every perturbation seed ("hwa")."""


class HWAOptions(BaseModel):
    """Options of ``hwa``; unset device effects come from the spec's ``memristor:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lrs_proportion: Optional[float] = Field(None, ge=0, le=1, description="share of devices stuck at 1/r_on "
                                            "(default: memristor.nonidealities.device_faults)")
    hrs_proportion: Optional[float] = Field(None, ge=0, le=1, description="share of devices stuck at 1/r_off, "
                                            "electroform failures included (default: device_faults)")
    states: Optional[int] = Field(None, description="conductance states per device; 0 = continuous (default: "
                                  "memristor.nonidealities.finite_conductance_states)")
    programming_noise: float = Field(0.0, ge=0, le=1, description="std of a Gaussian conductance error, as a "
                                     "share of the range 1/r_on - 1/r_off")
    input_noise: float = Field(0.0, ge=0, description="std of Gaussian noise added to the inputs (input units)")
    memristor: dict[str, Any] = Field(default_factory=dict, description="memristor-section keys merged over the "
                                      "spec's (r_on, r_off, scheme, p_l, nonidealities, layers)")
    seed: int = Field(0, ge=0, description="seed of the perturbations (step s draws from seed and s alone)")
    range_gradient: bool = Field(True, description="let the gradient through the map's scale max|w| too, so "
                                 "training can shrink the outlier weights that set every device's step")

    @field_validator("states")
    @classmethod
    def _states(cls, v: Optional[int]) -> Optional[int]:
        if v is not None and v != 0 and not 2 <= v <= 65536:
            raise ValueError(f"states must be 0 (continuous) or 2..65536, got {v}")
        return v

    @model_validator(mode="after")
    def _faults(self):
        if (self.lrs_proportion or 0) + (self.hrs_proportion or 0) > 1:
            raise ValueError("lrs_proportion + hrs_proportion must not exceed 1")
        return self


@dataclass(frozen=True)
class LayerEffects:
    """The device effects injected into one layer.

    Attributes:
        r_on, r_off: resistances (ohms) of the map.
        scheme: ``double_column`` or ``single_column``.
        p_l: MemTorch's proportion of weights kept, or None.
        states: conductance states (0: continuous).
        lrs, hrs: shares of devices stuck at 1/r_on and 1/r_off.
        noise: programming noise std as a share of the conductance range.
    """

    r_on: float
    r_off: float
    scheme: str
    p_l: Optional[float]
    states: int
    lrs: float
    hrs: float
    noise: float

    @property
    def active(self) -> bool:
        return bool(self.states or self.lrs or self.hrs or self.noise)


def layer_effects(options: HWAOptions, crossbar) -> LayerEffects:
    """One layer's effects: its crossbar options (``MnnOptions.for_layer``) with the method's overrides."""
    faults = crossbar.nonidealities.device_faults
    states = crossbar.nonidealities.finite_conductance_states
    lrs = options.lrs_proportion if options.lrs_proportion is not None else (faults.lrs_proportion if faults else 0.0)
    hrs = options.hrs_proportion if options.hrs_proportion is not None else (
        faults.hrs_proportion + faults.electroform_proportion if faults else 0.0)
    n = options.states if options.states is not None else (states.states if states else 0)
    r_on, r_off = crossbar.resistances
    return LayerEffects(r_on, r_off, crossbar.scheme, crossbar.p_l, int(n), float(lrs), float(hrs),
                        float(options.programming_noise))


def _perturbed_conductances(weight: Tensor, fx: LayerEffects, generator: Optional[torch.Generator]):
    """``(mapped, perturbed crossbars)``: the weight's conductances and what the device effects make of them."""
    from snnc.compiler.targets.mnn.mapping import map_weight, quantize_states, stick

    with torch.no_grad():
        mapped = map_weight(weight.detach(), fx.r_on, fx.r_off, fx.scheme, fx.p_l)
        lo, hi = mapped.g_min, mapped.g_max
        out = []
        for g in mapped.crossbars:
            if fx.states:
                g = quantize_states(g, fx.states, lo, hi)
            if fx.noise:
                noise = torch.randn(g.shape, generator=generator, device=generator.device if generator else None)
                g = (g + noise.to(g.device) * (fx.noise * (hi - lo))).clamp(lo, hi)
            g = stick(g, fx.lrs, fx.hrs, lo, hi, generator)
            out.append(g)
    return mapped, tuple(out)


def perturb(weight: Tensor, fx: LayerEffects, generator: Optional[torch.Generator] = None) -> Tensor:
    """The weight a crossbar programmed with ``weight`` would hold under ``fx`` (no gradient).

    Map onto conductances (the mnn target's :func:`~snnc.compiler.targets.mnn.mapping.naive_map`), then per
    device: quantise to ``states`` levels, add programming noise (clamped to the device range), stick devices
    at LRS/HRS; map back (:meth:`~snnc.compiler.targets.mnn.mapping.Mapped.weight`).
    """
    mapped, out = _perturbed_conductances(weight, fx, generator)
    return mapped.weight(out).to(weight.dtype)


def forward_weight(weight: Tensor, fx: LayerEffects, generator: Optional[torch.Generator] = None,
                   range_gradient: bool = False) -> Tensor:
    """The weight the forward pass uses: :func:`perturb`'s value, with the gradient of ``weight`` (straight
    through: ``w + stopgrad(perturb(w) − w)``).

    With ``range_gradient`` the conductance changes ``ΔG`` stay fixed but their scale back to weights,
    ``(w_max − w_min)/(1/r_on − 1/r_off)``, keeps its gradient: a stuck or coarsely quantised device then
    costs in proportion to the layer's ``max|w|``, and training can lower it (the outlier weight that sets it).
    """
    mapped, out = _perturbed_conductances(weight, fx, generator)
    if not range_gradient:
        return weight + (mapped.weight(out).to(weight.dtype) - weight).detach()
    from snnc.compiler.targets.mnn.mapping import weight_range

    w_min, w_max = weight_range(weight, fx.r_on, fx.r_off, fx.p_l, detach=False)
    scale = (w_max - w_min) / (mapped.g_max - mapped.g_min)
    delta = [(g2 - g1) for g1, g2 in zip(mapped.crossbars, out)]
    change = (delta[0] - delta[1]) if len(delta) == 2 else delta[0]
    # Why the clean residual: the map itself may move a weight (single column clamps negatives, p_l clips);
    # the forward must see what the crossbar holds, with the gradient still reaching the scale.
    clean = mapped.weight().to(weight.dtype)
    return weight + (clean - weight).detach() + change.to(weight.dtype) * scale


class HWA(Method):
    """Hardware-aware training: the run's loss on the network with crossbar-perturbed weights (see
    :func:`forward_weight`)."""

    name = "hwa"
    description = ("hardware-aware training for mnn: each step's forward uses weights with stuck devices, finite "
                   "conductance states and programming noise (memristor settings), gradients go to the clean weights")
    Options = HWAOptions

    def __init__(self, options: HWAOptions, context):
        super().__init__(options, context)
        from snnc.compiler.targets.mnn.options import resolve_options

        section = getattr(context.spec, "memristor", None) if context.spec is not None else None
        self.memristor = resolve_options(section, options.memristor)
        self._layers: Optional[dict[str, LayerEffects]] = None
        if not options.input_noise and not self._any_effect(self.memristor):
            raise OptionsError(
                "method 'hwa': no device effect to inject — the memristor settings configure no stuck devices or "
                "conductance states, and programming_noise and input_noise are 0. Configure them in the spec's "
                "memristor.nonidealities, or e.g. --method-option lrs_proportion=0.05 --method-option "
                "hrs_proportion=0.05 --method-option states=16")

    def _any_effect(self, memristor) -> bool:
        names = ["__all__", *memristor.layers]
        return any(layer_effects(self.options, memristor.for_layer(n) if n != "__all__" else memristor).active
                   for n in names)

    def layers(self, model: nn.Module) -> dict[str, LayerEffects]:
        """Parameter name of each conv/linear weight → its effects (the layers the mnn target puts on crossbars)."""
        if self._layers is None:
            from snnc.compiler.errors import UnsupportedError, did_you_mean
            from snnc.compiler.targets.mnn.build import crossbar_layers

            inner = model.module if _is_wrapper(model) else model
            prefix = "module." if inner is not model else ""
            found = crossbar_layers(inner)
            unknown = sorted(set(self.memristor.layers) - set(found))
            if unknown:
                raise UnsupportedError("memristor.layers names layers that are not conv or linear layers of the "
                                       "network: " + ", ".join(f"'{n}'.{did_you_mean(n, found)}" for n in unknown))
            self._layers = {f"{prefix}{name}.weight": layer_effects(self.options, self.memristor.for_layer(name))
                            for name in found}
        return self._layers

    def generator(self, step: int, device: torch.device) -> torch.Generator:
        """The generator of step ``step``: seeded by the option ``seed`` and the step alone (so a resumed run
        draws what an uninterrupted one does). Why a SeedSequence: a plain ``seed + step`` would, at step 0 with
        seed 0, replay the stream that initialised the weights (the trainer seeds torch with its seed)."""
        import numpy as np

        mixed = np.random.SeedSequence([SEED_TAG, self.options.seed, step]).generate_state(1, np.uint64)[0]
        return torch.Generator(device=device).manual_seed(int(mixed))

    def perturbed(self, model: nn.Module, generator: torch.Generator) -> dict[str, Tensor]:
        """Parameter name → the weight the forward pass uses (``w + stopgrad(perturb(w) − w)``)."""
        params = dict(model.named_parameters())
        out = {}
        for name, fx in self.layers(model).items():
            w = params[name]
            if fx.active:
                out[name] = forward_weight(w, fx, generator, self.options.range_gradient)
        return out

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        gen = self.generator(info.step, batch.x.device)
        x = batch.x
        if self.options.input_noise:
            x = x + self.options.input_noise * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        weights = self.perturbed(model, gen)
        output = torch.func.functional_call(model, weights, (x,), strict=False)
        with torch.no_grad():
            params = dict(model.named_parameters())
            change = sum(float((w - params[n]).abs().sum()) for n, w in weights.items())
            scale = sum(float(params[n].abs().sum()) for n in weights) or 1.0
        return StepOutput(self.context.loss_fn(output, batch.y), output, {"weight_change": change / scale})
