"""snnc — a compiler toolkit for brain-inspired neural networks.

Describe a network once in YAML; snnc validates it, builds a typed graph IR, checks shapes and sizes and lowers
it to a plain PyTorch module (``ann``), a spiking network on snnTorch (``snn``), a burst-spike conversion of a
trained ANN (``burst``) or a memristive network on MemTorch (``mnn``)::

    import snnc
    spec = snnc.load_spec("specs/mnist_conv.yaml")
    ann = snnc.compile(spec, target="ann")
    snn = snnc.compile(spec, target="snn")

Importing ``snnc`` is cheap: torch is imported only when a function that needs it is called.
"""

from snnc.api import build_graph, compile, convert, load, load_spec, save
from snnc.runtime.cost import report
from snnc.zoo import list_models
from snnc.compiler.errors import (BackendUnavailable, DataError, InternalError, SnncError, SpecError,
                                  UnsupportedError)

__version__ = "0.1.0"

__all__ = ["BackendUnavailable", "DataError", "InternalError", "SnncError", "SpecError", "UnsupportedError",
           "build_graph", "compile", "convert", "list_models", "load", "load_spec", "report", "save", "__version__"]
