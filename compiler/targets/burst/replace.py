"""Steps 5 and 6 of the burst rewrite: observers become burst neurons, max-pooling becomes LIPooling, and
the graph is finalised.
"""

from __future__ import annotations

from torch import fx

from .neurons import BurstNeuron, LIPool
from .observe import ActivationObserver, replace_node
from .ops import max_pool_module, signal_nodes
from .sites import SiteNamer


def replace_activations(gm: fx.GraphModule, observers: dict[str, ActivationObserver], gamma: int = 5,
                        v_init: float = 0.5) -> dict[str, BurstNeuron]:
    """Swap each calibrated observer for a :class:`BurstNeuron` of the same name and threshold.

    Args:
        gm: the calibrated graph module (modified).
        observers: site name → observer, from :func:`~.observe.insert_observers`.
        gamma: the largest burst (1: ordinary IF neurons).
        v_init: the initial membrane as a fraction of the threshold.

    Returns:
        Mapping site name → neuron.
    """
    neurons: dict[str, BurstNeuron] = {}
    for name, observer in observers.items():
        threshold, site_gamma = observer.neuron_settings(gamma)  # a QCFS site: (λ/L, L) for bursts, (λ, 1) for IF
        neuron = BurstNeuron(threshold, gamma=site_gamma, v_init=v_init, neurons=observer.neurons)
        gm.add_submodule(name, neuron)
        neurons[name] = neuron
    return neurons


def replace_max_pooling(gm: fx.GraphModule) -> dict[str, LIPool]:
    """Replace every max-pooling call site on a signal (module or functional) by its own :class:`LIPool`.

    Args:
        gm: the graph module (modified).

    Returns:
        Mapping site name → LIPool.

    Raises:
        UnsupportedError: a max-pooling returns indices or computes its sizes from the data.
    """
    modules = dict(gm.named_modules())
    signals = signal_nodes(gm.graph)
    namer = SiteNamer(gm)
    pools: dict[str, LIPool] = {}
    for node in list(gm.graph.nodes):
        pool = max_pool_module(node, modules) if node in signals else None
        if pool is None:
            continue
        name = namer.name(node)
        pools[name] = LIPool(pool)
        gm.add_submodule(name, pools[name])
        replace_node(gm, node, name)
    return pools


def finalize(gm: fx.GraphModule) -> fx.GraphModule:
    """Drop dead code and unused modules, check the graph and regenerate its code.

    Args:
        gm: the rewritten graph module (modified).

    Returns:
        ``gm``, in eval mode.
    """
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm.eval()
