"""snnc — a compiler toolkit for brain-inspired neural networks.

Describe a network once in YAML; snnc validates it, builds a typed graph IR, checks shapes and sizes and lowers
it to a plain PyTorch module (``ann``), a spiking network on snnTorch (``snn``), a burst-spike conversion of a
trained ANN (``burst``) or a memristive network on MemTorch (``mnn``)::

    import snnc
    spec = snnc.load_spec("specs/mnist_conv.yaml")
    ann = snnc.compile(spec, target="ann")
    snn = snnc.compile(spec, target="snn")

Importing ``snnc`` is cheap: each public name's module (the pipeline, the runtime, torch) is imported on
first use.
"""

__version__ = "0.1.0"

_LAZY = {
    **{name: ("snnc.compiler.pipeline", name)
       for name in ("build_graph", "compile", "convert", "load", "load_ann", "load_spec", "save")},
    **{name: ("snnc.compiler.errors", name)
       for name in ("BackendUnavailable", "DataError", "InternalError", "SnncError", "SpecError", "UnsupportedError")},
    "report": ("snnc.runtime.cost", "report"), "list_models": ("snnc.zoo", "list_models"),
    "train": ("snnc.runtime.train", "train"), "evaluate": ("snnc.runtime.evaluate", "evaluate"),
    "export": ("snnc.compiler.export", "export"), "qcfs": ("snnc.compiler.qcfs", "qcfs"),
}
"""Public names, imported on first use: ``import snnc`` itself loads neither pydantic nor torch."""


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'snnc' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["BackendUnavailable", "DataError", "InternalError", "SnncError", "SpecError", "UnsupportedError",
           "build_graph", "compile", "convert", "evaluate", "export", "list_models", "load", "load_ann", "load_spec", "qcfs",
           "report", "save", "train", "__version__"]
