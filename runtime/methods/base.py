"""What a training method is: the loss of one optimisation step, extra trainable modules, and the IR nodes it reads.

The trainer (:mod:`snnc.runtime.trainer`) owns the optimizer, the data and the life cycle; a method owns what
one step computes, as DomainBed's ``Algorithm.update``, and may reshape the training set
(:meth:`Method.prepare_dataset`) and the network (:meth:`Method.prepare_model`) once before training. A new method is a new module registered in
:data:`snnc.runtime.methods.METHODS`, never a new branch in the trainer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from snnc.compiler.errors import UnsupportedError


class NoOptions(BaseModel):
    """A method without options."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Batch:
    """One training batch.

    Attributes:
        x: inputs ``[B, ...]``.
        y: targets ``[B]`` (or ``[B, H, W]``).
        env: the environment / domain of each sample (long ``[B]``), or None.
        attr: each sample's spurious attribute (e.g. its colour, long ``[B]``) when the method's
            :meth:`Method.prepare_dataset` asked for it (:class:`WithAttribute`), else None.
    """

    x: Tensor
    y: Tensor
    env: Tensor | None = None
    attr: Tensor | None = None

    @classmethod
    def of(cls, raw: Any) -> "Batch":
        """A batch from what a loader yields: ``(x, y)``, ``(x, y, env)``, ``(x, y, env, attr)`` or a dict with
        those keys (a fourth item is always read as the spurious attribute, :attr:`attr`)."""
        if isinstance(raw, Batch):
            return raw
        if isinstance(raw, Mapping):
            return cls(raw["x"], raw["y"], raw.get("env"), raw.get("attr"))
        if isinstance(raw, (tuple, list)) and len(raw) in (2, 3, 4):
            return cls(*raw)
        raise UnsupportedError("a training batch must be (x, y), (x, y, env), (x, y, env, attr) or a dict with "
                               "x, y, env and attr")

    def to(self, device: Any) -> "Batch":
        """The batch on ``device``."""
        env = self.env.to(device) if self.env is not None else None
        attr = self.attr.to(device) if self.attr is not None else None
        return Batch(self.x.to(device), self.y.to(device), env, attr)

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class StepInfo:
    """Where training stands at a step.

    Attributes:
        epoch: the current epoch, from 1.
        epochs: epochs in the run.
        step: the global step, from 0.
        steps_per_epoch: batches in one epoch.
    """

    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int

    @property
    def progress(self) -> float:
        """The share of the run done before this step, in [0, 1)."""
        return self.step / max(1, self.epochs * self.steps_per_epoch)


@dataclass
class StepOutput:
    """What one step of a method gives the trainer.

    Attributes:
        loss: the scalar to minimise.
        output: the model's output on ``batch.x`` (the trainer scores it against ``batch.y``).
        metrics: further figures of the step (e.g. ``penalty``), averaged over the epoch by the trainer.
    """

    loss: Tensor
    output: Any
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodContext:
    """What a method may know about the model it trains.

    Attributes:
        graph: the IR graph of the spec.
        spiking: whether the model is a spiking network (output ``(spk, mem)``, ``[T, B, ...]``).
        decoding: the spiking output's decoding kind (``rate``, ``count``, ``membrane``), None for an ann.
        loss_fn: the run's loss ``loss(output, targets) -> scalar`` (the ``--loss`` choice or the default).
        epochs: epochs in the run.
        steps_per_epoch: batches in one epoch.
        spec: the validated spec model (sections such as ``memristor`` a method may read), or None.
    """

    graph: Any
    spiking: bool
    decoding: str | None
    loss_fn: Any
    epochs: int
    steps_per_epoch: int
    spec: Any = None


