"""The settings of a training run: :class:`TrainConfig`, the settings a resume may change, and :func:`make_config`.

Why a module of its own: the config is plain data (pydantic, no torch), so the CLI can build ``snnc train``'s
options from its fields and a study can check its recipes without importing the trainer and torch.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snnc.compiler.spec.models import MAX_TIMESTEPS
from snnc.compiler.targets.base import validate_options

CHECKPOINT_MINUTES = 2.0
"""Default minutes between resumable checkpoints within an epoch."""


class TrainConfig(BaseModel):
    """Every setting of a training run; ``config.json`` is its dump, and resuming compares dumps."""

    model_config = ConfigDict(extra="forbid")

    # Why the descriptions: they are also `snnc train`'s help (snnc/commands/train.py builds its options from
    # these fields: names, defaults and the help in one place; a default is added to the help unless it says one).
    target: str = Field("snn", description="snn (BPTT with surrogate gradients) or ann")
    target_options: dict[str, Any] = Field(default_factory=dict, description="the target's options (its "
                                           "Options model; 'snnc targets' lists them)")
    dataset: str = Field("mnist-sample", description="dataset name: mnist-sample (bundled), mnist, fashion-mnist, "
                         "cifar10, ...")
    dataset_options: dict[str, Any] = Field(default_factory=dict, description="options of the dataset, e.g. "
                                            "envs=[0.1,0.2] for irm-colored-mnist")
    data_dir: Optional[str] = Field(None, description="folder holding the dataset's files (default: "
                                    "$SNNC_DATA_DIR, then ../shared/data)")
    epochs: int = Field(5, ge=1, le=1_000_000, description="total epochs")
    batch_size: int = Field(128, ge=1, le=1_000_000, description="samples per batch")
    lr: float = Field(2e-3, gt=0, allow_inf_nan=False, description="learning rate")
    optimizer: Literal["adam", "sgd"] = Field("adam", description="adam or sgd (momentum 0.9)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's betas")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay of the optimizer")
    schedule: Optional[Literal["cosine", "step"]] = Field(None, description="learning-rate schedule: none, cosine "
                                                          "or step (default: none)")
    loss: Optional[str] = Field(None, description="ce_rate_loss, ce_count_loss, mse_count_loss, "
                                "ce_max_membrane_loss, mse_membrane_loss, ce_membrane_per_step (snn); "
                                "cross_entropy (ann) (default: from the spec's decoding)")
    loss_options: dict[str, Any] = Field(default_factory=dict, description="options of the loss, e.g. "
                                         "correct_rate=0.8")
    method: str = Field("erm", description="training method: erm (default), ... (the loss of each step; "
                        "'snnc methods' lists them)")
    method_options: dict[str, Any] = Field(default_factory=dict, description="options of the method")
    strategy: str = Field("single", description="single or ddp (default: ddp under torchrun, else single)")
    device: Literal["cpu", "cuda", "auto"] = Field("cpu", description="where to run: cpu, cuda or auto (cuda "
                                                   "when torch sees a GPU); default: cpu")
    seed: int = Field(0, description="seed of initialisation, split and data order")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of the training split held out for "
                                "validation; 0 uses it all and picks best.pt on training accuracy (default: the "
                                "spec's training: recipe, else 0.1)")
    timesteps: Optional[int] = Field(None, ge=1, le=MAX_TIMESTEPS, description="override the spec's time steps "
                                     "(snn)")
    limit_train: Optional[int] = Field(None, ge=1, description="use only the first N training samples")
    limit_test: Optional[int] = Field(None, ge=0, description="evaluate on the first N test samples (0: skip the "
                                      "test evaluation)")
    init: Optional[str] = Field(None, description="start from the weights of this checkpoint (fine-tuning; ann "
                                "weights may start an snn)")
    params: dict[str, Any] = Field(default_factory=dict, description="spec parameter overrides")
    compile: bool = Field(False, description="run the model through torch.compile")
    plots: bool = Field(True, description="write PNG plots")
    checkpoint_every: Optional[int] = Field(None, ge=1, description="also save a resumable last.pt every N steps "
                                            f"within an epoch (default: every {CHECKPOINT_MINUTES:g} minutes)")
    checkpoint_minutes: float = Field(CHECKPOINT_MINUTES, gt=0, description="minutes between checkpoints "
                                      "within an epoch (when checkpoint_every is not set)")

    @field_validator("schedule", mode="before")
    @classmethod
    def _no_schedule(cls, value: Any) -> Any:
        return None if value in ("", "none", "None") else value


RESUME_FREE: Mapping[str, str] = MappingProxyType({
    "epochs": "run", "limit_test": "run", "data_dir": "run", "device": "run",
    "compile": "session", "plots": "session", "checkpoint_every": "session", "checkpoint_minutes": "session"})
"""The one list of settings that may differ when resuming (all others must equal the run's; ``epochs`` only
without a schedule), each with where a resumed ``snnc train`` takes it from when not given again: ``run``, the
run's ``config.json``; ``session``, this session's default (how this process runs and saves, not the run's plan)."""

RESUME_IGNORED = tuple(RESUME_FREE)
"""The settings of :data:`RESUME_FREE` (the trainer does not compare them when resuming)."""


def make_config(values: Mapping[str, Any] | None = None, **more: Any) -> TrainConfig:
    """A :class:`TrainConfig` from plain values, with every problem in one error naming the setting.

    Raises:
        OptionsError: an unknown setting (with did-you-mean) or a bad value.
    """
    merged = {k: v for k, v in {**dict(values or {}), **more}.items() if v is not None}
    return validate_options(TrainConfig, merged, "training")


__all__ = ["CHECKPOINT_MINUTES", "RESUME_FREE", "RESUME_IGNORED", "TrainConfig", "make_config"]
