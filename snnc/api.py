"""The public Python API, re-exported from :mod:`snnc`: the compiler's pipeline and the runtime's entry points.

Nothing is defined here: the pipeline (:mod:`snnc.compiler.pipeline`) loads specs, builds graphs, compiles,
converts, saves and loads; the runtime trains, evaluates and measures.
"""

from snnc.compiler.pipeline import build_graph, compile, convert, load, load_ann, load_spec, save
from snnc.compiler.qcfs import qcfs

__all__ = ["build_graph", "compile", "convert", "load", "load_ann", "load_spec", "qcfs", "save"]
