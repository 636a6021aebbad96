"""The burst target: ANN → spiking network conversion with burst spikes and LIPooling.

Li & Zeng, "Efficient and Accurate Conversion of Spiking Neural Network with Burst Spikes", IJCAI 2022
(arXiv:2204.13271). Use :func:`convert`; it returns a :class:`BurstSNN`.

Modules, in the order of the rewrite: ``trace`` (trace and normalise), ``ops`` (which ops play which role),
``fold_bn``, ``observe`` (observers and calibration), ``replace`` (neurons, LIPooling, finalise),
``neurons`` (the stateful modules), ``module`` (running over time), ``convert`` (the whole life cycle).
"""

from .convert import BURST_PERCENTILE, DEFAULT_GAMMA, IF_PERCENTILE, METHODS, convert, default_percentile
from .module import BurstSNN
from .neurons import BurstNeuron, LIPool

__all__ = ["BURST_PERCENTILE", "BurstNeuron", "BurstSNN", "DEFAULT_GAMMA", "IF_PERCENTILE", "LIPool", "METHODS",
           "convert", "default_percentile"]
