"""The model zoo: the specs bundled with snnc (the package ``snnc.specs``), listed with their static costs.

Each bundled spec is a self-contained YAML file whose header comment cites its source and the input size it is
written for; its ``params`` (width, depth, input size, classes, stem, ...) adapt it. :func:`list_models` reads
every one, builds its IR at the default parameters and reports parameters and MACs (one sample, one time step)
from the IR alone — no torch is imported::

    import snnc
    for m in snnc.zoo.list_models():
        print(m.name, m.params, m.macs)
    ann = snnc.compile(snnc.zoo.spec_path("resnet18"), params={"stem": "cifar", "size": 32, "classes": 10})
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snnc.compiler.errors import SnncError, did_you_mean

SPEC_PACKAGE = "snnc.specs"  # the same as snnc.compiler.spec.load.BUNDLED_SPECS_PACKAGE


@dataclass(frozen=True)
class ZooModel:
    """One bundled spec at its default parameters.

    Attributes:
        name: the spec's ``name``.
        file: its file name inside :mod:`snnc.specs` (``resnet18.yaml``); :func:`spec_path` gives the path.
        description: the spec's one-line ``description``.
        params: trainable parameters (weights, biases, batch-norm scale and shift).
        macs: multiply-accumulates of one sample and one time step (conv and linear layers).
        input_shape: the input without batch, e.g. ``(3, 224, 224)``.
    """

    name: str
    file: str
    description: str
    params: int
    macs: int
    input_shape: tuple[int, ...]


def _spec_files() -> list[Path]:
    """The bundled spec files, sorted by file name."""
    from snnc.compiler.spec.load import bundled_specs

    return list(bundled_specs().values())


def spec_path(name: str) -> Path:
    """The path of a bundled spec, by spec or file name (``"resnet18"`` or ``"resnet18.yaml"``).

    Raises:
        SnncError: no such spec (with a did-you-mean over the bundled names).
    """
    from snnc.compiler.spec.load import bundled_specs

    stems = bundled_specs()
    found = stems.get(name) or stems.get(name.rsplit(".", 1)[0] if name.endswith((".yaml", ".yml")) else "")
    if found is None:
        raise SnncError(f"no bundled spec '{name}'.{did_you_mean(name, stems)} Bundled: {', '.join(stems)}")
    return found


def list_models() -> list[ZooModel]:
    """Every bundled spec with its description, parameters, MACs and input shape (from the IR; no torch).

    Returns:
        One :class:`ZooModel` per spec file, sorted by file name.

    Raises:
        SpecError: a bundled spec no longer validates (a bug in snnc, caught by its tests).
    """
    from snnc.compiler.frontend import spec_to_graph
    from snnc.compiler.ir.costs import graph_costs
    from snnc.compiler.spec.load import load_spec

    models = []
    for f in _spec_files():
        loaded = load_spec(Path(str(f)))  # by path, so that 'extends:' finds its sibling file
        graph = spec_to_graph(loaded).graph
        costs = graph_costs(graph).values()
        models.append(ZooModel(name=graph.name, file=f.name, description=loaded.spec.description,
                               params=sum(c.params for c in costs), macs=sum(c.macs for c in costs),
                               input_shape=tuple(graph.input.shape)))
    return models
