"""``irm``: Invariant Risk Minimization, the IRMv1 penalty of Arjovsky et al. (2019).

.. math::

    L = \\frac{1}{E}\\sum_e R_e(f) + \\lambda(s)\\,\\frac{1}{E}\\sum_e \\big\\|\\nabla_{w} R_e(w\\cdot f)\\big|_{w=1}\\big\\|^2
        + \\ell_2 \\|\\theta\\|^2

``R_e`` is the run's loss on the batch's samples of environment ``e`` and ``w`` a dummy scalar classifier that
multiplies the output (the logits, or both the spike and membrane traces of a spiking output). ``λ(s)`` is 1
before ``penalty_anneal_iters`` steps and ``penalty_weight`` from then on; as in the IRM code, the whole loss is
divided by ``λ`` when ``λ > 1`` (``rescale``), keeping gradients in range. ``unbiased`` uses DomainBed's
estimate instead: the product of the gradients on the two halves of each environment's samples.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, autograd

from .base import Batch, Method, StepInfo, StepOutput
from .envs import env_risks, l2_norm, require_env, risk_metrics, scaled, select


class AnnealedPenaltyOptions(BaseModel):
    """Options shared by the penalties annealed in after a number of steps (``irm``, ``vrex``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    penalty_weight: float = Field(1.0, ge=0, description="λ after the anneal steps")
    penalty_anneal_iters: int = Field(190, ge=0, description="steps with λ = 1 before λ = penalty_weight")
    l2: float = Field(0.0, ge=0, description="weight of an explicit ||θ||² term (the IRM code uses 0.0011)")
    rescale: bool = Field(True, description="divide the loss by λ when λ > 1, as the IRM code does")


class IRMOptions(AnnealedPenaltyOptions):
    """Options of ``irm`` (defaults: the IRM paper's Colored MNIST hyper-parameters, rounded)."""

    penalty_weight: float = Field(91257.0, ge=0, description="λ after the anneal steps")
    unbiased: bool = Field(False, description="DomainBed's two-halves estimate of the squared gradient")


def irm_penalty(loss_fn, output, y: Tensor, *, unbiased: bool = False) -> Tensor:
    """The IRMv1 penalty of one environment: ``(dR(w·output)/dw at w = 1)²``.

    Args:
        loss_fn: ``loss(output, targets) -> scalar``.
        output: the environment's model output (logits or ``(spk, mem)``).
        y: its targets.
        unbiased: multiply the gradients of the two halves (``[::2]`` and ``[1::2]``) instead of squaring one.

    Returns:
        The scalar penalty (differentiable with respect to the model).
    """
    scale = torch.ones((), device=y.device, requires_grad=True)
    if not unbiased:
        grad = autograd.grad(loss_fn(scaled(output, scale), y), [scale], create_graph=True)[0]
        return grad.pow(2).sum()
    n = len(y)
    first, second = torch.arange(0, n, 2, device=y.device), torch.arange(1, n, 2, device=y.device)
    g1 = autograd.grad(loss_fn(scaled(select(output, first), scale), y[first]), [scale], create_graph=True)[0]
    g2 = autograd.grad(loss_fn(scaled(select(output, second), scale), y[second]), [scale], create_graph=True)[0]
    return (g1 * g2).sum()


def penalty_schedule(step: int, weight: float, anneal: int) -> float:
    """λ at a step: 1 before ``anneal`` steps, then ``weight`` (IRM and DomainBed)."""
    return weight if step >= anneal else 1.0


class IRM(Method):
    """IRMv1: mean environment risk + λ · mean squared gradient of each risk with respect to a dummy scale."""

    name = "irm"
    description = "Invariant Risk Minimization (IRMv1 gradient penalty on a dummy classifier scale)"
    Options = IRMOptions
    needs_env = True

    def penalty(self, output, y: Tensor, env: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The batch's mean IRMv1 penalty over its environments, and the per-environment penalties."""
        values, metrics = [], {}
        for e in sorted(int(v) for v in torch.unique(env)):
            keep = env == e
            p = irm_penalty(self.context.loss_fn, select(output, keep), y[keep], unbiased=self.options.unbiased)
            values.append(p)
            metrics[f"penalty_env{e}"] = float(p.detach())
        return torch.stack(values).mean(), metrics

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        env = require_env(batch, self.name)
        output = model(batch.x)
        ids, risks = env_risks(self.context.loss_fn, output, batch.y, env)
        penalty, metrics = self.penalty(output, batch.y, env)
        weight = penalty_schedule(info.step, self.options.penalty_weight, self.options.penalty_anneal_iters)
        loss = risks.mean() + weight * penalty
        if self.options.l2:
            loss = loss + self.options.l2 * l2_norm(model)
        if self.options.rescale and weight > 1.0:
            loss = loss / weight
        metrics.update(risk_metrics(ids, risks), nll=float(risks.mean().detach()), penalty=float(penalty.detach()),
                       penalty_weight=weight)
        return StepOutput(loss, output, metrics)
