"""``dann``: domain-adversarial training (Ganin et al., JMLR 2016) with report A's three loss weights.

A domain discriminator ``D`` (an MLP) reads the features ``h`` of one named IR node (firing rates, the mean over
time, for a spiking layer) through a gradient-reversal layer ``GRL_α`` (identity forward, ``-α·grad`` backward):

.. math::

    L = w_1\\,\\mathrm{loss}(f(x_s), y_s) + w_2\\,\\mathrm{CE}(D(\\mathrm{GRL}_\\alpha(h_s)), 0)
        + w_3\\,\\mathrm{CE}(D(\\mathrm{GRL}_\\alpha(h_t)), 1)

over the batch's source samples ``s`` (environments in ``source_envs``) and target samples ``t`` (every other
environment; their labels are never read). Minimising ``L`` trains ``D`` to tell the domains apart while the
reversed gradient trains the features to make them indistinguishable. The reversal coefficient follows Ganin's
schedule ``α(p) = α_max (2 / (1 + exp(-γ p)) - 1)`` with ``p`` the share of training done (``constant``: ``α_max``).
Model selection reads the source environments only: the trainer's validation split keeps their samples
(:meth:`DANN.validation_set`).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, autograd, nn
from torch.utils.data import Subset

from snnc.compiler.errors import UnsupportedError

from .base import Batch, Method, MethodContext, StepInfo, StepOutput
from .envs import environments_of, mean_features, require_env, select


class DANNOptions(BaseModel):
    """Options of ``dann``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    features: str | None = Field(None, description="the IR node whose output the discriminator reads (default: "
                                 "the input of the last linear layer)")
    source_envs: tuple[int, ...] = Field((0,), description="environments whose labels are used (the rest: target)")
    w_class: float = Field(1.0, ge=0, description="w1, weight of the source classification loss")
    w_source: float = Field(1.0, ge=0, description="w2, weight of the source-domain discrimination loss")
    w_target: float = Field(1.0, ge=0, description="w3, weight of the target-domain discrimination loss")
    hidden: int = Field(100, ge=1, description="hidden units of the discriminator")
    schedule: Literal["ganin", "constant"] = Field("ganin", description="the reversal coefficient over training")
    gamma: float = Field(10.0, gt=0, description="γ of Ganin's schedule")
    alpha: float = Field(1.0, ge=0, description="α_max, the largest reversal coefficient")


class _Reverse(autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.alpha * grad, None


def grad_reverse(x: Tensor, alpha: float = 1.0) -> Tensor:
    """The gradient-reversal layer: returns ``x``; the gradient flowing back is multiplied by ``-alpha``."""
    return _Reverse.apply(x, float(alpha))


def ganin_alpha(progress: float, gamma: float = 10.0, alpha: float = 1.0) -> float:
    """Ganin et al.'s reversal coefficient ``α (2 / (1 + exp(-γ p)) - 1)``: 0 at the start, → α at the end."""
    return alpha * (2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0)


def default_feature_node(graph) -> str:
    """The node feeding the graph's last linear layer (the penultimate features).

    Raises:
        UnsupportedError: the graph has no linear layer with an input.
    """
    for node in reversed(graph.nodes):
        if node.kind == "linear" and node.inputs:
            return node.inputs[0]
    raise UnsupportedError("method 'dann' could not find a linear layer: name the feature node with "
                           "--method-option features=NODE")


class DANN(Method):
    """Classify the source, and make a named node's features domain-invariant through gradient reversal."""

    name = "dann"
    description = "domain-adversarial training: gradient reversal into a domain discriminator on a node's features"
    Options = DANNOptions
    needs_env = True

    def __init__(self, options: DANNOptions, context: MethodContext):
        super().__init__(options, context)
        self.node = options.features or default_feature_node(context.graph)
        try:
            node = context.graph.node(self.node)
        except KeyError:
            known = ", ".join(n.name for n in context.graph.nodes)
            raise UnsupportedError(f"method 'dann': the graph has no node '{self.node}' (its nodes: {known})") \
                from None
        self.rank = len(node.shape)
        size = math.prod(node.shape)
        self.discriminator = nn.Sequential(nn.Linear(size, options.hidden), nn.ReLU(),
                                           nn.Linear(options.hidden, options.hidden), nn.ReLU(),
                                           nn.Linear(options.hidden, 2))

    @property
    def taps(self) -> tuple[str, ...]:
        return (self.node,)

    def modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.discriminator}

    def validation_set(self, dataset: Any) -> Any:
        """Only the source environments of the validation split (the target's labels stay unread).

        Raises:
            UnsupportedError: the validation split holds no source sample.
        """
        keep = torch.isin(environments_of(dataset), torch.tensor(self.options.source_envs))
        if not keep.any():
            raise UnsupportedError(f"method 'dann': the validation split has no sample of the source environments "
                                   f"{list(self.options.source_envs)}; raise --val-fraction or check "
                                   "--method-option source_envs")
        return Subset(dataset, torch.nonzero(keep).squeeze(1).tolist())

    def alpha(self, info: StepInfo) -> float:
        """The reversal coefficient at this step."""
        if self.options.schedule == "constant":
            return self.options.alpha
        return ganin_alpha(info.progress, self.options.gamma, self.options.alpha)

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        env = require_env(batch, self.name)
        output, tapped = self.forward(model, batch.x)
        features = mean_features(tapped[self.node], self.rank)
        self.discriminator.to(features.device)
        alpha = self.alpha(info)
        logits = self.discriminator(grad_reverse(features, alpha))
        source = torch.isin(env, torch.tensor(self.options.source_envs, device=env.device))
        target = ~source
        zero = features.sum() * 0.0
        o = self.options
        cls = self.context.loss_fn(select(output, source), batch.y[source]) if source.any() else zero
        dom_s = F.cross_entropy(logits[source], torch.zeros(int(source.sum()), dtype=torch.long,
                                                             device=env.device)) if source.any() else zero
        dom_t = F.cross_entropy(logits[target], torch.ones(int(target.sum()), dtype=torch.long,
                                                           device=env.device)) if target.any() else zero
        loss = o.w_class * cls + o.w_source * dom_s + o.w_target * dom_t
        domain_acc = float(((logits.argmax(1) == 1) == target).float().mean())
        metrics = {"class_loss": float(cls.detach()), "domain_loss_source": float(dom_s.detach()),
                   "domain_loss_target": float(dom_t.detach()), "domain_acc": domain_acc, "alpha": alpha}
        return StepOutput(loss, output, metrics)
