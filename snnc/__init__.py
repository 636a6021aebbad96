"""snnc — a compiler toolkit for brain-inspired neural networks.

Describe a network once in YAML; snnc validates it, builds a typed graph IR, checks shapes and sizes and lowers
it to a plain PyTorch module (``ann``), a spiking network on snnTorch (``snn``), a burst-spike conversion of a
trained ANN (``burst``) or a memristive network on MemTorch (``mnn``).

Importing ``snnc`` is cheap: torch is imported only when a function that needs it is called.
"""

__version__ = "0.1.0"
