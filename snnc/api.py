"""The public Python API: load a spec, build its IR, compile it to a target, save and load artifacts.

Everything here is re-exported from :mod:`snnc`. Torch is imported only by the functions that need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from snnc.compiler.errors import UnsupportedError
from snnc.compiler.spec.load import LoadedSpec
from snnc.compiler.spec.load import load_spec as _load_spec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from snnc.compiler.ir import Graph

SpecLike = "str | Path | dict | LoadedSpec"


def load_spec(spec: str | Path | dict | LoadedSpec, params: dict[str, Any] | None = None) -> LoadedSpec:
    """Read and validate a spec (a path, YAML text or a dict).

    Args:
        spec: a ``.yaml`` path, YAML text, parsed data, or an already loaded spec (returned as is).
        params: overrides of the spec's ``params``.

    Returns:
        The validated spec (``.spec`` is the pydantic model, ``.source`` the text with positions).

    Raises:
        SpecError: every problem, located by file:line:column and spec path.
    """
    if isinstance(spec, LoadedSpec):
        if params:
            return _load_spec(spec.document_text, params, file=spec.source.file)
        return spec
    return _load_spec(spec, params)


def build_graph(spec: str | Path | dict | LoadedSpec, params: dict[str, Any] | None = None, *,
                max_memory: int | None = None) -> "Graph":
    """Validate a spec and lower it to the shape-checked graph IR (no torch involved).

    Raises:
        SpecError: invalid spec, wiring, shapes or sizes.
    """
    from snnc.compiler.frontend import spec_to_graph

    return spec_to_graph(load_spec(spec, params), max_memory=max_memory).graph


def compile(spec: str | Path | dict | LoadedSpec, target: str = "ann", *, params: dict[str, Any] | None = None,
            max_memory: int | None = None, **options: Any) -> "nn.Module":
    """Compile a spec to a PyTorch module for ``target``.

    Args:
        spec: the spec (path, text, dict or loaded spec).
        target: ``ann`` (a ``torch.fx.GraphModule``), ``snn`` (snnTorch neurons; options ``timesteps``,
            ``encoding``, ``decoding``, ...), ``burst`` (needs a trained ANN: use :func:`snnc.convert`) or ``mnn``.
        params: overrides of the spec's ``params``.
        max_memory: refuse models whose parameters or activations exceed this many bytes.
        **options: target options.

    Returns:
        The module. Its ``meta["snnc_graph"]`` (ann) or ``graph`` attribute holds the IR graph.

    Raises:
        SpecError: invalid spec. UnsupportedError: unknown target, or a node the target cannot lower.
    """
    from snnc.compiler.targets.registry import target_info

    target_info(target)
    loaded = load_spec(spec, params)
    graph = build_graph(loaded, max_memory=max_memory)
    from snnc.compiler.targets.ann import graph_to_ann

    ann = graph_to_ann(graph)
    # What snnc.save needs to rebuild the module: the spec, its parameters, the target and plain-typed options.
    meta = {"snnc_spec_text": loaded.document_text, "snnc_params": dict(params or {}), "snnc_target": target,
            "snnc_options": {k: v for k, v in options.items() if isinstance(v, (int, float, str, bool, type(None)))}}
    ann.meta.update(meta)
    if target == "ann":
        if options:
            raise UnsupportedError(f"the ann target takes no options (got {', '.join(options)})")
        return ann
    if target == "snn":
        from snnc.compiler.targets.snn import ann_to_snn

        snn = ann_to_snn(ann, **options)
        snn.meta = {**getattr(snn, "meta", {}), **meta}
        return snn
    if target == "burst":
        raise UnsupportedError("the burst target converts a trained ANN: use snnc.convert(model, calibration, ...) "
                               "or 'snnc compile SPEC --target burst --checkpoint ANN.pt'")
    raise UnsupportedError(f"target '{target}' is not built yet")  # pragma: no cover - registry guards this


def convert(model: "nn.Module", calibration: Any, method: str = "burst", **options: Any) -> "nn.Module":
    """Convert a trained ANN (spec-built or hand-written, torch.fx-traceable) to a spiking network.

    Args:
        model: the trained ANN; it is never modified.
        calibration: data for the thresholds: a tensor, or an iterable / DataLoader of tensors or ``(x, y)``.
        method: ``burst`` (Li & Zeng, IJCAI 2022: up to ``gamma`` spikes per step) or ``if`` (``gamma = 1``).
        **options: ``gamma``, ``percentile``, ``channelwise``, ``normalization`` (``percentile`` / ``max``),
            ``timesteps``, ``v_init``, ... (see :func:`snnc.compiler.targets.burst.convert`).

    Returns:
        A :class:`~snnc.compiler.targets.burst.BurstSNN` running ``timesteps`` steps per call. When ``model``
        was built from a spec (:func:`compile`), the result carries that spec and can be written with
        :func:`save`.

    Raises:
        UnsupportedError: an op the converter cannot handle (names the node, the op and what to do).
    """
    from snnc.compiler.errors import did_you_mean

    if method not in ("burst", "if"):
        raise UnsupportedError(f"unknown conversion method '{method}'.{did_you_mean(method, ('burst', 'if'))} "
                               "Methods: burst, if")
    from snnc.compiler.targets.burst import convert as burst_convert

    snn = burst_convert(model, calibration, method=method, **options)
    meta = getattr(model, "meta", None)
    if isinstance(meta, dict) and "snnc_spec_text" in meta:
        # Why: the spec, plus the settings that shape the converted network, is what load() rebuilds it from.
        settings = ("method", "gamma", "percentile", "channelwise", "normalization", "v_init")
        snn.meta = {"snnc_spec_text": meta["snnc_spec_text"], "snnc_params": dict(meta.get("snnc_params") or {}),
                    "snnc_target": "burst",
                    "snnc_options": {**{k: snn.config[k] for k in settings}, "timesteps": snn.timesteps}}
    return snn


def save(module: "nn.Module", path: str | Path, *, target: str | None = None, extra: dict | None = None) -> Path:
    """Save a compiled module as an artifact (spec text + state dict), atomically.

    Args:
        module: a module returned by :func:`compile`, or by :func:`convert` of a spec-built ANN (it carries
            its spec).
        path: where to write (``.pt``).
        target: the target name (default: read from the module).
        extra: plain-typed metadata to store beside it.

    Returns:
        The path written.
    """
    from snnc.compiler.artifact import atomic_torch_save, make_artifact

    meta = _meta_of(module)
    target = target or meta.get("snnc_target", "ann")
    if target == "burst":
        # The conversion record (calibration data and samples, ...) is not needed to rebuild, but is kept.
        extra = {"config": dict(module.config), **(extra or {})}
    art = make_artifact(module, meta["snnc_spec_text"], target, meta.get("snnc_params"),
                        meta.get("snnc_options"), extra)
    atomic_torch_save(art, path)
    return Path(path)


def load(path: str | Path) -> "nn.Module":
    """Rebuild a module from an artifact written by :func:`save` / ``snnc compile -o`` (``weights_only`` load).

    Raises:
        DataError: not an artifact or unreadable. SpecError: the embedded spec no longer validates.
    """
    from snnc.compiler.artifact import read_artifact

    art = read_artifact(path)
    options = dict(art.get("options") or {})
    params = art.get("params") or None
    if art["target"] == "burst":
        module = _burst_skeleton(art["spec"], params, options)
    else:
        module = compile(art["spec"], art["target"], params=params, **options)
    module.load_state_dict(art["state_dict"])
    if art["target"] == "burst":
        # The skeleton's meta (spec and settings) is set by convert(); its record names the placeholder.
        module.config.update((art.get("extra") or {}).get("config") or {})
    return module


def _burst_skeleton(spec_text: str, params: dict | None, options: dict) -> "nn.Module":
    """A burst network of the right structure for a saved state dict to be loaded into.

    Why: a converted network's structure (folded layers, a neuron per ReLU site, threshold shapes) depends
    only on the spec and the conversion settings; its weights and thresholds are all in the state dict. So
    the spec's ANN is converted with a placeholder calibration batch, and every value is then overwritten.
    """
    import torch

    ann = compile(spec_text, "ann", params=params)
    placeholder = torch.ones(2, *ann.meta["snnc_graph"].input.shape)
    return convert(ann, placeholder, **options)


def _meta_of(module: "nn.Module") -> dict:
    meta = getattr(module, "meta", None)
    if not isinstance(meta, dict) or "snnc_spec_text" not in meta:
        raise UnsupportedError("this module was not built from a spec by snnc.compile / snnc.convert (it carries "
                               "no spec); save it with torch.save(model.state_dict(), path)")
    return meta
