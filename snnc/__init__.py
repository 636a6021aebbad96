"""snnc — a compiler toolkit for brain-inspired neural networks.

Describe a network once in YAML; snnc validates it, builds a typed graph IR, checks shapes and sizes and lowers
it to a plain PyTorch module (``ann``), a spiking network on snnTorch (``snn``), a burst-spike conversion of a
trained ANN (``burst``) or a memristive network on MemTorch (``mnn``)::

    import snnc
    spec = snnc.load_spec("specs/mnist_conv.yaml")
    ann = snnc.compile(spec, target="ann")
    snn = snnc.compile(spec, target="snn")

Importing ``snnc`` is cheap: torch and the runtime are imported only when a function that needs them is used.
"""

from snnc.api import build_graph, compile, convert, load, load_ann, load_spec, save
from snnc.compiler.errors import (BackendUnavailable, DataError, InternalError, SnncError, SpecError,
                                  UnsupportedError)

__version__ = "0.1.0"

_LAZY = {"report": ("snnc.runtime.cost", "report"), "list_models": ("snnc.zoo", "list_models"),
         "train": ("snnc.runtime.train", "train"), "evaluate": ("snnc.runtime.evaluate", "evaluate"),
         "export": ("snnc.compiler.export", "export")}
"""Public names whose modules are imported on first use (they import torch or the runtime)."""


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'snnc' has no attribute '{name}'")


__all__ = ["BackendUnavailable", "DataError", "InternalError", "SnncError", "SpecError", "UnsupportedError",
           "build_graph", "compile", "convert", "evaluate", "export", "list_models", "load", "load_ann", "load_spec", "report",
           "save", "train", "__version__"]
