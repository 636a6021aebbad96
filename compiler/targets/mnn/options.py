"""Options of the ``mnn`` target: the spec's ``memristor:`` section, one pydantic model for both (no torch here).

The model itself lives in :mod:`snnc.compiler.spec.memristor` so that the spec layer validates it without this
package; :func:`resolve_options` merges a spec's section with options given on the command line or in the API.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import ValidationError

from ...errors import Diagnostic, SpecError
from ...spec.memristor import (DEVICE_MODELS, DEVICE_PARAMS, NONIDEALITY_ORDER, CrossbarOptions, MemristorSpec,
                               NonIdealities)

MnnOptions = MemristorSpec
"""The ``mnn`` target's options (``extra="forbid"``, every field bounded); see :class:`MemristorSpec`."""

__all__ = ["MnnOptions", "CrossbarOptions", "NonIdealities", "DEVICE_MODELS", "DEVICE_PARAMS", "NONIDEALITY_ORDER",
           "resolve_options"]


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def resolve_options(section: MnnOptions | Mapping[str, Any] | None = None,
                    overrides: Mapping[str, Any] | None = None) -> MnnOptions:
    """The options a build uses: the spec's ``memristor:`` section with ``overrides`` merged over it (nested
    mappings such as ``nonidealities`` merge key by key).

    Args:
        section: the spec's section (a model, plain data, or None for the defaults).
        overrides: keys given by the caller (CLI or API), e.g. ``{"adc_bits": 6}``.

    Returns:
        The validated options.

    Raises:
        SpecError: an option is invalid: one diagnostic per problem, located at the option's path (file
            ``<mnn options>``), e.g. ``adc_bits: must be 2..16 bits``.
    """
    base = section.model_dump() if isinstance(section, MemristorSpec) else dict(section or {})
    try:
        return MnnOptions.model_validate(_merge(base, overrides or {}))
    except ValidationError as exc:
        raise SpecError([Diagnostic(err["msg"].removeprefix("Value error, "), path=tuple(err["loc"]),
                                    file="<mnn options>") for err in exc.errors()]) from None
