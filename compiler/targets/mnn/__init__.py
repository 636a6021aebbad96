"""The mnn target: a trained network's conv and linear layers on memristive crossbars simulated by MemTorch.

See ``docs/mnn.md``. MemTorch is imported only when a network is built (it is the optional ``mnn`` extra).
"""

from .options import CrossbarOptions, MnnOptions, NonIdealities, resolve_options

__all__ = ["CrossbarOptions", "MnnOptions", "NonIdealities", "resolve_options"]
