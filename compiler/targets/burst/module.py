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

import contextlib
from typing import Iterable, Iterator

import torch
from torch import fx, nn

from snnc.compiler.errors import SnncError

from .neurons import BurstNeuron, LIPool, StatefulModule
from .ops import SHAPE_KEY, spike_inputs
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

    def step(self, x: torch.Tensor, state: dict[str, torch.Tensor] | None = None):
        """Run one step, from the state kept in the modules or from an explicit ``state``.

        Args:
            x: the input current of this step, ``[B, ...]``.
            state: None to continue from the modules' own state (call :meth:`reset` before a new input);
                or a mapping from :meth:`init_state` / a previous step, which is neither read from nor
                written to the modules.

        Returns:
            Without ``state``: this step's output ``[B, ...]`` (no head). With ``state``: ``(output,
            new_state)``; iterating from :meth:`init_state` for ``T`` steps gives :meth:`forward`'s steps.
        """
        if self._synced is not None:  # continuing a forward/accumulate run made through the plan
            plan, static, chunks = self._synced
            self._synced = None
            with torch.no_grad():
                plan.sync_split_pools(static, chunks)
        if state is None:
            return self._run(x, 1)[0]
        modules = self._state_modules()
        kept = {key: getattr(module, attr) for key, (module, attr) in modules.items()}
        try:
            for key, (module, attr) in modules.items():
                setattr(module, attr, state[key])
            out = self._run(x, 1)[0]
            new_state = {key: getattr(module, attr) for key, (module, attr) in modules.items()}
        finally:
            for key, (module, attr) in modules.items():
                setattr(module, attr, kept[key])
                module.release_state()  # new_state is the caller's now: never update it in place
        return out, new_state

    def state_layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """The state tensors: ``(key, per-sample shape)``, in graph order.

        Keys: ``"<layer>.mem"`` for a burst neuron's membrane; ``"<layer>.accumulated"`` and
        ``"<layer>.emitted"`` for a LIPool (accumulated input, pooled output emitted so far).

        Raises:
            SnncError: a stateful node carries no recorded shape.
        """
        layout = []
        names = {id(m): n for n, m in self.network.named_modules()}
        for node in self.network.graph.nodes:
            if node.op != "call_module":
                continue
            module = self.network.get_submodule(node.target)
            if not isinstance(module, StatefulModule):
                continue
            source = node.args[0] if node.args else None
            shape_in = getattr(source, "meta", {}).get(SHAPE_KEY)
            shape_out = node.meta.get(SHAPE_KEY)
            if shape_in is None or shape_out is None:
                raise SnncError(f"stateful layer '{node.target}' carries no recorded shape; convert the network "
                                "with snnc.convert to use init_state/step")
            name = names[id(module)]
            if isinstance(module, BurstNeuron):
                layout.append((f"{name}.mem", tuple(shape_out[1:])))
            else:
                layout.append((f"{name}.accumulated", tuple(shape_in[1:])))
                layout.append((f"{name}.emitted", tuple(shape_out[1:])))
        return layout

    def init_state(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The state at the start of a run for ``batch_size`` samples (what :meth:`reset` leads to).

        Args:
            batch_size: samples per batch.

        Returns:
            An ordered mapping (see :meth:`state_layout`): membranes at ``v_init * theta`` (plus a calibrated
            offset), LIPool accumulators at zero and their emitted output at ``pool(0)``.
        """
        batch_size = _positive("batch_size", batch_size)
        modules = self._state_modules()
        ref = next(iter(self.network.buffers()), None)
        if ref is None:
            ref = next(iter(self.network.parameters()), torch.zeros(()))
        state: dict[str, torch.Tensor] = {}
        for key, shape in self.state_layout():
            module, attr = modules[key]
            zeros = torch.zeros((batch_size, *shape), dtype=ref.dtype, device=ref.device)
            if isinstance(module, BurstNeuron):
                state[key] = zeros + module.initial_membrane(zeros)
            elif attr == "accumulated":
                state[key] = zeros
            else:
                with torch.no_grad():
                    state[key] = module.pool(state[key.rsplit(".", 1)[0] + ".accumulated"])
        return state

    def reset(self) -> None:
        """Reset every neuron's membrane and every LIPool's accumulator."""
        self._synced = None
        plan = self._plan[1] if self._plan is not None else None
        for module in self._stateful() + (plan.accumulators if plan is not None else []):
            module.reset()

    def _apply(self, fn, recurse=True):
        # Why: moving or casting replaces buffers with new tensors; the cached plan holds the old ones.
        result = super()._apply(fn, recurse)
        self._plan = self._synced = None
        return result

    def train(self, mode: bool = True) -> "BurstSNN":
        """Set the training flag; the converted layers stay in eval mode (they have no training behaviour)."""
        super().train(mode)
        self.network.eval()
        return self

    # --- the spiking-network contract ---------------------------------------------------------------------

    output_form = "scores"
    """``forward`` returns the decoded (time-averaged) output, not a recording."""

    target_name = "burst"
    """The target this network belongs to: what exports name when it carries no spec (``snnc.convert`` of a
    hand-written model)."""

    def scores(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        """The output of :meth:`forward` over ``timesteps`` steps (default :attr:`timesteps`): time-averaged, head
        applied, ``[B, ...]``."""
        return self(x, timesteps)

    def decode_output(self, output: torch.Tensor) -> torch.Tensor:
        """Scores from what :meth:`forward` returned (the same tensor)."""
        return output

    @contextlib.contextmanager
    def recording(self) -> Iterator["BurstSNN"]:
        """Zero the spike counters and yield; read :meth:`spike_counts` inside or after the block."""
        self.reset_counts()
        yield self

    def layer(self, name: str) -> nn.Module:
        """The submodule of the converted network that computes IR node ``name``."""
        return self.network.get_submodule(name)

    def spike_values(self) -> dict[str, torch.Tensor]:
        """The value one spike carries in each neuron layer: its threshold ``θ``."""
        return self.thresholds()

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

    def _state_modules(self) -> dict[str, tuple[StatefulModule, str]]:
        """State key → (module, attribute holding that state)."""
        found: dict[str, tuple[StatefulModule, str]] = {}
        for name, module in self.network.named_modules():
            if isinstance(module, BurstNeuron):
                found[f"{name}.mem"] = (module, "v")
            elif isinstance(module, LIPool):
                found[f"{name}.accumulated"] = (module, "accumulated")
                found[f"{name}.emitted"] = (module, "emitted")
        return found

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
