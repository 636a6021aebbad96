"""snnc.compiler: spec language, graph IR, passes and target lowerings.

The flow runs one way: spec YAML → spec models (``snnc.compiler.spec``) → graph IR (``snnc.compiler.ir``) →
ANN ``torch.fx.GraphModule`` (``snnc.compiler.targets.ann``) → target rewrites (snn, burst, mnn).
The spec and IR layers never import torch.
"""
