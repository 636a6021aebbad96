"""The settings of a training run: :class:`TrainConfig`, the settings a resume may change, and :func:`make_config`.

Why a module of its own: the config is plain data (pydantic, no torch), so the CLI can build ``snnc train``'s
options from its fields and a study can check its recipes without importing the trainer and torch.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snnc.compiler.spec.models import MAX_TIMESTEPS
from snnc.compiler.targets.base import validate_options

CHECKPOINT_MINUTES = 2.0
"""Default minutes between resumable checkpoints within an epoch."""


class TrainConfig(BaseModel):
    """Every setting of a training run; ``config.json`` is its dump, and resuming compares dumps."""

    model_config = ConfigDict(extra="forbid")

    target: str = "snn"
    target_options: dict[str, Any] = Field(default_factory=dict)
    dataset: str = "mnist-sample"
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    data_dir: Optional[str] = None
    epochs: int = Field(5, ge=1, le=1_000_000)
    batch_size: int = Field(128, ge=1, le=1_000_000)
    lr: float = Field(2e-3, gt=0, allow_inf_nan=False)
    optimizer: Literal["adam", "sgd"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Optional[Literal["cosine", "step"]] = None
    loss: Optional[str] = None
    loss_options: dict[str, Any] = Field(default_factory=dict)
    method: str = "erm"
    method_options: dict[str, Any] = Field(default_factory=dict)
    strategy: str = "single"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    seed: int = 0
    val_fraction: float = Field(0.1, ge=0, lt=1)
    timesteps: Optional[int] = Field(None, ge=1, le=MAX_TIMESTEPS)
    limit_train: Optional[int] = Field(None, ge=1)
    limit_test: Optional[int] = Field(None, ge=0)
    init: Optional[str] = Field(None, description="a checkpoint or artifact whose weights the run starts from "
                                "(fine-tuning); ann weights may start an snn")
    params: dict[str, Any] = Field(default_factory=dict)
    compile: bool = False
    plots: bool = True
    checkpoint_every: Optional[int] = Field(None, ge=1, description="steps between checkpoints within an epoch")
    checkpoint_minutes: float = Field(CHECKPOINT_MINUTES, gt=0, description="minutes between checkpoints "
                                      "within an epoch (when checkpoint_every is not set)")

    @field_validator("schedule", mode="before")
    @classmethod
    def _no_schedule(cls, value: Any) -> Any:
        return None if value in ("", "none", "None") else value


RESUME_IGNORED = ("epochs", "limit_test", "data_dir", "compile", "plots", "checkpoint_every", "checkpoint_minutes",
                  "device")
"""Settings that may differ when resuming (all others must equal the run's; ``epochs`` only without a schedule)."""


def make_config(values: Mapping[str, Any] | None = None, **more: Any) -> TrainConfig:
    """A :class:`TrainConfig` from plain values, with every problem in one error naming the setting.

    Raises:
        OptionsError: an unknown setting (with did-you-mean) or a bad value.
    """
    merged = {k: v for k, v in {**dict(values or {}), **more}.items() if v is not None}
    return validate_options(TrainConfig, merged, "training")


__all__ = ["CHECKPOINT_MINUTES", "RESUME_IGNORED", "TrainConfig", "make_config"]
