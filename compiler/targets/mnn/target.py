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
    description = "memristive crossbar network simulated by MemTorch"
    Options = MnnOptions
    needs_trained_ann = True
    takes_spiking_source = True
    spike_roles = "ann"
    title = "MNN"
    cost_notes = ("mnn: the synaptic layers run on memristive crossbars; the MACs and energy above are those of the "
                  "network they carry, the crossbar figures (tiles, devices, ADC conversions, energy) are below",)

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

    def hardware_costs(self, graph, options: MnnOptions, *, source: Mapping[str, Any] | None = None):
        """Tiles, devices, ADC conversions and the energy estimate per inference (:mod:`.cost`).

        A spiking source (``source["timesteps"]``) reads its crossbars every step, except the layers before its
        first neuron (their input is the same at every step: they run once, as the snn target runs them).
        """
        from ...passes.spike_values import infer_spike_values
        from ..registry import get_target
        from .cost import DEFAULT_ENERGY, crossbar_cost, geometry_from_graph

        steps = int((source or {}).get("timesteps") or 1)
        runs = {}
        if steps > 1:
            values = infer_spike_values(graph, target=get_target("snn").spike_roles)
            runs = {n.name: 1 for n in graph.nodes if values[n.name].input_time_invariant}
        costs = crossbar_cost(geometry_from_graph(graph, options), DEFAULT_ENERGY, timesteps=steps, runs=runs)
        e = DEFAULT_ENERGY
        costs["notes"] = [
            f"crossbar energy per inference = ADC conversions x E_ADC(bits) + device reads x E_cell + row drives x "
            f"E_DAC + digital read-out ops; E_ADC(b) = E_ADC(8)·2^(b-8), E_ADC(8) {e.adc_8bit_pj:.3g} pJ, E_cell "
            f"{e.cell_read_pj * 1e3:.3g} fJ, E_DAC {e.dac_pj:.3g} pJ, mult/add {e.digital_mult_pj:g}/"
            f"{e.digital_add_pj:g} pJ ({e.reference}); an order-of-magnitude estimate, assumptions in docs/costs.md",
            "devices: every cell of every tile MemTorch allocates (padding included); used: cells holding a weight",
        ]
        if steps > 1:
            once = [g for g, r in runs.items() if g in {row["name"] for row in costs["layers"]}]
            costs["notes"].append(f"spiking source, T = {steps}: every crossbar is read every step"
                                  + (f" except {', '.join(once)} (input the same at every step: read once)"
                                     if once else "") + "; spike sparsity is not exploited (dense reads)")
        costs["source"] = dict(source or {})
        return costs

    def describe(self, module) -> list[str]:
        from .build import crossbar_modules

        layers = crossbar_modules(module)
        return [f"{len(layers)} layers on crossbars: {', '.join(layers)}"]


TARGET = MnnTarget()
