"""Filling a module with saved weights, with an error a user can act on when they do not fit (the pipeline's
loads, the trainer's ``--init``, the ann weights of a conversion)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


def load_weights(module: "nn.Module", state_dict: Mapping[str, Any], *, where: str, made_from: str | None = None,
                 built_from: str | None = None, strict: bool = True) -> None:
    """``module.load_state_dict(state_dict)`` with an error a user can act on when they do not fit.

    Args:
        module: the module to fill.
        state_dict: the weights.
        where: where they come from, for the message.
        made_from: the name of the spec the weights were made from, if known.
        built_from: the name of the spec ``module`` was built from, if known.
        strict: every key must match (else missing keys of ``module`` are allowed).

    Raises:
        DataError: missing or unexpected keys, or shapes that differ; names the spec the weights were made from.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict] if strict else []
    unexpected = [k for k in state_dict if k not in own]
    wrong = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in state_dict and hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or wrong):
        module.load_state_dict(state_dict, strict=strict)
        return
    if made_from and built_from and made_from != built_from:
        raise DataError(f"{where} was made from spec '{made_from}', but the model is built from spec "
                        f"'{built_from}': their layers differ. Leave the spec out to use the one stored in the "
                        f"checkpoint, or pass the '{made_from}' spec")
    parts = [f"missing {', '.join(missing[:5])}" if missing else "",
             f"unexpected {', '.join(unexpected[:5])}" if unexpected else "",
             f"shape mismatch {', '.join(wrong[:5])}" if wrong else ""]
    raise DataError(f"the weights in {where} do not fit the spec ({'; '.join(p for p in parts if p)}); pass the "
                    "spec the checkpoint was trained from")
