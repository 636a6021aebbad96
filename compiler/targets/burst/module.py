"""The converted network and how it runs over time: :class:`BurstSNN`.

Execution (direct encoding): the same analog input ``x`` ``[B, ...]`` is the input current at every step.
The layers before the first neuron compute the same value at every step, so :meth:`BurstSNN.forward` and
:meth:`BurstSNN.accumulate` run them once per call on ``B`` samples (:mod:`.plan`). The remaining ``T`` steps
run in chunks of ``c`` steps; a chunk folds time into the batch (``[c * B, ...]``), so every stateless layer
(conv, linear, pooling) runs once per chunk over all ``c * B`` samples and only the neurons and LIPools loop
over time, carrying their state from chunk to chunk. ``c = 1`` is plain step-by-step execution
(:meth:`BurstSNN.step`, which runs the whole network each step, as its input may change); all of these give
the same outputs bit for bit.

The output layer has no ReLU, so it emits an analog current each step; its time average approximates the
ANN's output (logits). A softmax / log-softmax / sigmoid that ended the ANN is applied to that average.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import fx, nn

from snnc.compiler.errors import SnncError

from .neurons import BurstNeuron, StatefulModule
from .ops import spike_inputs
from .plan import StaticPlan, plan_static


class BurstSNN(nn.Module):
    """A burst-spiking network converted from an ANN, run for ``T`` steps per call.

    Membrane state is reset at the start of every :meth:`forward` / :meth:`accumulate` call (not by
    :meth:`step`). Spike counts accumulate over calls until :meth:`reset_counts`, so firing rates can be
    measured over a whole data set.

    Args:
        network: the converted graph module (one step of it maps ``[c * B, ...]`` to ``[c * B, ...]``).
        head: applied to the time-averaged output (e.g. the ANN's final softmax), or None.
        timesteps: the default ``T``.
        fold_batch: the most samples (time steps × batch) one chunk folds together; bounds memory.
        config: the conversion settings, kept for reports.

    Attributes:
        network: the converted ``fx.GraphModule``.
        config: the conversion settings (method, gamma, percentile, ...).
    """

    def __init__(self, network: fx.GraphModule, head: nn.Module | None = None, *, timesteps: int = 64,
                 fold_batch: int = 256, config: dict | None = None) -> None:
        super().__init__()
        self.network = network
        self.head = head
        self.timesteps = _positive("timesteps", timesteps)
        self.fold_batch = _positive("fold_batch", fold_batch)
        self.config = dict(config or {})
        self._input_spikes = spike_inputs(network)
        self._plan: tuple[fx.GraphModule, StaticPlan | None] | None = None  # (for which network, the plan)
        self._synced: tuple | None = None  # the last planned run, until split LIPools get its state

    # --- running ------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, timesteps: int | None = None,
                return_steps: bool = False) -> torch.Tensor:
        """Run ``T`` steps on input ``x`` (reset first).

        Args:
            x: the input ``[B, ...]``, applied at every step.
            timesteps: ``T`` (default: :attr:`timesteps`).
            return_steps: return the per-step outputs instead of their average.

        Returns:
            The output averaged over the ``T`` steps, head applied, ``[B, ...]``; or, with ``return_steps``,
            the per-step outputs ``[T, B, ...]`` (no head), so ``out.cumsum(0) / t`` reads every ``t`` from one
            run.
        """
        steps = _positive("timesteps", self.timesteps if timesteps is None else timesteps)
        self.reset()
        outputs: list[torch.Tensor] = []
        total: torch.Tensor | None = None
        run = self._runner(x)
        for chunk in self._chunks(steps, x.shape[0]):
            y = run(chunk)
            if return_steps:
                outputs.append(y)
            total = y.sum(dim=0) if total is None else total + y.sum(dim=0)
        if return_steps:
            return torch.cat(outputs)
        return self._apply_head(total / steps)

    def accumulate(self, x: torch.Tensor, checkpoints: Iterable[int]) -> dict[int, torch.Tensor]:
        """Run once for ``max(checkpoints)`` steps and read the averaged output at each checkpoint.

        Args:
            x: the input ``[B, ...]``.
            checkpoints: step counts, e.g. ``[4, 8, 16, 32, 64]``.

        Returns:
            Mapping ``t`` → output averaged over the first ``t`` steps, head applied, ``[B, ...]``.
        """
        wanted = sorted({_positive("checkpoint", int(t)) for t in checkpoints})
        if not wanted:
            raise SnncError("accumulate() needs at least one checkpoint")
        self.reset()
        results: dict[int, torch.Tensor] = {}
        done, running = 0, None
        run = self._runner(x)
        for chunk in self._chunks(wanted[-1], x.shape[0]):
            y = run(chunk)
            cumulative = y.cumsum(dim=0) if running is None else running + y.cumsum(dim=0)
            for t in wanted:
                if done < t <= done + chunk:
                    results[t] = self._apply_head(cumulative[t - done - 1] / t)
            running, done = cumulative[-1], done + chunk
        return results

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """Run one step from the current state (call :meth:`reset` before a new input).

        Args:
            x: the input current of this step, ``[B, ...]``.

        Returns:
            This step's output ``[B, ...]`` (no head).
        """
        if self._synced is not None:  # continuing a forward/accumulate run made through the plan
            plan, static, chunks = self._synced
            self._synced = None
            with torch.no_grad():
                plan.sync_split_pools(static, chunks)
        return self._run(x, 1)[0]

    def reset(self) -> None:
        """Reset every neuron's membrane and every LIPool's accumulator."""
        self._synced = None
        plan = self._plan[1] if self._plan is not None else None
        for module in self._stateful() + (plan.accumulators if plan is not None else []):
            module.reset()

    def train(self, mode: bool = True) -> "BurstSNN":
        """Set the training flag; the converted layers stay in eval mode (they have no training behaviour)."""
        super().train(mode)
        self.network.eval()
        return self

    # --- statistics ---------------------------------------------------------------------------------------

    def neurons(self) -> dict[str, BurstNeuron]:
        """Mapping layer name → burst neuron, in graph order."""
        return {name: m for name, m in self.network.named_modules() if isinstance(m, BurstNeuron)}

    def spike_counts(self) -> dict[str, int]:
        """Spikes per neuron layer since :meth:`reset_counts` (a burst of ``k`` spikes counts ``k``)."""
        return {name: int(round(m.spike_total)) for name, m in self.neurons().items()}

    def neuron_counts(self) -> dict[str, int]:
        """Neurons per sample in each neuron layer."""
        return {name: m.neurons for name, m in self.neurons().items()}

    @property
    def sample_steps(self) -> int:
        """Samples × time steps simulated since :meth:`reset_counts`."""
        return max((m.sample_steps for m in self.neurons().values()), default=0)

    def firing_rates(self) -> dict[str, float]:
        """Spikes per neuron per time step in each neuron layer (can exceed 1 with bursts, up to gamma)."""
        steps = self.sample_steps
        return {name: (m.spike_total / (m.neurons * steps) if steps and m.neurons else 0.0)
                for name, m in self.neurons().items()}

    def reset_counts(self) -> None:
        """Zero the spike counters."""
        for module in self.neurons().values():
            module.reset_counts()

    def thresholds(self) -> dict[str, torch.Tensor]:
        """Mapping neuron layer → threshold (a scalar, or per channel)."""
        return {name: m.threshold for name, m in self.neurons().items()}

    def input_is_spikes(self) -> dict[str, bool]:
        """Mapping layer → whether its input is spikes (``k * theta``, ``k <= gamma``) rather than analog.

        Layers after a neuron (through flatten/view/cat/LIPool) get spikes; the first layer, layers after an
        average pooling or a residual sum get analog values. See :func:`~.ops.spike_inputs`.
        """
        return dict(self._input_spikes)

    # --- internals ----------------------------------------------------------------------------------------

    def _stateful(self) -> list[StatefulModule]:
        return [m for m in self.network.modules() if isinstance(m, StatefulModule)]

    def _chunks(self, steps: int, batch: int) -> list[int]:
        size = max(1, min(steps, self.fold_batch // max(batch, 1)))
        return [min(size, steps - start) for start in range(0, steps, size)]

    def _static_plan(self) -> StaticPlan | None:
        """The prefix/suffix plan of the current :attr:`network` (built on first use), or None."""
        if self._plan is None or self._plan[0] is not self.network:
            self._plan = (self.network, plan_static(self.network))
        return self._plan[1]

    def _runner(self, x: torch.Tensor):
        """A function ``steps -> [steps, B, ...]`` that runs the next ``steps`` steps of the constant input ``x``
        (the static prefix computed once here, see :mod:`.plan`); state as after :meth:`reset`."""
        plan = self._static_plan()
        if plan is None:
            return lambda steps: self._run(x, steps)
        with torch.no_grad():
            static = tuple(plan.prefix(x))
        chunks: list[int] = []
        self._synced = (plan, static, chunks)
        batch = x.shape[0]

        def run(steps: int) -> torch.Tensor:
            with torch.no_grad():
                y = plan.run(static, steps)
            chunks.append(steps)
            return self._unfold_output(y, steps, batch)

        return run

    def _unfold_output(self, y, steps: int, batch: int) -> torch.Tensor:
        if not isinstance(y, torch.Tensor) or y.dim() == 0 or y.shape[0] != steps * batch:
            raise SnncError(
                f"the converted network returned {getattr(y, 'shape', type(y).__name__)} for a folded batch of "
                f"{steps * batch}; its output must keep the batch in dim 0"
            )
        return y.reshape(steps, batch, *y.shape[1:])

    def _run(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` steps of the same input, time folded into the batch; returns ``[steps, B, ...]``."""
        for module in self._stateful():
            module.steps = steps
        batch = x.shape[0]
        folded = x.unsqueeze(0).expand(steps, *x.shape).reshape(steps * batch, *x.shape[1:])
        with torch.no_grad():
            y = self.network(folded)
        return self._unfold_output(y, steps, batch)

    def _apply_head(self, y: torch.Tensor) -> torch.Tensor:
        return self.head(y) if self.head is not None else y


def _positive(what: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise SnncError(f"{what} must be a positive integer, got {value!r}")
    return int(value)
