"""QCFS: the quantisation-clip-floor-shift activation that makes an ANN convert to IF neurons at low latency.

Bu et al., "Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency Spiking Neural Networks", ICLR
2022 (code: github.com/putshua/SNN_conversion_QCFS, ``modules.MyFloor``). Each ReLU is replaced by

    ``QCFS(x) = λ · clip(floor(x · L / λ + 0.5) / L, 0, 1)``

with a trainable threshold ``λ`` per site and ``L`` levels; the floor passes its gradient straight through
(the paper's ``GradFloor``), so ``λ`` and the weights train by autograd. Why it converts: an IF neuron with
threshold ``λ``, reset by subtraction and initial membrane ``λ/2`` fires, over ``T = L`` steps of a constant
input ``x``, exactly ``clip(floor(x·L/λ + 0.5), 0, L)`` spikes of ``λ`` — the activation's value; the expected
conversion error is zero at every ``T`` for uniformly distributed membranes (the paper's Theorem 2). The burst
converter (:mod:`snnc.compiler.targets.burst`) therefore sets each site's neuron from ``λ`` instead of calibrating
a threshold, and its default ``v_init = 0.5`` is the shift: in a burst conversion (the default) the neuron has
threshold ``λ / L`` and fires up to ``L`` spikes per step, which computes the activation exactly in one step (the
network equals its QCFS ANN at ``T = 1``); with ``method="if"`` it is the paper's IF neuron of threshold ``λ``.

:func:`apply_qcfs` rewrites any torch.fx-traceable model (a spec's ann or a hand-written one): every ReLU call
site the burst converter recognises (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()``, ``clamp(min=0)``)
gets its own :class:`QCFS` module. :func:`init_thresholds` sets each ``λ`` from the activations of the network
as it is (fine-tuning an ERM-trained net, or a fresh one).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import torch
from torch import fx, nn

from .errors import SnncError, UnsupportedError

PAPER_THRESHOLD = 8.0
"""The initial λ of the paper's code (``MyFloor(up=8.)``), used when no data sets it."""
SHIFT = 0.5
"""The shift ``φ`` that minimises the expected conversion error (the paper's Theorem 2)."""
META_KEY = "snnc_qcfs"
"""``GraphModule.meta`` key recording that (and with how many levels) a model has QCFS activations."""


class _FloorSTE(torch.autograd.Function):
    """``floor`` whose gradient is the identity (straight through), as the paper's ``GradFloor``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.floor()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """``floor(x)`` forward, identity gradient."""
    return _FloorSTE.apply(x)


class QCFS(nn.Module):
    """``λ · clip(floor(x · L / λ + 0.5) / L, 0, 1)``: a ReLU quantised to ``L`` levels of ``λ / L``, clipped at λ.

    Args:
        levels: ``L`` >= 1, the quantisation steps (the paper's ``t``; converted nets are best at ``T ≈ L``).
        threshold: the initial ``λ`` > 0 (a trainable parameter, ``threshold``).
        shift: ``φ`` (0.5 in the paper; kept as an argument only to state the definition).
    """

    def __init__(self, levels: int = 8, threshold: float = PAPER_THRESHOLD, shift: float = SHIFT) -> None:
        super().__init__()
        check_levels(levels)
        if not float(threshold) > 0:
            raise SnncError(f"QCFS: the threshold λ must be > 0, got {threshold!r}")
        self.levels = int(levels)
        self.shift = float(shift)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.threshold
        # The paper's order of operations (x / λ, then · L): the same rounding as MyFloor.
        y = floor_ste(x / lam * self.levels + self.shift) / self.levels
        return torch.clamp(y, 0, 1) * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()):.4g}"


def check_levels(levels: Any) -> int:
    """``levels`` as an int, or one clear error."""
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise SnncError(f"QCFS levels L must be an integer >= 1, got {levels!r} (the paper uses 4 to 16)")
    return levels


class _Tracer(fx.Tracer):
    """The default tracer, keeping :class:`QCFS` modules whole (a model can be rewritten again)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, module_qualified_name)