class Method:
    """A training method. Subclasses set :attr:`name`, :attr:`description`, :attr:`Options` and :meth:`step`.

    Args:
        options: a validated instance of :attr:`Options`.
        context: see :class:`MethodContext`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_env: ClassVar[bool] = False
    """Whether batches must carry an environment label."""

    def __init__(self, options: BaseModel, context: MethodContext):
        self.options = options
        self.context = context

    @property
    def taps(self) -> tuple[str, ...]:
        """Names of IR nodes whose outputs :meth:`step` reads (see :func:`tapped`)."""
        return ()

    def modules(self) -> dict[str, nn.Module]:
        """Extra trainable modules (e.g. a domain discriminator): optimised with the model and checkpointed."""
        return {}

    def prepare_dataset(self, dataset: Any) -> Any:
        """The training set this method trains on, given the run's training set (called once, before the loaders).

        The default returns ``dataset`` unchanged. A method that resamples (``balanced``) returns another
        map-style dataset, e.g. a ``Subset`` of it; one that reads each sample's colour (``spike_similarity`` with
        ``pairing: other-colour``) wraps it in :class:`~snnc.runtime.methods.envs.WithAttribute`, whose items are
        ``(x, y, env, attr)``. The trainer never passes validation or test sets here; the OOD reproductions
        (``examples/ood_common.py``) pass their held-out split too, so that it is resampled as training data is.

        Args:
            dataset: the training set (possibly a ``Subset`` of a dataset after a validation split).

        Returns:
            The dataset to build the training loader from.
        """
        return dataset

    def prepare_model(self, model: nn.Module, dataset: Any) -> nn.Module:
        """The model this method trains, given the one the trainer built (called once, after
        :meth:`prepare_dataset` and before the optimizer is made, so the optimizer, checkpoints and a resumed
        run's weights are those of the returned model).

        The default returns ``model`` unchanged. A method that changes the network itself returns the changed
        network: ``qcfs`` replaces each ReLU by a trainable quantised clip-floor-shift activation and may set its
        thresholds from ``dataset``. What it returns must still save and rebuild through the pipeline (its target's
        ``extras``/``skeleton``: the ann target records QCFS sites), or ``best.pt`` would not load.

        Args:
            model: the freshly built (or ``--init``) model, on the training device, in training mode.
            dataset: the training set (what :meth:`prepare_dataset` returned), for data-dependent set-up.

        Returns:
            The model to train.
        """
        return model

    def validation_set(self, dataset: Any) -> Any:
        """The part of the run's validation split that model selection may read (called once, after the split).

        The default keeps all of it. A domain-adaptation method (``dann``) keeps only its labelled source
        environments: the target's labels are not to be read, in training or in choosing ``best.pt``.

        Args:
            dataset: the validation split (a ``Subset`` of the training data).

        Returns:
            The dataset the per-epoch validation scores are computed on.
        """
        return dataset

    def step(self, model: nn.Module, batch: Batch, info: StepInfo) -> StepOutput:
        """The loss of one step.

        Args:
            model: the model being trained (in training mode).
            batch: the batch.
            info: where training stands.

        Returns:
            The :class:`StepOutput`.
        """
        raise NotImplementedError

    def forward(self, model: nn.Module, x: Tensor) -> tuple[Any, dict[str, Tensor]]:
        """Run ``model`` on ``x`` and collect the outputs of :attr:`taps` (with their gradients)."""
        with tapped(getattr(model, "module", model) if _is_wrapper(model) else model, self.taps,
                    batch=int(x.shape[0])) as outputs:
            out = model(x)
        return out, {name: outputs[name] for name in self.taps}


def _is_wrapper(model: nn.Module) -> bool:
    """Whether ``model`` is a ``DistributedDataParallel`` (or similar) wrapper around ``model.module``."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    return isinstance(model, (DataParallel, DistributedDataParallel))


@contextlib.contextmanager
def tapped(model: nn.Module, names: Sequence[str], *, batch: int) -> Iterator[dict[str, Tensor]]:
    """Collect the outputs of the named layers of a compiled model during the calls in the ``with`` block.

    Layers are found by their IR node names (``snnc.compile`` names submodules after the nodes). In a spiking
    model a layer's output is ``[T, B, ...]`` (the time-folded chunks are put back in order); a layer run once
    per call (before the first neuron under direct encoding) and every ann layer give ``[B, ...]``.

    Args:
        model: a module compiled by snnc.
        names: IR node names.
        batch: the batch size of the calls.

    Yields:
        name → output tensor (filled when the block ends; gradients are kept).

    Raises:
        UnsupportedError: a name that is not a layer of the model.
    """
    found: dict[str, list[Tensor]] = {name: [] for name in names}
    outputs: dict[str, Tensor] = {}
    handles = []
    for name in names:
        try:
            layer = model.get_submodule(name)
        except AttributeError:
            raise UnsupportedError(f"the model has no layer '{name}' to read (its layers: "
                                   f"{', '.join(n for n, _ in model.named_children())})") from None

        def hook(module, args, output, _name=name):
            found[_name].append(output[0] if isinstance(output, tuple) else output)

        handles.append(layer.register_forward_hook(hook))
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()
    for name, chunks in found.items():
        if not chunks:
            raise UnsupportedError(f"layer '{name}' did not run in the model's forward pass")
        if len(chunks) == 1 and chunks[0].shape[0] == batch:
            outputs[name] = chunks[0]
        else:
            outputs[name] = torch.cat([c.unflatten(0, (-1, batch)) for c in chunks])
