"""What an export format is, and the helpers every format shares.

An :class:`ExportFormat` carries its name, the file suffix it writes, its validated :attr:`~ExportFormat.Options`
(pydantic, unknown keys refused with did-you-mean, as target options are) and :meth:`~ExportFormat.export`.
Formats are found by name in :data:`snnc.compiler.export.registry.FORMATS`; adding one is a module with a
``FORMAT`` object and one entry there.

The helpers below are what more than one format asks of a model: which kind of network it is
(:func:`export_kind`: plain, a spiking network that returns its recording, or one that returns decoded scores,
asked of the spiking-network contract, never of a target name), its input shape, its spec and target for
metadata, and the seeded batch a ``check`` runs on. Why here: they were imported from the ONNX module by the NIR
and Python exports, so a format could not be read without another.

This module imports no torch at import time (the registry and ``snnc export --help`` read it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..errors import SnncError, UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor, nn


class ExportCheckError(SnncError):
    """An exported file does not reproduce the PyTorch model (says where and by how much)."""


class ExportOptions(BaseModel):
    """Options every format takes: unknown keys are errors (with did-you-mean), values are checked.

    Attributes:
        timesteps: ``T`` of the export and of the check (default: the model's).
        check: compare the exported file with the model and raise :class:`ExportCheckError` if it differs.
        check_inputs: the inputs of the check, a tensor ``[B, ...]`` (default: :func:`check_batch`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    timesteps: Optional[int] = None
    check: bool = False
    check_inputs: Optional[Any] = Field(default=None, description="a tensor [B, ...]")


class ExportFormat:
    """One export format. Subclasses set the class attributes and :meth:`export`.

    Attributes:
        name: what ``--format`` takes.
        description: one line on what the format holds.
        suffix: the file suffix it writes (``.onnx``).
        check_title: what its ``check`` compares, as the title of ``snnc export --check``'s table.
        Options: the pydantic model of its options (a subclass of :class:`ExportOptions`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    check_title: ClassVar[str] = "check"
    targets: ClassVar[Optional[tuple[str, ...]]] = None
    """The targets whose models it takes (None: every target); ``snnc export`` names them in its errors."""
    Options: ClassVar[type[ExportOptions]] = ExportOptions

    def options(self, values: Mapping[str, Any] | ExportOptions | None = None) -> ExportOptions:
        """Validate ``values`` into this format's :attr:`Options`.

        Raises:
            OptionsError: an unknown option (with did-you-mean and the list of options) or a bad value.
        """
        from ..targets.base import validate_options

        if isinstance(values, self.Options):
            return values
        return validate_options(self.Options, values, f"export format '{self.name}'")

    def export(self, model: "nn.Module", path: str | Path, options: ExportOptions) -> Any:
        """Write ``model`` to ``path``.

        Args:
            model: a module from ``snnc.compile`` / ``snnc.load`` / ``snnc.convert``.
            path: the file to write (atomically).
            options: validated :attr:`Options`.

        Returns:
            The check report with ``options.check``, else None.

        Raises:
            UnsupportedError: something the format cannot express (names the node).
            ExportCheckError: the check found a difference.
        """
        raise NotImplementedError


# --- what a model is --------------------------------------------------------------------------------------

PLAIN, RECORDING, SCORES = "plain", "recording", "scores"
"""What an export follows: a plain network (no state), a spiking network returning its output layer's recording
(``(spk, mem)``, the snn target) or one returning decoded scores (the burst target) — asked of the model's
spiking-network contract, never of a target name."""


def refuse_mnn(model: "nn.Module") -> None:
    """Refuse a model that contains MemTorch layers, which no export format expresses.

    MemTorch simulates crossbars of memristive devices (with their non-idealities) inside its layers; there
    is no ONNX operator for that. What can be exported is the ann whose weights are the programmed
    conductances mapped back to weights.

    Args:
        model: any module.

    Raises:
        UnsupportedError: naming the first MemTorch layer and the ann export to use instead.
    """
    for name, module in model.named_modules():
        where = type(module).__module__
        if where.startswith("snnc.compiler.targets.mnn"):
            raise UnsupportedError(
                f"layer '{name}' ({type(module).__name__}) runs on simulated memristive crossbars (the mnn target, "
                "programmed by MemTorch), which this exporter does not express in ONNX; export the network the "
                "crossbars carry instead: snnc export SPEC --target ann (or snn) --checkpoint TRAINED.pt")
        if where.split(".")[0] == "memtorch":
            raise UnsupportedError(
                f"layer '{name or type(module).__name__}' ({type(module).__module__}.{type(module).__name__}) is a "
                "MemTorch crossbar simulation, which ONNX cannot express; export the conductance-equivalent "
                "weights as an ann instead (map the programmed conductances back to weights, load them into "
                "snnc.compile(spec, target='ann') and export that with --target ann)"
            )


def export_kind(model: "nn.Module") -> str:
    """:data:`PLAIN`, :data:`RECORDING` or :data:`SCORES`: which export applies to ``model``.

    Raises:
        UnsupportedError: MemTorch layers (see :func:`refuse_mnn`).
    """
    from ..targets.base import is_spiking

    refuse_mnn(model)
    if not is_spiking(model):
        return PLAIN
    return RECORDING if model.output_form == RECORDING else SCORES


def _programs(model: "nn.Module") -> list:
    """The fx programs a model runs (a spiking module's prefix, a wrapped network, the model itself)."""
    from torch import fx

    programs: list[fx.GraphModule] = []
    if hasattr(model, "_programs"):
        programs.append(model._programs[0])
    if isinstance(getattr(model, "network", None), fx.GraphModule):
        programs.append(model.network)
    if isinstance(model, fx.GraphModule):
        programs.append(model)
    return programs


def input_shape(model: "nn.Module") -> tuple[int, ...]:
    """The per-sample input shape of a spec-built model (from its IR or recorded shapes).

    Raises:
        UnsupportedError: the model carries no input shape; pass ``example=`` to the exporter.
    """
    from ..pipeline import graph_of

    graph = graph_of(model)
    if graph is not None:
        return tuple(graph.input.shape)
    for gm in _programs(model):
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                ir = node.meta.get("snnc_node")
                if getattr(ir, "shape", None) is not None:
                    return tuple(ir.shape)
                shape = node.meta.get("burst_shape")
                if shape is not None:
                    return tuple(shape[1:])
    raise UnsupportedError("the model carries no input shape (it was not built from a spec); pass an example "
                           "input batch: export(model, path, example=torch.zeros(1, C, H, W))")


def describe(model: "nn.Module") -> dict[str, str]:
    """The spec name, target and export kind of a model, for the file's metadata (``unknown`` when not spec-built)."""
    from ..pipeline import graph_of, provenance

    graph, prov = graph_of(model), provenance(model)
    kind = export_kind(model)
    # Why target_name: a network converted from a hand-written model carries no provenance, but its class says
    # which target it belongs to (BurstSNN.target_name).
    target = prov.target if prov is not None else getattr(model, "target_name", None) or kind
    return {"spec": graph.name if graph is not None else "unknown", "target": target, "kind": kind}


def spiking_output(snn: "nn.Module") -> bool:
    """Whether a ``SpikingModule``'s output is a neuron layer (else its "spikes" are the analog output)."""
    body = getattr(snn._programs[1], "_orig_mod", snn._programs[1])
    output = next(n for n in reversed(body.graph.nodes) if n.op == "output")
    return output.args[0][0] is not output.args[0][1]


def check_batch(shape: tuple[int, ...], samples: int = 4) -> "Tensor":
    """The default inputs of a check: ``samples`` seeded uniform draws in [0, 1] of per-sample ``shape``.

    Why seeded: a check that fails must fail again the same way when it is run again.
    """
    import torch

    return torch.rand((samples, *shape), generator=torch.Generator().manual_seed(0))