def _graph_module(model: nn.Module, inplace: bool) -> fx.GraphModule:
    """The model as a GraphModule to rewrite: itself (``inplace``), a copy, or a trace of a copy."""
    if isinstance(model, fx.GraphModule):
        if inplace:
            return model
        gm = copy.deepcopy(model)
        _keep_provenance(model, gm)
        return gm
    if inplace:
        raise SnncError("apply_qcfs(inplace=True) rewrites a torch.fx.GraphModule; this model is traced first, "
                        "so call it without inplace")
    private = copy.deepcopy(model)
    tracer = _Tracer()
    try:
        graph = tracer.trace(private)
    except Exception as error:  # noqa: BLE001 - fx raises many kinds; all mean "not traceable"
        raise UnsupportedError(
            f"cannot trace {type(model).__name__} with torch.fx ({type(error).__name__}: {error}); QCFS needs a "
            "symbolically traceable model, as conversion does: move control flow on tensor values out of forward()"
        ) from error
    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    return gm.train(model.training)


def _keep_provenance(source: nn.Module, copy_: nn.Module) -> None:
    """Carry a spec-built model's provenance (spec, target, IR graph) over to its rewritten copy."""
    from .pipeline import PROVENANCE, provenance

    prov = provenance(source)
    if prov is not None:
        object.__setattr__(copy_, PROVENANCE, prov)


