"""The one pipeline: spec → IR graph → ann module → target module; conversion; saving and loading artifacts.

Every way snnc turns a spec or an artifact into a module goes through here: :func:`build` is the one
resolver from a spec, a target and a checkpoint (training, evaluation, cost reports, exports, conversion and the
studies call it; :func:`compile` is its spec-first front), :func:`convert` converts a trained ANN, :func:`load`
rebuilds a saved module (the only rebuild path), :func:`load_ann` gives a spec's ANN with trained weights. A
built module carries a :class:`Provenance` (the spec, its parameters, the target and its options, and the IR
graph), which is what :func:`save` writes beside the weights.

Torch is imported only by the functions that build modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .artifact import Artifact, read_artifact, safe_torch_load
from .errors import DataError, UnsupportedError
from .spec.load import LoadedSpec
from .spec.load import load_spec as _load_spec
from .targets.base import Target, TargetOptions, build_consuming
from .targets.registry import get_target
from .weights import load_weights

if TYPE_CHECKING:  # pragma: no cover
    from torch import fx, nn

    from .ir import Graph

PROVENANCE = "snnc_provenance"
"""The attribute of a built module that holds its :class:`Provenance`."""


@dataclass(frozen=True)
class Provenance:
    """Where a module came from: enough to save it and rebuild it.

    Attributes:
        spec_text: the self-contained YAML of the spec.
        params: spec parameter overrides.
        target: the target's name.
        options: the target's options, as plain values.
        graph: the IR graph.
    """

    spec_text: str
    params: Mapping[str, Any]
    target: str
    options: Mapping[str, Any]
    graph: "Graph" = field(repr=False, compare=False)


def provenance(module: Any) -> Provenance | None:
    """The :class:`Provenance` of a module built by snnc, else None."""
    found = getattr(module, PROVENANCE, None)
    return found if isinstance(found, Provenance) else None


def graph_of(module: Any) -> "Graph | None":
    """The IR graph a module was built from (None for a module snnc did not build)."""
    prov = provenance(module)
    if prov is not None:
        return prov.graph
    meta = getattr(module, "meta", None)
    return meta.get("snnc_graph") if isinstance(meta, dict) else None


def ann_structure(module: Any) -> "fx.GraphModule":
    """The ann ``GraphModule`` a module was built from, rebuilt from its IR graph on the meta device: the fx graph
    and every submodule's type and sizes, without weights, memory or random draws.

    Why: a walker of the ann graph (the Python export of an snn) needs its structure, not its weights (those are
    the module's own); rebuilding from the graph parses and lowers no spec again.

    Raises:
        UnsupportedError: the module carries no IR graph (it was not built by snnc).
    """
    graph = graph_of(module)
    if graph is None:
        raise UnsupportedError("this module carries no spec; build it with snnc.compile or snnc.load")
    import torch

    from .targets.ann import graph_to_ann

    with torch.device("meta"):
        return graph_to_ann(graph)


def target_of(module: Any) -> Target | None:
    """The target object a module was built for (None for a module snnc did not build)."""
    prov = provenance(module)
    return get_target(prov.target) if prov is not None else None


def _attach(module: "nn.Module", prov: Provenance) -> "nn.Module":
    object.__setattr__(module, PROVENANCE, prov)
    return module


# --- spec and graph -------------------------------------------------------------------------------------------

def load_spec(spec: "str | Path | dict | LoadedSpec", params: dict[str, Any] | None = None) -> LoadedSpec:
    """Read and validate a spec (a path, a bundled spec's name, YAML text or a dict).

    Args:
        spec: a ``.yaml`` path, YAML text, parsed data, or an already loaded spec (returned as is).
        params: overrides of the spec's ``params``.

    Raises:
        SpecError: every problem, located by file:line:column and spec path.
    """
    if isinstance(spec, LoadedSpec):
        # its own overrides first: the document text holds the spec's defaults, not the values it was loaded with
        return _load_spec(spec.document_text, {**spec.overrides, **params}, file=spec.source.file) if params \
            else spec
    return _load_spec(spec, params)


def build_graph(spec: "str | Path | dict | LoadedSpec", params: dict[str, Any] | None = None, *,
                max_memory: int | None = None) -> "Graph":
    """Validate a spec and lower it to the shape-checked graph IR (no torch involved).

    Raises:
        SpecError: invalid spec, wiring, shapes or sizes.
    """
    from .frontend import spec_to_graph

    return spec_to_graph(load_spec(spec, params), max_memory=max_memory).graph


# --- building -------------------------------------------------------------------------------------------------

def compile(spec: "str | Path | dict | LoadedSpec", target: "str | Target" = "ann", *,
            params: dict[str, Any] | None = None, max_memory: int | None = None,
            options: Mapping[str, Any] | None = None, checkpoint: "str | Path | Artifact | None" = None,
            calibration: Any = None, device: Any = None, **more_options: Any) -> "nn.Module":
    """Compile a spec to a module for ``target`` (with a ``checkpoint``: by the rule of :func:`build`).

    Args:
        spec: the spec (path, bundled name, YAML text, dict or loaded spec).
        target: a target name (``snnc targets`` lists them) or object.
        params: overrides of the spec's ``params``.
        max_memory: refuse models whose parameters or activations exceed this many bytes.
        options: the target's options (also accepted as keyword arguments).
        checkpoint: trained weights (see :func:`build`): an artifact of the target, an ann artifact or a plain
            state dict, or for targets that take spiking sources (mnn) an snn artifact.
        calibration: data for targets that calibrate on it (burst thresholds).
        device: a ``torch.device`` (or its name) to build on: the (trained) source network is moved there
            first, so a calibration runs there, and so is the module built. None: the CPU.

    Returns:
        The module (a ``torch.fx.GraphModule`` for ann; a spiking network for snn and burst; for mnn the
        network the checkpoint holds, with its conv and linear layers on crossbars).

    Raises:
        SpecError: invalid spec. OptionsError: a bad target option. UnsupportedError: unknown target, a node
        the target cannot lower, or missing weights / calibration. BackendUnavailable: a missing dependency.
    """
    tgt = get_target(target)
    if checkpoint is None and tgt.needs_trained_ann and calibration is not None:
        # Why here and not in build: an API user who calibrates but forgot the weights made a mistake; build
        # converts untrained networks on purpose (an untrained cost report).
        raise UnsupportedError(f"the {tgt.name} target converts a trained ANN: pass checkpoint=ANN.pt (or use "
                               "snnc.convert(trained_model, calibration, ...))")
    return build(spec, tgt, checkpoint, {**dict(options or {}), **more_options}, params=params,
                 calibration=calibration, device=device, max_memory=max_memory)


def build(spec: "str | Path | dict | LoadedSpec | None", target: "str | Target" = "ann",
          checkpoint: "str | Path | Artifact | Mapping[str, Any] | None" = None,
          options: "Mapping[str, Any] | TargetOptions | None" = None, *, params: dict[str, Any] | None = None,
          calibration: Any = None, device: Any = None, max_memory: int | None = None,
          where: str | None = None) -> "nn.Module":
    """The one way from a spec, a target and a checkpoint to a module: train, eval, report, export, convert and
    the studies all build here, so one rule decides what a checkpoint gives.

    The rule:

    * a checkpoint of ``target`` itself is loaded as it is (:func:`load`), ``options`` over the stored ones
      (e.g. ``{"timesteps": 50}``; ``calibration`` and ``max_memory`` do not apply: it is built already);
    * a target built from a trained network (``needs_trained_ann``: burst, mnn) is built from the checkpoint's
      ANN weights (burst calibrates on ``calibration``), or, where it ``takes_spiking_source`` (mnn), from the
      checkpoint's own trained spiking network (an snn artifact);
    * any other target (ann, snn) takes an ANN's weights: the spec's ann is filled with them and lowered, so an
      snn's neurons keep the spec's parameters;
    * without a checkpoint the spec is compiled with fresh weights (a target built from a trained ANN then
      converts the untrained one).

    Args:
        spec: the spec (path, bundled name, YAML text, dict or loaded spec); None: the checkpoint's own.
        target: a target name or object.
        checkpoint: an artifact or training checkpoint (path or :class:`Artifact`), or a plain ANN state dict
            (path or mapping).
        options: the target's options (plain values, or validated :attr:`Target.Options` taken as they are).
        params: spec parameter overrides (over the checkpoint's own when ``spec`` is None).
        calibration: data for targets that calibrate on it (burst thresholds).
        device: where to build (see :func:`compile`).
        max_memory: refuse models whose parameters or activations exceed this many bytes.
        where: how messages name the checkpoint (default: its path).

    Returns:
        The module, carrying its :class:`Provenance`; in eval mode when it holds a checkpoint's weights.

    Raises:
        SpecError, OptionsError, UnsupportedError: as :func:`compile`. DataError: the checkpoint is unreadable
        or its weights do not fit (says which spec they were made from).
    """
    tgt = get_target(target)
    where = where or ("the artifact" if isinstance(checkpoint, Artifact) else
                      "the state dict" if isinstance(checkpoint, Mapping) else f"'{checkpoint}'")
    trained = _read_checkpoint(checkpoint, where)
    art = trained if isinstance(trained, Artifact) else None
    if spec is None:
        if art is None:
            raise UnsupportedError("a module is built from a spec, or from a checkpoint artifact that embeds one")
        spec, params = art.spec, {**art.params, **(params or {})} or None
    if art is not None and get_target(art.target) is tgt:
        module = load(art, spec=spec, params=params, options=options, where=where)
        return module if device is None else module.to(device)
    loaded = load_spec(spec, params)
    opts = options if isinstance(options, tgt.Options) else \
        tgt.options(options, defaults=tgt.spec_defaults(loaded.spec))
    graph, source = _source(loaded, tgt, trained, where, max_memory)
    params = dict(loaded.overrides)
    if device is not None:
        source = source.to(device)
    module = build_consuming(tgt, source, opts, calibration=calibration)
    if device is not None:
        module = module.to(device)
    if trained is not None:
        module.eval()
    return _attach(module, Provenance(loaded.document_text, params, tgt.name, _settled(module, opts), graph))


def _source(loaded: LoadedSpec, target: Target, trained: Any, where: str, max_memory: int | None = None
            ) -> tuple["Graph", "nn.Module"]:
    """The graph and the network ``target`` is built from: the spec's ann (with the checkpoint's ANN weights),
    or the checkpoint's own spiking network for a target that takes one."""
    from .targets.ann import graph_to_ann

    graph = build_graph(loaded, max_memory=max_memory)
    ann = graph_to_ann(graph)
    # Why the loaded spec's overrides: a spec loaded with parameters and passed on (as the trainer does) must
    # record them, or its artifact rebuilds the spec's defaults and its weights do not fit.
    _attach(ann, Provenance(loaded.document_text, dict(loaded.overrides), "ann", {}, graph))
    return graph, (ann if trained is None else _trained_source(ann, trained, target, loaded, where))


def build_source(spec: "str | Path | dict | LoadedSpec", target: "str | Target",
                 checkpoint: "str | Path | Artifact | Mapping[str, Any]", *, params: dict[str, Any] | None = None,
                 where: str | None = None) -> "nn.Module":
    """The trained network :func:`build` would build ``target`` from, by the same rule — for work that builds
    the target many times from one source (the mnn sweep).

    Raises:
        DataError: the checkpoint is unreadable or its weights do not fit.
    """
    tgt = get_target(target)
    where = where or f"'{checkpoint}'"
    return _source(load_spec(spec, params), tgt, _read_checkpoint(checkpoint, where), where)[1]


def _read_checkpoint(checkpoint: Any, where: str) -> "Artifact | Mapping[str, Any] | None":
    """The checkpoint as an :class:`Artifact`, or the plain state dict it holds (checked when it is loaded)."""
    if checkpoint is None or isinstance(checkpoint, (Artifact, Mapping)):
        return checkpoint
    obj = safe_torch_load(checkpoint)
    return Artifact.from_dict(obj, where) if isinstance(obj, dict) and "format" in obj else obj


def _trained_source(ann: "fx.GraphModule", trained: "Artifact | Mapping[str, Any]", target: Target,
                    spec: LoadedSpec, where: str) -> "nn.Module":
    """The trained network a target is built from: the ann with the checkpoint's weights, or, for targets that
    take spiking sources, the checkpoint's own trained spiking network."""
    if isinstance(trained, Artifact) and target.takes_spiking_source and get_target(trained.target).spiking \
            and get_target(trained.target).trainable:
        return load(trained, spec=spec, where=where)
    if isinstance(trained, Artifact) and get_target(trained.target).ann_weights:
        # the ANN as it was trained (e.g. QCFS activations, whose λ are in the weights): its target's skeleton
        art_target = get_target(trained.target)
        ann = art_target.skeleton(ann, art_target.options(trained.options), extras=trained.extra)
    _load_ann_weights(ann, trained, where)
    return ann.eval()


def lower(model: "nn.Module", target: "str | Target", options: Mapping[str, Any] | None = None, *,
          calibration: Any = None) -> "nn.Module":
    """Lower an (often trained) ann module of a spec to ``target``; the result carries the spec like ``model``.

    Raises:
        OptionsError: a bad option. UnsupportedError: what the target cannot lower.
    """
    tgt = get_target(target)
    opts = tgt.options(options)
    module = tgt.build(model, opts, calibration=calibration)
    prov = provenance(model)
    if prov is not None:
        _attach(module, Provenance(prov.spec_text, prov.params, tgt.name, _settled(module, opts), prov.graph))
    return module


def _settled(module: "nn.Module", options: Any) -> dict[str, Any]:
    """The options as the build settled them (None values resolved), for saving."""
    settled = options.model_dump(mode="json")
    config = getattr(module, "config", None)
    for key, value in settled.items():
        if value is not None:
            continue
        found = config.get(key) if isinstance(config, dict) else None
        found = getattr(module, key, None) if found is None else found
        if isinstance(found, (bool, int, float, str)):
            settled[key] = found
    return settled


def convert(model: "nn.Module", calibration: Any, method: str = "burst", **options: Any) -> "nn.Module":
    """Convert a trained ANN (spec-built or hand-written, torch.fx-traceable) to a burst-spiking network.

    Args:
        model: the trained ANN; it is never modified.
        calibration: data for the thresholds: a tensor, or an iterable / DataLoader of tensors or ``(x, y)``.
        method: ``burst`` (up to ``gamma`` spikes per step) or ``if`` (``gamma = 1``).
        **options: the burst target's options (``gamma``, ``percentile``, ``channelwise``, ``normalization``,
            ``timesteps``, ``v_init``; ``snnc targets`` lists them).

    Returns:
        A :class:`~snnc.compiler.targets.burst.BurstSNN`. When ``model`` was built from a spec, the result
        carries it and can be written with :func:`save`.

    Raises:
        OptionsError: a bad option. UnsupportedError: an op the converter cannot handle (names the node).
    """
    return lower(model, "burst", {"method": method, **options}, calibration=calibration)


# --- saving and loading ---------------------------------------------------------------------------------------

def artifact_of(module: "nn.Module", *, extra: dict | None = None, training: dict | None = None) -> Artifact:
    """The :class:`Artifact` of a module built by snnc.

    Raises:
        UnsupportedError: the module carries no spec (it was not built by snnc).
    """
    prov = provenance(module)
    if prov is None:
        from .targets.base import is_spiking

        if is_spiking(module):  # snnc.convert of a hand-written model: converted by snnc, but from no spec
            raise UnsupportedError(
                "this network was converted from a hand-written model, so it carries no spec to rebuild it from "
                "(snnc.save writes spec-built models). Keep its weights with torch.save(net.state_dict(), path) "
                "and rebuild it with net = snnc.convert(YourModel(), calibration, <the same options>) followed by "
                "net.load_state_dict(torch.load(path, weights_only=True))")
        raise UnsupportedError("this module was not built from a spec by snnc.compile (it carries no spec); save "
                               "it with torch.save(model.state_dict(), path)")
    tgt = get_target(prov.target)
    return Artifact(prov.target, prov.spec_text, dict(prov.params), dict(prov.options), module.state_dict(),
                    {**tgt.extras(module), **(extra or {})}, training)


def save(module: "nn.Module", path: str | Path, *, extra: dict | None = None) -> Path:
    """Save a module built by snnc as an artifact (spec text + options + state dict), atomically.

    Returns:
        The path written.

    Raises:
        UnsupportedError: the module was not built by snnc.
    """
    return artifact_of(module, extra=extra).save(path)


def load(source: "str | Path | Artifact", *, spec: Any = None, params: dict[str, Any] | None = None,
         options: Mapping[str, Any] | None = None, where: str | None = None) -> "nn.Module":
    """Rebuild the module of an artifact or training checkpoint and load its weights (in eval mode).

    Args:
        source: a path written by :func:`save`, ``snnc compile -o`` or ``snnc train``, or an :class:`Artifact`.
        spec: build from this spec instead of the embedded one (its weights must fit).
        params: spec parameter overrides (default: the artifact's, when its own spec is used).
        options: target options that replace the stored ones (e.g. ``{"timesteps": 50}``).
        where: how messages name the source (default: its path).

    Raises:
        DataError: not an artifact, or weights that do not fit (says which spec they were made from).
        SpecError: the spec does not validate. OptionsError: a bad option.
    """
    art = source if isinstance(source, Artifact) else read_artifact(source)
    where = where or ("the artifact" if isinstance(source, Artifact) else f"'{source}'")
    tgt = get_target(art.target)
    merged = {**art.options, **dict(options or {})}
    spec_src, spec_params = (art.spec, art.params or None) if spec is None else (spec, params)
    loaded = load_spec(spec_src, spec_params)
    graph = build_graph(loaded)
    from .targets.ann import graph_to_ann

    opts = tgt.options(merged, defaults=tgt.spec_defaults(loaded.spec))
    module = tgt.skeleton(graph_to_ann(graph), opts, extras=art.extra)
    load_weights(module, art.state_dict, where=where, made_from=art.spec_name, built_from=graph.name)
    tgt.restore(module, art.extra)
    prov = Provenance(loaded.document_text, dict(spec_params or {}), tgt.name, _settled(module, opts), graph)
    return _attach(module, prov).eval()


def load_ann(spec: Any, checkpoint: "str | Path | Artifact", params: dict[str, Any] | None = None) -> "fx.GraphModule":
    """The spec's ANN with the trained weights of ``checkpoint`` (an ann artifact or a plain state dict), in eval
    mode: :func:`build` for the ann target.

    Raises:
        SpecError: invalid spec. DataError: the file or its weights do not fit. UnsupportedError: an artifact of a
        target whose weights are not an ANN's.
    """
    return build(spec, "ann", checkpoint, params=params)


def _load_ann_weights(ann: "fx.GraphModule", trained: "Artifact | Any", where: str) -> None:
    import torch

    graph = graph_of(ann)
    made_from, obj = None, trained
    if isinstance(obj, Artifact):
        if not get_target(obj.target).ann_weights:
            raise UnsupportedError(f"{where} holds a model compiled for the '{obj.target}' target; an ANN's "
                                   "trained weights are needed (train with --target ann)")
        made_from, obj = obj.spec_name, obj.state_dict
    if not (isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise DataError(f"{where} is neither an snnc artifact nor a state dict of tensors")
    load_weights(ann, obj, where=where, made_from=made_from, built_from=graph.name if graph else None)
