"""``erm``: empirical risk minimisation, the plain loss of the batch (``snnc train``'s default)."""

from __future__ import annotations

from .base import Batch, Method, StepInfo, StepOutput


class ERM(Method):
    """Minimise the run's loss on every batch: ``L = loss(model(x), y)``."""

    name = "erm"
    description = "empirical risk minimisation: the run's loss on each batch (the default)"

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        output = model(batch.x)
        return StepOutput(self.context.loss_fn(output, batch.y), output)
