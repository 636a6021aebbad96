"""The cost report of a model from a spec, a checkpoint and a dataset name: what ``snnc report`` calls.

It reads the checkpoint and parses the spec once, resolves the target's options once (for the module it
measures and for the target's hardware figures), asks :func:`snnc.compiler.pipeline.build` for the module (the
one rule of what a spec, a target and a checkpoint give), records its activity on the data
(:mod:`.activity`) and assembles the breakdown (:mod:`.breakdown`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from snnc.compiler import pipeline
from snnc.compiler.artifact import Artifact, read_artifact
from snnc.compiler.errors import SnncError
from snnc.compiler.spec.load import LoadedSpec
from snnc.compiler.targets.base import Target
from snnc.compiler.targets.registry import get_target

from .activity import measure_activity
from .breakdown import CostReport, build_report
from .energy import DEFAULT_TECHNOLOGY, Technology, load_technology

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

DEFAULT_BATCHES = 32
"""Batches a report measures on by default (x 32 = 1,024 images). Why: on the trained mnist_conv SNN, 128 images
(the old default) gave SOPs 1.5 % from 1,024 images and 4 % from the whole test set; 1,024 take about 2 s."""


def report(spec: Any = None, *, target: "str | Target" = "ann", model: "nn.Module | None" = None,
           checkpoint: "str | Path | None" = None, data: Any = None, dataset: str | None = None,
           data_dir: "str | Path | None" = None, split: str = "test",
           batches: int = DEFAULT_BATCHES, batch_size: int = 32,
           timesteps: int | None = None, tech: "str | Path | Technology" = DEFAULT_TECHNOLOGY,
           params: dict[str, Any] | None = None, assume_rate: float | None = None, gamma: int | None = None,
           calibration: Any = None, seed: int = 0, options: Mapping[str, Any] | None = None) -> CostReport:
    """The cost report of a model: static from the spec, dynamic when data is given.

    Args:
        spec: the spec (path, YAML text, dict or loaded spec); may be omitted with ``checkpoint`` (its embedded
            spec is used) or with a ``model`` built by snnc.
        target: the target (name or object) to cost.
        model: an already built module for ``target`` (e.g. after training or conversion); else one is built
            from the spec, with the checkpoint's weights if given (untrained otherwise).
        checkpoint: an artifact or training checkpoint. A checkpoint of ``target`` itself is loaded as it is;
            ANN weights load into an snn (the neurons keep their spec values) and are converted for burst.
        data: batches to measure on (a DataLoader, an iterable of tensors or ``(x, y)``, or a tensor).
        dataset: a dataset name for :func:`snnc.runtime.data.load_dataset` when ``data`` is not given.
        data_dir: where the dataset's files are.
        split: the dataset split to measure on.
        batches: measure on at most this many batches.
        batch_size: batch size for ``dataset``.
        timesteps: ``T`` (default: the checkpoint's or the target's).
        tech: the energy technology (preset name, YAML/JSON file, or :class:`Technology`).
        params: spec parameter overrides.
        assume_rate: without data, estimate spiking costs at this input firing rate (clearly labelled).
        gamma: the burst target's largest burst (when converting an ANN checkpoint).
        calibration: calibration batches for a conversion (default: ``batches`` batches of the dataset's train
            split, or ``data``).
        seed: seeds rate encoding during measurement.
        options: target options (``snnc report -O``) for the target's hardware figures, merged over those the
            spec sets (the mnn target's ``memristor:`` section) or, for an artifact of the target, those it was
            built with.

    Returns:
        The :class:`CostReport` (``.to_dict()`` for JSON).

    Raises:
        SpecError, UnsupportedError, DataError: a bad spec, target, checkpoint, dataset or technology; a
        checkpoint whose weights do not fit the spec (also without data).
    """
    technology = load_technology(tech)
    tgt = get_target(target)
    if batches < 1 or batch_size < 1:
        raise SnncError(f"batches and batch_size must be >= 1, got {batches} and {batch_size}")
    art = read_artifact(checkpoint) if checkpoint is not None else None
    loaded = _spec_of(spec, art, params)
    graph = pipeline.build_graph(loaded) if loaded is not None else _graph_of(model)
    own = art is not None and get_target(art.target) is tgt
    target_options, built_from = _target_options(tgt, loaded, art, options, timesteps, gamma)
    if data is None and dataset is not None:
        data = _loader(graph, dataset, data_dir, split, batches, batch_size)
    measured = tgt.spiking and data is not None
    weights = "trained" if (model is not None or art is not None) else "untrained"
    # Why also without data: a checkpoint that does not fit the spec must be refused, not ignored (a conversion
    # needs data, so it is checked when it runs).
    if model is None and (measured or (art is not None and (own or not tgt.needs_trained_ann))):
        if calibration is None and tgt.calibrates and not own:
            calibration = _loader(graph, dataset, data_dir, "train", batches, batch_size) if dataset else data
        model = pipeline.build(loaded, tgt, art, target_options, calibration=calibration,
                               where=f"'{checkpoint}'" if checkpoint is not None else None).eval()
    if not measured:  # the ann's costs do not depend on data or weights
        return build_report(graph, target=tgt, technology=technology, timesteps=timesteps,
                            assume_rate=assume_rate, options=target_options, source=built_from)
    activity = measure_activity(model, graph, data, timesteps=timesteps, max_batches=batches, seed=seed)
    rep = build_report(graph, target=tgt, technology=technology, activity=activity, weights=weights,
                       options=target_options, source=built_from)
    if weights == "untrained":
        rep.notes.append("UNTRAINED weights (no checkpoint): firing rates and SOPs are those of a random network")
    return rep


def _spec_of(spec: Any, art: Artifact | None, params: dict | None) -> LoadedSpec | None:
    """The spec, parsed once: the one given, else the checkpoint's own (its parameters under ``params``)."""
    if spec is not None:
        return pipeline.load_spec(spec, params)
    if art is not None:
        return pipeline.load_spec(art.spec, {**art.params, **(params or {})} or None)
    return None


def _graph_of(model: Any):
    graph = pipeline.graph_of(model) if model is not None else None
    if graph is None:
        raise SnncError("a cost report needs the spec (or a checkpoint that embeds it, or a module built by "
                        "snnc.compile)")
    return graph


def _target_options(target: Target, loaded: LoadedSpec | None, art: Artifact | None,
                    options: Mapping[str, Any] | None, timesteps: int | None,
                    gamma: int | None) -> tuple[Any, dict | None]:
    """The target's options, resolved once, and what its network was built from.

    An artifact of the target gives both (its options under ``options``, and ``extra["source"]``); else the
    spec's defaults (e.g. its ``memristor:`` section) under ``options``, and ``timesteps`` given says the source
    is spiking. ``timesteps`` and ``gamma`` join the options of a target that has them.
    """
    fields = target.Options.model_fields
    given = {**dict(options or {}), **({"timesteps": timesteps} if timesteps and "timesteps" in fields else {}),
             **({"gamma": gamma} if gamma and "gamma" in fields else {})}
    if art is not None and get_target(art.target) is target:
        built = dict((art.extra or {}).get("source") or {})
        return target.options(given, defaults=dict(art.options or {})), built or None
    defaults = target.spec_defaults(loaded.spec) if loaded is not None else {}
    built = {"timesteps": timesteps} if timesteps else None
    if art is not None and target.takes_spiking_source and get_target(art.target).spiking:
        # the rule of pipeline.build: the target carries the checkpoint's own spiking network
        steps = timesteps or (art.options or {}).get("timesteps") or (loaded.spec.timesteps if loaded else None)
        built = {"kind": art.target, **({"timesteps": int(steps)} if steps else {})}
    return target.options(given, defaults=defaults), built


def _loader(graph, dataset: str, data_dir, split: str, batches: int, batch_size: int):
    from snnc.runtime.data import load_for, make_loader

    return make_loader(load_for(graph, dataset, split, data_dir, limit=batches * batch_size), batch_size=batch_size)


__all__ = ["DEFAULT_BATCHES", "report"]
