"""From a validated spec to the graph IR: expand blocks, name and wire nodes, resolve defaults, infer shapes.

Steps, each collecting every problem it can before giving up:

1. **expand** (:mod:`.expand`) — block instances become their layers (``repeat`` copies named ``<name>.<k>``),
   names get their scope prefix (``layer1.0.conv1``), ``when: false`` layers become aliases of their input,
   ``split`` becomes slices; every reference is resolved (dangling ones get a did-you-mean).
2. **order** (:mod:`.graph`) — a stable topological sort; a cycle is reported with its path.
3. **lower** (:mod:`.lower`) — each layer becomes a normalised IR node (channels and features inferred,
   ``padding: same`` and ``-1`` resolved, neuron parameters merged with the model-wide section) and its shape is
   inferred with the shape table; an impossible shape is reported at the layer and field to blame.
4. **check sizes** (:mod:`.limits`) — parameters and activations are counted (integers only) and a model over the
   memory limit is refused before anything is allocated.

No torch here.
"""

from .expand import MAX_NODES, Origin
from .graph import FrontendResult, spec_to_graph
from .limits import BYTES_PER_VALUE, DEFAULT_MAX_MEMORY, max_memory_from_env, parse_size
from .lower import LOWER_LAYER, resolve_neuron

__all__ = ["BYTES_PER_VALUE", "DEFAULT_MAX_MEMORY", "FrontendResult", "LOWER_LAYER", "MAX_NODES", "Origin",
           "max_memory_from_env", "parse_size", "resolve_neuron", "spec_to_graph"]
