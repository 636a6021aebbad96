"""``spike_similarity``: the run's loss plus λ · (1 − cos) between spike trains of paired samples of two
training environments (users' report B).

.. math::

    L = \\mathrm{loss}(f(x), y) + \\lambda_k \\cdot \\frac{1}{|P|}\\sum_{(i, j) \\in P}
        \\big(1 - \\cos(O_i, O_j)\\big), \\qquad \\lambda_k = \\lambda \\cdot \\min\\!\\big(1, \\tfrac{k - 1}{K - 1}\\big)

``P`` pairs, within the batch and label by label, samples of environment ``a`` with samples of environment ``b``
(the first and second of ``envs``, by default the two lowest environments in the batch): the ``n``-th sample
of label ``y`` in ``a`` with the ``n``-th of label ``y`` in ``b``, as many pairs as the rarer side has. ``O_i``
is sample ``i``'s whole spike train, flattened over time and neurons:

* ``layer`` unset (variant 1, "output"): the output layer's spikes ``spk [T, classes]`` (an ann: its logits);
* ``layer: NODE`` (variant 2, "hidden"): the outputs of that IR node over time ``[T, ...]`` (an ann: its
  activations).

``pairing: other-colour`` (variant 3, "cross-colour") pairs only samples whose spurious attribute (the colour,
read from the dataset's ``attribute``, default ``colors``) differs: for each ordered pair of colours ``c ≠ c'``
seen with label ``y``, the ``n``-th sample of label ``y`` and colour ``c`` in ``a`` with the ``n``-th of label
``y`` and colour ``c'`` in ``b`` (with two colours each sample is paired at most once; with more, once per other
colour). With the default pairing most pairs
share their colour too (colour agrees with the label in 85% of the training images), so the term does not
discourage reading the colour; across colours it does: a red and a green image of one label must fire alike.
Like ``balanced``, this variant uses each training image's colour.

``centre: true`` removes, at each time step, the mean over the compared units (output classes or the layer's
neurons) before the cosine. Without it a non-spiking read-out can make any two outputs alike by adding one large
value to every class, which leaves its decision as it was; centred, the cosine of two binary read-outs is that of
their class margins over the time steps, so it is low exactly when the two images are classified apart. With
one step (an ann) and two units a centred vector is ``(d/2, -d/2)``, every cosine is ±1 and has no gradient:
that combination is refused.

``λ_k`` rises linearly from 0 in epoch 1 to ``λ`` in epoch ``K`` (``ramp_epochs``, default: the run's epochs).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from snnc.compiler.errors import UnsupportedError

from .base import Batch, Method, MethodContext, StepInfo, StepOutput
from .envs import WithAttribute, require_env, time_major


class SpikeSimilarityOptions(BaseModel):
    """Options of ``spike_similarity``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lam: float = Field(1.0, ge=0, description="λ reached at the end of the ramp")
    layer: str | None = Field(None, description="IR node whose trains are compared (default: the output spikes)")
    envs: tuple[int, int] | None = Field(None, description="the two environments paired (default: the two lowest "
                                         "in the batch)")
    ramp_epochs: int | None = Field(None, ge=1, description="epochs over which λ rises from 0 (default: all)")
    pairing: Literal["label", "other-colour"] = Field("label", description="pair same-label samples (label), or "
                                                      "same-label samples of different colours (other-colour)")
    attribute: str = Field("colors", description="the dataset attribute holding the colour (other-colour pairing)")
    centre: bool = Field(False, description="remove each time step's mean over the compared units before the "
                         "cosine (a common offset then cannot make two trains alike)")


def dissimilarity(a: Tensor, b: Tensor) -> Tensor:
    """Mean ``1 - cos(a_i, b_i)`` over paired rows of ``[P, D]`` trains (0 for identical non-zero trains)."""
    return (1.0 - F.cosine_similarity(a, b, dim=1, eps=1e-8)).mean()


