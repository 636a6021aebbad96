"""The ``burst`` target object: options of the conversion and how a trained ann becomes a :class:`BurstSNN`."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from ...errors import UnsupportedError
from ...spec.models import MAX_TIMESTEPS
from ..base import Target, TargetOptions

MAX_GAMMA = 64
"""The largest burst a neuron may fire in one step."""


class BurstOptions(TargetOptions):
    """Options of the burst conversion (see :func:`~.convert.convert`)."""

    method: Literal["burst", "if"] = Field("burst", description="burst neurons, or plain IF (gamma = 1)")
    gamma: Optional[int] = Field(None, ge=1, le=MAX_GAMMA, description="the largest burst per step "
                                 "(default 5; 1: IF)")
    percentile: Optional[float] = Field(None, gt=0, le=100, description="activation percentile that sets each "
                                        "threshold (default: the converter's)")
    channelwise: bool = Field(False, description="one threshold per channel")
    normalization: Literal["percentile", "max"] = Field("percentile", description="threshold from a percentile "
                                                        "or the largest activation")
    timesteps: int = Field(64, ge=1, le=MAX_TIMESTEPS, description="time steps per call")
    v_init: float = Field(0.5, ge=0, lt=1, description="initial membrane as a fraction of the threshold")
    max_batches: Optional[int] = Field(None, ge=1, description="calibrate on at most this many batches")
    fold_batch: int = Field(256, ge=1, le=1 << 24, description="the most samples (steps × batch) one pass folds")
    calibrate: Optional[list[str]] = Field(
        None, description="calibration after conversion (Li et al. 2021): threshold (search), bias, potential "
        "(initial membrane), a list of them, full (all) or none (default: threshold,bias)")
    calibration_timesteps: Optional[int] = Field(None, ge=1, le=MAX_TIMESTEPS, description="the T the "
                                                 "calibration aims at (default 8)")

    @field_validator("calibrate", mode="before")
    @classmethod
    def _steps(cls, value):
        """The steps as a list in their order ([] for none) from a name, a comma-separated string or a list; a
        bad value is one error naming the choices."""
        from ...errors import SnncError
        from .calibrate import parse_steps

        try:
            return None if value is None else list(parse_steps(value))
        except SnncError as exc:
            raise ValueError(str(exc)) from None


class BurstTarget(Target):
    """The ``burst`` target: a trained ANN converted to burst spikes (Li & Zeng, IJCAI 2022)."""

    name = "burst"
    description = "a trained ANN converted to a burst-spike SNN (Li & Zeng, IJCAI 2022)"
    Options = BurstOptions
    spiking = True
    needs_trained_ann = True
    calibrates = True
    spike_roles = "burst"
    title = "burst SNN"
    neuron_label = "burst neuron (IF, k·θ)"
    cost_notes = ("burst: spikes carry k·θ; a burst of k spikes counts k; batch-norm is folded, max-pooling is "
                  "LIPooling; time-invariant layers are charged once though the runner recomputes them each step",)

    def build(self, ann, options: BurstOptions, *, calibration=None, consume=False):
        if calibration is None:
            raise UnsupportedError("the burst target converts a trained ANN with calibration data: use "
                                   "snnc.convert(model, calibration, ...) or 'snnc compile SPEC --target burst "
                                   "--checkpoint ANN.pt --calibration DATASET[:N]'")
        from ...calibration import calibration_label
        from .convert import convert

        snn = convert(ann, calibration, **options.model_dump(exclude_none=True))
        label = calibration_label(calibration)
        if label:
            snn.config["calibration"] = str(label)
        return snn

    def skeleton(self, ann, options: BurstOptions, extras=None):
        """Why a placeholder calibration: a converted network's structure (folded layers, a neuron per ReLU
        site, threshold shapes) depends only on the spec and the settings; every value is in the state dict."""
        import torch

        graph = ann.meta["snnc_graph"]
        return self.build(ann, options, calibration=torch.ones(2, *graph.input.shape))

    def extras(self, module) -> dict:
        # The conversion record (calibration data and samples, ...) is not needed to rebuild, but is kept; so are
        # the neurons whose Γ is not the network's (a QCFS site fires up to L spikes of λ/L: TrainedThreshold).
        gammas = {n: m.gamma for n, m in module.neurons().items() if m.gamma != module.config.get("gamma")}
        return {"config": dict(module.config), **({"site_gammas": gammas} if gammas else {})}

    def restore(self, module, extras) -> None:
        module.config.update(extras.get("config") or {})
        for name, gamma in (extras.get("site_gammas") or {}).items():
            module.neurons()[name].gamma = int(gamma)

    def describe(self, module) -> list[str]:
        from torch import nn

        from .neurons import LIPool

        synaptic = (nn.Linear, nn.modules.conv._ConvNd)  # what the cost report charges: MACs or SOPs
        cfg = module.config
        gamma = cfg.get("gamma")
        kind = "IF neurons" if gamma == 1 else f"burst neurons, Γ = {gamma}"
        lines = [f"{kind}, T = {module.timesteps}, thresholds: percentile {cfg.get('percentile'):g} "
                 f"({cfg.get('normalization')}{', per channel' if cfg.get('channelwise') else ''}), "
                 f"v_init {cfg.get('v_init')}θ"]
        if cfg.get("calibrate"):
            lines.append(f"calibrated after conversion for T = {cfg.get('calibration_timesteps')}: "
                         f"{', '.join(cfg['calibrate'])} ({cfg.get('calibration_images')} images, "
                         f"{cfg.get('calibration_seconds')} s)")
        for name, theta in module.thresholds().items():
            flat = theta.detach().flatten()
            text = f"{float(flat[0]):.4g}" if flat.numel() == 1 else \
                f"{float(flat.min()):.4g} … {float(flat.max()):.4g} ({flat.numel()} channels)"
            lines.append(f"  {name}: θ = {text}")
        modules = dict(module.network.named_modules())
        pools = [n for n, m in modules.items() if isinstance(m, LIPool)]
        # Why only conv/linear: neurons, pooling and additions with analog input are not charged (docs/costs.md)
        analog = [n for n, spikes in module.input_is_spikes().items()
                  if not spikes and isinstance(modules.get(n), synaptic)]
        lines.append(f"{len(module.neurons())} neuron layers; max-pooling by lateral inhibition (LIPool): "
                     f"{', '.join(pools) or 'none'}; synaptic layers with analog input (charged as MACs): "
                     f"{', '.join(analog) or 'none'}")
        return lines

TARGET = BurstTarget()
