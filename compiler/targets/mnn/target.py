"""The ``mnn`` target object: a trained ann or snn with its conv and linear layers on simulated crossbars.

Its options are the spec's ``memristor:`` section (:class:`~.options.MnnOptions`); options given to
``snnc.compile`` / ``--option`` merge over the section key by key. A saved mnn network keeps its programmed
crossbars (conductances, tiles, ADC settings) beside the weights, so loading it needs no MemTorch.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..base import Target
from .options import MnnOptions, resolve_options


class MnnTarget(Target):
    """The ``mnn`` target: MemTorch-programmed crossbars, run by snnc's batched engine."""

    name = "mnn"
    description = "memristive crossbar network simulated by MemTorch (from a trained ann or snn)"
    Options = MnnOptions
    needs_trained_ann = True
    takes_spiking_source = True
    spike_roles = "ann"
    title = "MNN"
    cost_notes = ("mnn: the synaptic layers run on memristive crossbars; the figures are those of the network they "
                  "carry (crossbar tiles, devices and ADC conversions are in docs/mnn.md)",)

    def check_available(self) -> None:
        from .build import require_memtorch

        require_memtorch()

    def spec_defaults(self, spec: Any) -> dict[str, Any]:
        section = getattr(spec, "memristor", None)
        return section.model_dump() if section is not None else {}

    def options(self, values: Mapping[str, Any] | Any = None, defaults: Mapping[str, Any] | None = None):
        if isinstance(values, MnnOptions) and not defaults:
            return values
        if isinstance(values, MnnOptions):
            values = values.model_dump()
        return resolve_options(dict(defaults or {}), dict(values or {}))

    def build(self, ann, options: MnnOptions, *, calibration=None, consume=False):
        from .build import to_mnn

        return to_mnn(ann, options)

    def extras(self, module) -> dict[str, Any]:
        from ..base import is_spiking
        from .engine import crossbar_state

        source = {"kind": "snn" if is_spiking(module) else "ann"}
        if is_spiking(module):
            source["timesteps"] = int(module.timesteps)
        return {"crossbars": crossbar_state(module), "source": source}

    def skeleton(self, ann, options: MnnOptions, extras: Mapping[str, Any] | None = None):
        from ...errors import DataError
        from .engine import load_crossbars

        if not extras or "crossbars" not in extras:
            raise DataError("this mnn artifact holds no programmed crossbars; compile it again with "
                            "'snnc compile SPEC --target mnn --checkpoint TRAINED.pt -o FILE'")
        source = dict(extras.get("source") or {})
        network = ann
        if source.get("kind") == "snn":
            from ..snn.rewrite import ann_to_snn

            network = ann_to_snn(ann, timesteps=source.get("timesteps"))
        return load_crossbars(network, extras["crossbars"])

    def describe(self, module) -> list[str]:
        from .build import crossbar_modules

        layers = crossbar_modules(module)
        return [f"{len(layers)} layers on crossbars: {', '.join(layers)}"]


TARGET = MnnTarget()