def qcfs_sites(model: nn.Module) -> dict[str, QCFS]:
    """Module name → :class:`QCFS` module of a model, in module order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, QCFS)}


def apply_qcfs(model: nn.Module, levels: int = 8, threshold: float = PAPER_THRESHOLD, *,
               inplace: bool = False) -> fx.GraphModule:
    """Replace each ReLU call site of ``model`` by its own :class:`QCFS` module.

    The sites are the burst converter's (:func:`~snnc.compiler.targets.burst.ops.is_relu` on a signal: ``nn.ReLU``,
    ``F.relu``, ``torch.relu``, ``x.relu()``, ``clamp(min=0)``, ``clamp_min(0)``; in-place spellings are made
    out-of-place first), named as its neurons will be (:class:`~snnc.compiler.targets.burst.sites.SiteNamer`): a
    spec's spike node ``lif1`` becomes a QCFS at ``lif1`` with the parameter ``lif1.threshold``, so a converted
    network's neuron has the same name. Nothing else changes. QCFS modules already in the model keep their λ and
    take ``levels``.

    Args:
        model: a torch.fx-traceable module (a GraphModule such as snnc's ann target, or a hand-written one).
        levels: ``L``.
        threshold: the initial λ of every new site (see :func:`init_thresholds` to set it from data).
        inplace: rewrite ``model`` itself (a GraphModule only); by default ``model`` is left as it is.

    Returns:
        The rewritten GraphModule (the model's provenance and ``meta`` kept; ``meta["snnc_qcfs"]`` records L),
        on the model's device, in the model's training mode.

    Raises:
        UnsupportedError: the model cannot be traced. SnncError: bad ``levels`` or ``threshold``.
    """
    from .targets.burst.observe import replace_node
    from .targets.burst.ops import is_relu, signal_nodes
    from .targets.burst.sites import SiteNamer
    from .targets.burst.trace import functionalize_inplace

    check_levels(levels)
    gm = _graph_module(model, inplace)
    functionalize_inplace(gm)
    device = next(iter(gm.parameters()), torch.empty(0)).device
    modules = dict(gm.named_modules())
    signals = signal_nodes(gm.graph)
    namer = SiteNamer(gm)
    replaced = set()
    for node in list(gm.graph.nodes):
        if node not in signals or not is_relu(node, modules):
            continue
        name = namer.name(node)
        if node.op == "call_module":
            replaced.add(node.target)
        gm.add_submodule(name, QCFS(levels, threshold).to(device))
        replace_node(gm, node, name)
    for site in qcfs_sites(gm).values():
        site.levels = int(levels)
    called = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    for target in sorted(replaced - called):
        gm.delete_submodule(target)
    gm.graph.lint()
    gm.recompile()
    gm.meta[META_KEY] = {"levels": int(levels)}
    return gm


def qcfs_record(model: nn.Module) -> dict[str, Any] | None:
    """What a saved artifact records of a QCFS model (``{"levels": L}``), None for a model without QCFS sites.

    Raises:
        SnncError: the sites have different L (:func:`apply_qcfs` rebuilds one L).
    """
    sites = qcfs_sites(model)
    if not sites:
        return None
    levels = {m.levels for m in sites.values()}
    if len(levels) > 1:
        raise SnncError(f"the QCFS sites of this model have different levels {sorted(levels)}; an artifact "
                        "records one L: set every site's levels to the same value")
    return {"levels": levels.pop()}


def init_thresholds(model: nn.Module, batches: Iterable[Any], percentile: float = 99.9,
                    sites: Iterable[str] | None = None) -> dict[str, float]:
    """Set each QCFS site's λ to a percentile of the ReLU activations the network gives there now.

    While the batches run, every QCFS site acts as a plain ReLU, so each λ is read off the network the rewrite
    started from (an ERM-trained ANN being fine-tuned keeps its activation scale; a fresh one starts at its
    initial scale instead of the paper's fixed 8, which quantises small activations to 0). Per batch the
    ``percentile`` of the site's ReLU output (zeros included, as the burst converter's thresholds) is taken, and
    λ is their mean; a site that never activates keeps its λ.

    Args:
        model: a model with QCFS sites (from :func:`apply_qcfs`).
        batches: input batches (tensors or ``(x, y, ...)``), as the burst converter's calibration takes them.
        percentile: in (0, 100].
        sites: the site names to set (default: all).

    Returns:
        Site name → the λ set.

    Raises:
        SnncError: a bad percentile, or no batch.
    """
    from .targets.burst.observe import iter_batches, percentile as row_percentile

    if not 0 < percentile <= 100:
        raise SnncError(f"the QCFS init percentile must be in (0, 100], got {percentile!r}")
    chosen = qcfs_sites(model)
    if sites is not None:
        chosen = {name: chosen[name] for name in sites}
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in chosen}

    def hook(module, args, output, _name):
        y = torch.relu(args[0])
        seen[_name].append(row_percentile(y.detach().reshape(1, -1).float(), percentile)[0])
        return y

    handles = [m.register_forward_hook(lambda mod, a, o, _n=name: hook(mod, a, o, _n)) for name, m in chosen.items()]
    device = next(iter(model.parameters()), torch.empty(0)).device
    training = model.training
    count = 0
    try:
        model.eval()
        with torch.no_grad():
            for x in iter_batches(batches):
                model(x.to(device))
                count += 1
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    if count == 0:
        raise SnncError("QCFS threshold initialisation got no batch; pass at least one batch of inputs")
    found = {}
    for name, module in chosen.items():
        value = float(torch.stack(seen[name]).mean()) if seen[name] else 0.0
        if value > 0:
            module.threshold.data.fill_(value)
        found[name] = float(module.threshold.detach())
    return found


def qcfs(model: nn.Module, levels: int = 8, threshold: float | None = None, *, calibration: Any = None,
         percentile: float = 99.9) -> fx.GraphModule:
    """The model with QCFS activations (L levels, trainable λ), to train with your own loop and then convert.

    ``snnc.qcfs(model, levels=8)`` → train it (λ are parameters: ``model.parameters()`` includes them) →
    ``snnc.convert(trained, calibration)``: each QCFS site becomes a burst neuron of threshold λ/L firing up to L
    spikes per step (``method="if"``: an IF neuron of threshold λ), whose membrane starts at half its threshold.
    ``model`` itself is not modified (a rewritten copy is returned); a spec-built model keeps its spec, so
    ``snnc.save`` writes it and ``snnc.load`` rebuilds it with its QCFS sites.

    Args:
        model: a torch.fx-traceable module with ReLUs (see :func:`apply_qcfs` for the spellings).
        levels: ``L``; the converted network is at its best from ``T ≈ L`` steps on.
        threshold: the initial λ of every site; default: set from ``calibration`` when given, else the paper's 8
            (:data:`PAPER_THRESHOLD`, meant for networks with batch-norm, whose activations are of order 1).
        calibration: input batches (a tensor ``[N, ...]``, or an iterable of tensors or ``(x, y)``) whose ReLU
            activations set each initial λ (:func:`init_thresholds`) — what fine-tuning a trained ReLU net wants.
        percentile: the activation percentile that sets λ from ``calibration``.

    Returns:
        The rewritten GraphModule.

    Raises:
        UnsupportedError: the model cannot be traced. SnncError: bad levels, threshold or percentile, or no
            ReLU to replace.
    """
    if threshold is not None and calibration is not None:
        raise SnncError("qcfs: pass threshold (one initial λ for every site) or calibration (λ from the data), "
                        "not both")
    out = apply_qcfs(model, levels, PAPER_THRESHOLD if threshold is None else threshold)
    if not qcfs_sites(out):
        raise SnncError(f"qcfs: {type(model).__name__} has no ReLU call site to replace (nn.ReLU, F.relu, "
                        "torch.relu, x.relu(), clamp(min=0))")
    if calibration is not None:
        init_thresholds(out, calibration, percentile)
    return out
