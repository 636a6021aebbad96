"""Crossbar costs of an mnn network: tiles, devices, ADC conversions and an energy estimate (pure arithmetic).

No torch and no MemTorch: the inputs are layer geometries (:class:`CrossbarGeometry`, from the IR with
:func:`geometry_from_graph`) and per-operation energies (:class:`CrossbarEnergy`). Counting conventions, for one
sample and one time step (a spiking network reads its crossbars every step: pass ``timesteps``):

* a **read** is one input vector applied to a layer's crossbars: 1 per sample for a linear layer, one per output
  position (``H_out · W_out``) for a convolution (MemTorch unfolds it into a matrix product);
* **tiles** per crossbar ``= ⌈rows / tile_rows⌉ · ⌈columns / tile_cols⌉``; **devices** programmed
  ``= crossbars · tiles · tile_rows · tile_cols`` (padding cells included, as MemTorch allocates them);
  ``devices_used = crossbars · rows · columns``;
* **ADC conversions** per read ``= ⌈rows / tile_rows⌉ · columns``: each tile row of tiles converts the
  (differential) current of every used column once; the partial sums are added digitally;
* **row drives** (DAC) per read ``= ⌈columns / tile_cols⌉ · rows``: every tile column of tiles is driven;
* **digital operations** per read: ``(⌈rows/tile_rows⌉ − 1) · columns`` partial-sum additions and, per output,
  the read-out correction and bias (one multiply, two additions).

Energy = conversions · E_ADC(bits) + devices read · E_cell + row drives · E_DAC + digital operations, with
``E_ADC(b) = E_ADC(8) · 2^(b − 8)`` (an ADC's energy per conversion doubles per bit at a fixed Walden figure of
merit). The default figures and their sources are in :data:`DEFAULT_ENERGY` and ``docs/mnn.md``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence


@dataclass(frozen=True)
class CrossbarGeometry:
    """One layer on crossbars.

    Attributes:
        name: layer name.
        kind: ``conv2d`` or ``linear``.
        rows: crossbar rows (``in_features``, or ``in_channels · kh · kw``).
        columns: crossbar columns (outputs).
        reads: input vectors per sample and time step.
        tile_shape: ``(tile_rows, tile_cols)`` or None (one crossbar of ``rows × columns``).
        crossbars: crossbars per weight (2 for the double-column scheme, 1 for single column).
        adc_bits: ADC resolution, or None for an ideal read-out (no conversions counted).
    """

    name: str
    kind: str
    rows: int
    columns: int
    reads: int
    tile_shape: Optional[tuple[int, int]] = (128, 128)
    crossbars: int = 2
    adc_bits: Optional[int] = 8


@dataclass(frozen=True)
class CrossbarEnergy:
    """Per-operation energies in picojoules, with where they come from.

    Attributes:
        adc_8bit_pj: one 8-bit ADC conversion.
        cell_read_pj: one device read (one crossbar cycle).
        dac_pj: one row drive (one DAC conversion).
        digital_mult_pj, digital_add_pj: digital multiply and add of the read-out.
        reference: the sources.
    """

    adc_8bit_pj: float = 16e-3 / 8 / 1.28e9 * 1e12  # 1.5625 pJ
    cell_read_pj: float = 2.4e-3 / (8 * 128 * 128) * 100e-9 * 1e12  # 0.00183 pJ = 1.8 fJ
    dac_pj: float = 4e-3 / (8 * 128) * 100e-9 * 1e12  # 0.39 pJ
    digital_mult_pj: float = 3.7
    digital_add_pj: float = 0.9
    reference: str = ("ADC, crossbar arrays and DACs: A. Shafiee et al., ISAAC, ISCA 2016, Table II (32 nm; 8 ADCs of "
                      "8 bits at 1.28 GS/s = 16 mW, 8 arrays of 128x128 = 2.4 mW, 8x128 1-bit DACs = 4 mW, 100 ns "
                      "crossbar cycle); digital fp32 multiply and add: M. Horowitz, ISSCC 2014 (45 nm)")


DEFAULT_ENERGY = CrossbarEnergy()
"""The default per-operation energies (see :class:`CrossbarEnergy` and ``docs/mnn.md``)."""


def _tile_grid(g: CrossbarGeometry) -> tuple[int, int]:
    if g.tile_shape is None:
        return 1, 1
    return math.ceil(g.rows / g.tile_shape[0]), math.ceil(g.columns / g.tile_shape[1])


def layer_cost(g: CrossbarGeometry, energy: CrossbarEnergy = DEFAULT_ENERGY, timesteps: int = 1) -> dict[str, Any]:
    """The costs of one layer per sample (over ``timesteps`` steps), as a JSON-ready dict (energies in pJ)."""
    J, K = _tile_grid(g)
    tr, tc = g.tile_shape if g.tile_shape is not None else (g.rows, g.columns)
    reads = g.reads * timesteps
    devices = g.crossbars * J * K * tr * tc
    used = g.crossbars * g.rows * g.columns
    conversions = reads * J * g.columns if g.adc_bits is not None else 0
    drives = reads * K * g.rows
    adds = reads * ((J - 1) * g.columns + 2 * g.columns)
    mults = reads * g.columns
    e_adc = conversions * energy.adc_8bit_pj * 2.0 ** ((g.adc_bits or 8) - 8)
    e_cells = reads * used * energy.cell_read_pj
    e_dac = drives * energy.dac_pj
    e_digital = adds * energy.digital_add_pj + mults * energy.digital_mult_pj
    return {
        "name": g.name, "kind": g.kind, "rows": g.rows, "columns": g.columns, "tile_shape": g.tile_shape,
        "tiles": J * K, "crossbars": g.crossbars, "devices": devices, "devices_used": used,
        "utilisation": used / devices, "runs": timesteps, "reads": reads, "adc_conversions": conversions, "row_drives": drives,
        "analog_macs": reads * g.rows * g.columns, "digital_adds": adds, "digital_mults": mults,
        "energy_pj": {"adc": e_adc, "cells": e_cells, "dac": e_dac, "digital": e_digital,
                      "total": e_adc + e_cells + e_dac + e_digital},
    }


def crossbar_cost(layers: Iterable[CrossbarGeometry], energy: CrossbarEnergy = DEFAULT_ENERGY,
                  timesteps: int = 1, runs: Optional[Mapping[str, int]] = None) -> dict[str, Any]:
    """The crossbar costs of a network per sample.

    Args:
        layers: the layers on crossbars.
        energy: per-operation energies.
        timesteps: reads per sample of a spiking network (every step reads every crossbar); 1 for an ANN.
        runs: layer name → how many times it runs per sample where that differs from ``timesteps`` (a spiking
            network's layers before its first neuron see the same input every step and run once).

    Returns:
        ``{"layers": [...], "totals": {...}, "energy": {...figures and reference}}``; totals add every count and
        energy over layers, ``energy_uj`` is the total in microjoules.
    """
    runs = dict(runs or {})
    rows = [layer_cost(g, energy, runs.get(g.name, timesteps)) for g in layers]
    keys = ("tiles", "devices", "devices_used", "reads", "adc_conversions", "row_drives", "analog_macs",
            "digital_adds", "digital_mults")
    totals: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    totals["energy_pj"] = {k: sum(r["energy_pj"][k] for r in rows) for k in ("adc", "cells", "dac", "digital",
                                                                             "total")}
    totals["energy_uj"] = totals["energy_pj"]["total"] * 1e-6
    totals["timesteps"] = timesteps
    return {"layers": rows, "totals": totals, "energy": asdict(energy)}


def geometry_from_graph(graph, options) -> list[CrossbarGeometry]:
    """The crossbar geometry of every conv2d and linear node of an IR graph under mnn options.

    Args:
        graph: a :class:`snnc.compiler.ir.Graph` (shapes inferred).
        options: :class:`~snnc.compiler.targets.mnn.options.MnnOptions` (per-layer overrides apply).

    Returns:
        One :class:`CrossbarGeometry` per conv2d / linear node, in graph order.
    """
    out = []
    for node in graph.nodes:
        if node.kind not in ("conv2d", "linear"):
            continue
        opts = options.for_layer(node.name)
        crossbars = 2 if opts.scheme == "double_column" else 1
        tile = None if opts.tile_shape is None else tuple(opts.tile_shape)
        if node.kind == "conv2d":
            rows = node.in_channels // node.groups * node.kernel_size[0] * node.kernel_size[1]
            reads = node.shape[-1] * node.shape[-2]
            cols = node.out_channels
        else:
            rows, cols = node.in_features, node.out_features
            reads = math.prod(node.shape[:-1]) if len(node.shape) > 1 else 1
        out.append(CrossbarGeometry(node.name, node.kind, rows, cols, reads, tile, crossbars, opts.adc_bits))
    return out


def geometry_table(costs: dict[str, Any]) -> Sequence[tuple]:
    """Rows ``(name, kind, tiles, devices, utilisation %, ADC conversions, energy nJ)`` for printing."""
    return [(r["name"], r["kind"], r["tiles"], r["devices"], round(100 * r["utilisation"], 1), r["adc_conversions"],
             round(r["energy_pj"]["total"] * 1e-3, 3)) for r in costs["layers"]]