def pair_by_label(y: Tensor, env: Tensor, a: int, b: int,
                  attr: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Indices ``(i, j)`` pairing, label by label and in batch order, samples of environment ``a`` with ``b``.

    With ``attr`` (each sample's colour), only samples of different colours are paired: within each label, the
    samples of colour ``c`` in ``a`` with those of colour ``c'`` ≠ ``c`` in ``b``, for every ordered pair of colours.
    """
    first, second = [], []
    for label in torch.unique(y):
        in_a, in_b = (env == a) & (y == label), (env == b) & (y == label)
        if attr is None:
            groups = [(in_a, in_b)]
        else:
            colours = torch.unique(attr[in_a | in_b]).tolist()
            groups = [(in_a & (attr == c), in_b & (attr == d)) for c in colours for d in colours if c != d]
        for mask_a, mask_b in groups:
            ia = torch.nonzero(mask_a).squeeze(1)
            ib = torch.nonzero(mask_b).squeeze(1)
            n = min(len(ia), len(ib))
            first.append(ia[:n])
            second.append(ib[:n])
    if not first:
        empty = torch.zeros(0, dtype=torch.long, device=y.device)
        return empty, empty
    return torch.cat(first), torch.cat(second)


def ramp(epoch: int, epochs: int, lam: float) -> float:
    """λ in ``epoch`` (from 1): ``lam · (epoch - 1) / (epochs - 1)``, capped at ``lam`` (``lam`` if one epoch)."""
    if epochs <= 1:
        return lam
    return lam * min(1.0, (epoch - 1) / (epochs - 1))


class SpikeSimilarity(Method):
    """The run's loss plus λ · (1 − cos) between spike trains of same-label samples of two environments."""

    name = "spike_similarity"
    description = "loss + λ·(1 − cos) between spike trains of paired samples of two training environments"
    Options = SpikeSimilarityOptions
    needs_env = True

    def __init__(self, options: SpikeSimilarityOptions, context: MethodContext):
        super().__init__(options, context)
        self.rank = 0
        if options.layer is not None:
            try:
                self.rank = len(context.graph.node(options.layer).shape)
            except KeyError:
                known = ", ".join(n.name for n in context.graph.nodes)
                raise UnsupportedError(f"method 'spike_similarity': the graph has no node '{options.layer}' "
                                       f"(its nodes: {known})") from None

    def prepare_dataset(self, dataset: Any) -> Any:
        if self.options.pairing == "other-colour":
            return WithAttribute(dataset, self.options.attribute, self.name)
        return dataset

    @property
    def taps(self) -> tuple[str, ...]:
        return (self.options.layer,) if self.options.layer else ()

    def trains(self, output, tapped: dict[str, Tensor]) -> Tensor:
        """Each sample's compared train, flattened: ``[B, D]`` (with ``centre``, each step's mean removed)."""
        if self.options.layer:
            t = tapped[self.options.layer]
            per_step = t.transpose(0, 1).flatten(2) if time_major(t, self.rank) else t.flatten(1).unsqueeze(1)
        elif isinstance(output, Tensor):
            per_step = output.flatten(1).unsqueeze(1)
        else:
            per_step = output[0].transpose(0, 1).flatten(2)
        if self.options.centre:
            if per_step.shape[1] == 1 and per_step.shape[2] <= 2:
                raise UnsupportedError("method 'spike_similarity': centre on one time step of at most two units "
                                       "makes every cosine ±1, with no gradient; use it on a spiking network "
                                       "(T steps) or with layer: NODE, or leave centre off")
            per_step = per_step - per_step.mean(dim=2, keepdim=True)
        return per_step.flatten(1)

    def step(self, model, batch: Batch, info: StepInfo) -> StepOutput:
        env = require_env(batch, self.name)
        output, tapped = self.forward(model, batch.x)
        base = self.context.loss_fn(output, batch.y)
        if self.options.envs is not None:
            a, b = self.options.envs
        else:
            present = sorted(int(e) for e in torch.unique(env))
            a, b = (present + present[-1:])[:2] if present else (0, 0)
        attr = None
        if self.options.pairing == "other-colour":
            if batch.attr is None:
                raise UnsupportedError("method 'spike_similarity' with pairing other-colour needs each sample's "
                                       "colour in the batch (x, y, env, attr); train through snnc train or "
                                       "give the batches an attr")
            attr = batch.attr
        i, j = pair_by_label(batch.y, env, a, b, attr)
        trains = self.trains(output, tapped)
        term = dissimilarity(trains[i], trains[j]) if len(i) and a != b else trains.sum() * 0.0
        lam = ramp(info.epoch, self.options.ramp_epochs or info.epochs, self.options.lam)
        loss = base + lam * term
        metrics = {"base_loss": float(base.detach()), "dissimilarity": float(term.detach()), "lambda": lam,
                   "pairs": float(len(i))}
        return StepOutput(loss, output, metrics)
