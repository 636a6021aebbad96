"""``vrex``: Risk Extrapolation (V-REx, Krueger et al., ICML 2021): penalise the variance of environment risks.

.. math::

    L = \\frac{1}{E}\\sum_e R_e + \\lambda(s)\\,\\frac{1}{E}\\sum_e \\big(R_e - \\bar R\\big)^2 + \\ell_2 \\|\\theta\\|^2

with ``λ(s)`` annealed as in ``irm`` (1 before ``penalty_anneal_iters`` steps, then ``penalty_weight``; the loss
divided by ``λ`` when ``λ > 1`` with ``rescale``), following DomainBed's ``VREx``.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from .base import Batch, Method, StepInfo, StepOutput
from .envs import env_risks, l2_norm, require_env, risk_metrics
from .irm import AnnealedPenaltyOptions, penalty_schedule


class VRExOptions(AnnealedPenaltyOptions):
    """Options of ``vrex`` (defaults: the V-REx paper's Colored MNIST setting, λ = 10⁴ after 190 steps)."""

    penalty_weight: float = Field(10000.0, ge=0, description="λ after the anneal steps")


def risk_variance(risks: Tensor) -> Tensor:
    """The (biased) variance of the environment risks, ``mean((R_e - mean R)²)`` (0 for one environment)."""
    return (risks - risks.mean()).pow(2).mean()


class VREx(Method):
    """V-REx: mean environment risk + λ · variance of the environment risks."""

    name = "vrex"
    description = "V-REx: mean risk plus the variance of the per-environment risks"
    Options = VRExOptions
    needs_env = True

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        env = require_env(batch, self.name)
        output = model(batch.x)
        ids, risks = env_risks(self.context.loss_fn, output, batch.y, env)
        penalty = risk_variance(risks)
        weight = penalty_schedule(info.step, self.options.penalty_weight, self.options.penalty_anneal_iters)
        loss = risks.mean() + weight * penalty
        if self.options.l2:
            loss = loss + self.options.l2 * l2_norm(model)
        if self.options.rescale and weight > 1.0:
            loss = loss / weight
        metrics = risk_metrics(ids, risks)
        metrics.update(nll=float(risks.mean().detach()), penalty=float(penalty.detach()), penalty_weight=weight)
        return StepOutput(loss, output, metrics)
