"""Energy per operation: the :class:`Technology` tables (Horowitz's 45 nm presets, or a user's YAML/JSON file)
and ``E = ΣMAC·E_MAC + ΣSOP·E_AC``.

Pure data and arithmetic: no torch, so a study can check its technology before anything is built.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from snnc.compiler.errors import DataError, SnncError, did_you_mean


@dataclass(frozen=True)
class Technology:
    """Energy per operation of one hardware technology.

    Attributes:
        name: a short name (``45nm-fp32``).
        e_mac_pj: energy of one multiply-accumulate, in picojoules.
        e_ac_pj: energy of one accumulate (one synaptic operation), in picojoules.
        reference: where the numbers come from.
        description: what the numbers are (e.g. "fp32 mult 3.7 + add 0.9").
    """

    name: str
    e_mac_pj: float
    e_ac_pj: float
    reference: str
    description: str = ""


_HOROWITZ = "M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014, 45 nm, 0.9 V"

TECHNOLOGIES: Mapping[str, Technology] = {
    "45nm-fp32": Technology("45nm-fp32", 4.6, 0.9, _HOROWITZ, "fp32: MAC = mult 3.7 pJ + add 0.9 pJ; AC = add"),
    "45nm-fp16": Technology("45nm-fp16", 1.5, 0.4, _HOROWITZ, "fp16: MAC = mult 1.1 pJ + add 0.4 pJ; AC = add"),
    "45nm-int32": Technology("45nm-int32", 3.2, 0.1, _HOROWITZ, "int32: MAC = mult 3.1 pJ + add 0.1 pJ; AC = add"),
    "45nm-int8": Technology("45nm-int8", 0.23, 0.03, _HOROWITZ, "int8: MAC = mult 0.2 pJ + add 0.03 pJ; AC = add"),
}
"""The preset technologies (Horowitz 2014's 45 nm figures)."""

DEFAULT_TECHNOLOGY = "45nm-fp32"
"""The technology used when none is named (the usual choice of SNN energy comparisons)."""

_TECH_FIELDS = ("name", "e_mac_pj", "e_ac_pj", "reference")


def load_technology(tech: "str | Path | Technology | Mapping[str, Any]" = DEFAULT_TECHNOLOGY) -> Technology:
    """A technology from a preset name, a YAML/JSON file, a mapping, or a :class:`Technology`.

    A file (or mapping) holds ``name``, ``e_mac_pj``, ``e_ac_pj`` (positive numbers, picojoules) and
    ``reference``, optionally ``description``.

    Raises:
        SnncError: neither a preset nor an existing file (the message lists the presets).
        DataError: the file is unreadable or its fields are missing or invalid.
    """
    if isinstance(tech, Technology):
        return tech
    if isinstance(tech, Mapping):
        return _technology_from_mapping(dict(tech), "the technology table")
    text = str(tech)
    if text in TECHNOLOGIES:
        return TECHNOLOGIES[text]
    path = Path(text)
    if not path.is_file():
        raise SnncError(f"unknown technology '{text}': not a preset and no such file.{did_you_mean(text, TECHNOLOGIES)}"
                        f" Presets: {', '.join(TECHNOLOGIES)}; or give a YAML/JSON file with "
                        f"{', '.join(_TECH_FIELDS)}")
    try:
        raw = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            import yaml

            data = yaml.safe_load(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read the technology file '{path}': {exc}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise DataError(f"cannot parse the technology file '{path}': {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise DataError(f"the technology file '{path}' must hold a mapping with {', '.join(_TECH_FIELDS)}")
    return _technology_from_mapping(data, f"the technology file '{path}'")


def _technology_from_mapping(data: dict[str, Any], where: str) -> Technology:
    missing = [k for k in _TECH_FIELDS if k not in data]
    unknown = [k for k in data if k not in (*_TECH_FIELDS, "description")]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise DataError(f"{where}: {'; '.join(parts)} (fields: {', '.join(_TECH_FIELDS)}, description)")
    values = {}
    for key in ("e_mac_pj", "e_ac_pj"):
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise DataError(f"{where}: {key} must be a positive number of picojoules, got {v!r}")
        values[key] = float(v)
    return Technology(str(data["name"]), values["e_mac_pj"], values["e_ac_pj"], str(data["reference"]),
                      str(data.get("description", "")))


def energy_uj(macs: float, sops: float, tech: Technology) -> float:
    """``macs·E_MAC + sops·E_AC`` in microjoules."""
    return (macs * tech.e_mac_pj + sops * tech.e_ac_pj) * 1e-6


__all__ = ["DEFAULT_TECHNOLOGY", "TECHNOLOGIES", "Technology", "energy_uj", "load_technology"]
