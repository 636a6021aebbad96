"""``SpikingModule``: what :func:`~snnc.compiler.targets.snn.ann_to_snn` returns.

It runs two fx programs cut from the ann graph (see :mod:`.rewrite`):

* the **prefix** — every node that depends neither on time nor on a neuron (with direct encoding: the input
  and the layers before the first neuron) — once per call, on ``B`` samples;
* the **body** — the neurons and everything after them — on the time steps folded into the batch
  (``[k * B, ...]``), once per chunk of ``k`` steps; the body passes every neuron's state (membrane, synaptic
  current) from one chunk to the next and nothing is kept between calls.

Why chunks: on CPU a convolution over all ``T * B`` samples at once overflows the caches and can be slower
than ``T`` separate calls; a few steps at a time (about :data:`CHUNK_BYTES` of activations) is faster than
both, for fully connected layers too.

Long time windows (see ``docs/scale.md``): with :attr:`SpikingModule.checkpoint_time` each chunk's body call
runs under ``torch.utils.checkpoint`` (its activations are recomputed in the backward pass, so only the
neuron states between chunks are kept: the same gradients for a fraction of the memory); with
:attr:`SpikingModule.tbptt` ``K`` the neuron states are detached every ``K`` steps (truncated BPTT: the same
forward pass, an approximate gradient).

The submodules are the ann module's own (deep-copied), registered here under the same names, so the
``state_dict`` keys are the ann's (``fc1.weight``) plus the neurons' (``lif1.neuron.beta``); an ann
checkpoint loads with ``strict=False``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional

import torch
import torch.utils.checkpoint
from torch import Tensor, fx, nn

from ...errors import UnsupportedError
from .coding import Decoding, Encoding, decode, encode
from .loop import NeuronLoop, check_mode

CHUNK_BYTES = 4 * 2**20
"""Target size of the largest activation of one chunk (the body is cut into chunks of about this size)."""


_OWN_ATTRIBUTES = frozenset(
    {"timesteps", "encoding", "decoding", "chunk", "channels_last", "compiled", "_sample_numel", "_programs", "_loops",
     "_state_slots", "tbptt", "checkpoint_time"}
)


def to_channels_last(module: nn.Module) -> None:
    """``module.to(memory_format=torch.channels_last)`` (the same tensors, strides and values), without copying the
    4-d tensors whose elements already lie in channels-last order — 1×1 and depthwise kernels, most of a
    GhostNet's — which become channels-last views of themselves.

    Why: ``Tensor.to`` copies every one of them, about a quarter of a second for ``ghostnet_dfc``.
    """
    with torch.no_grad():
        for t in (*module.parameters(), *module.buffers()):
            if t.dim() != 4:
                continue
            if t.is_contiguous(memory_format=torch.channels_last):
                strides = torch.empty(t.shape, device="meta", memory_format=torch.channels_last).stride()
                t.data = t.data.as_strided(t.shape, strides)
            else:
                t.data = t.data.contiguous(memory_format=torch.channels_last)


class SpikingModule(nn.Module):
    """A spiking network over ``timesteps`` steps; ``forward(x)`` returns ``(spk, mem)``, each ``[T, B, ...]``.

    ``spk`` and ``mem`` are the spikes and membrane of the spike node that produces the output; if the
    graph's output is not a spike node, both are the output itself (over time).

    Attributes:
        timesteps: number of time steps per call (may be changed).
        encoding: the input encoding (``direct``, ``rate`` or ``latency``).
        decoding: the output decoding used by :meth:`decode`.
        chunk: steps per chunk, or None for automatic.
        channels_last: whether convolutions run in channels-last memory format.
        tbptt: truncated BPTT window ``K`` (neuron states detached every ``K`` steps), or None for full BPTT.
        checkpoint_time: recompute each chunk's activations in the backward pass instead of keeping them.
    """

    def __init__(
        self,
        network: fx.GraphModule,
        prefix: fx.GraphModule,
        body: fx.GraphModule,
        *,
        timesteps: int,
        encoding: Encoding,
        decoding: Decoding,
        chunk: Optional[int] = None,
        channels_last: bool = False,
        sample_numel: int = 0,
        compile: bool = False,
        tbptt: Optional[int] = None,
        checkpoint_time: bool = False,
    ):
        super().__init__()
        for name, child in network.named_children():
            if hasattr(SpikingModule, name) or name in _OWN_ATTRIBUTES:
                raise UnsupportedError(
                    f"node name '{name}' clashes with an attribute of the spiking module: rename the node"
                )
            self.add_module(name, child)
        for name, param in network.named_parameters(recurse=False):
            self.register_parameter(name, param)
        for name, buf in network.named_buffers(recurse=False):
            self.register_buffer(name, buf)
        self.timesteps = timesteps
        self.encoding = encoding
        self.decoding = decoding
        self.chunk = chunk
        self.channels_last = channels_last
        self.compiled = compile
        self.tbptt = tbptt
        self.checkpoint_time = checkpoint_time
        self._sample_numel = sample_numel
        if channels_last:
            to_channels_last(self)
        # Why a tuple: the programs share this module's submodules; registering them would list every
        # parameter twice.
        self._programs = (prefix, torch.compile(body, dynamic=False) if compile else body)
        self._loops = tuple((n, m) for n, m in self.named_modules() if isinstance(m, NeuronLoop))
        self._state_slots = 2 * sum(
            n.op == "call_module" and isinstance(body.get_submodule(n.target), NeuronLoop) for n in body.graph.nodes
        )

    # -- running -------------------------------------------------------------------------------------

    def _chunks(self, batch: int, steps: Optional[int] = None) -> list[int]:
        """Steps per chunk of a ``steps``-step call (default :attr:`timesteps`): :attr:`chunk`, or about
        :data:`CHUNK_BYTES` of the largest activation, balanced."""
        steps = self.timesteps if steps is None else steps
        size = self.chunk
        if size is None:
            size = steps
            if self._sample_numel:
                size = CHUNK_BYTES // (batch * self._sample_numel * 4)
            if self.checkpoint_time and torch.is_grad_enabled():
                # Why: each checkpointed chunk keeps its neuron states for the backward pass and costs a call of
                # torch.utils.checkpoint; chunks of about sqrt(T) steps balance the states kept against the
                # activations of the chunk recomputed (Chen et al., 2016), and make fewer calls.
                size = max(size, math.isqrt(steps - 1) + 1)
        count = -(-steps // max(1, min(steps, size)))
        base, extra = divmod(steps, count)
        return [base + 1] * extra + [base] * (count - extra)

    def _time_chunks(self, batch: int, steps: Optional[int] = None) -> list[int]:
        """Steps per body call: :meth:`_chunks`, cut again at every multiple of :attr:`tbptt`."""
        chunks = self._chunks(batch, steps)
        if not self.tbptt:
            return chunks
        cut, start = [], 0
        for k in chunks:
            while k:
                piece = min(k, self.tbptt - start % self.tbptt)
                cut.append(piece)
                start += piece
                k -= piece
        return cut

    def _run_body(self, body: fx.GraphModule, args: tuple) -> tuple:
        if not (self.checkpoint_time and torch.is_grad_enabled()):
            return body(*args)
        # Why: stashing the RNG state per chunk costs time; only random layers (dropout) need it.
        random = any(isinstance(m, nn.modules.dropout._DropoutNd) and m.training for m in self.modules())
        return torch.utils.checkpoint.checkpoint(
            body, *args, use_reentrant=False, preserve_rng_state=random,
            context_fn=lambda: (contextlib.nullcontext(), self._recomputing()),
        )

    @contextlib.contextmanager
    def _recomputing(self) -> Iterator[None]:
        """While checkpointed chunks are recomputed: count no spikes twice, update no batch-norm statistics."""
        loops = [loop for _, loop in self._loops if loop.record]
        norms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
        saved = [{k: b.clone() for k, b in m.named_buffers(recurse=False) if b is not None} for m in norms]
        for loop in loops:
            loop.record = False
        try:
            yield
        finally:
            for loop in loops:
                loop.record = True
            with torch.no_grad():
                for m, buffers in zip(norms, saved):
                    for k, value in buffers.items():
                        getattr(m, k).copy_(value)

    def forward(self, x: Tensor, timesteps: Optional[int] = None) -> tuple[Tensor, Tensor]:
        """Run the network for ``timesteps`` steps.

        Args:
            x: a static input batch ``[B, ...]`` (encoded according to :attr:`encoding`).
            timesteps: ``T`` of this call (default: :attr:`timesteps`); the module is left as it was.

        Returns:
            ``(spk, mem)``, each ``[T, B, ...]``.
        """
        batch = x.shape[0]
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        steps = self.timesteps if timesteps is None else _positive_steps(timesteps)
        chunks = self._time_chunks(batch, steps)
        prefix, body = self._programs
        invariant = prefix(x)
        seq = None if self.encoding.kind == "direct" else encode(x, steps, self.encoding)
        states: list[Optional[Tensor]] = [None] * self._state_slots
        spks, mems, start = [], [], 0
        for k in chunks:
            if self.tbptt and start and start % self.tbptt == 0:
                states = [None if s is None else s.detach() for s in states]
            if seq is None:
                out = self._run_body(body, (*invariant, k, *states))
            else:
                piece = seq[start : start + k].flatten(0, 1)
                if self.channels_last and piece.dim() == 4:
                    piece = piece.contiguous(memory_format=torch.channels_last)
                out = self._run_body(body, (piece, *invariant, k, *states))
            spks.append(out[0])
            mems.append(out[1])
            states = list(out[2:])
            if self.checkpoint_time:
                # Why: a last membrane is a view of the chunk's whole membrane; a copy lets that be freed.
                states = [None if s is None else s.clone() for s in states]
            start += k
        return self._join(spks, chunks, batch), self._join(mems, chunks, batch)

    # -- explicit state, one step at a time --------------------------------------------------------

    def state_layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """The neuron states in the order the body program takes them: ``(key, per-sample shape)``.

        Keys are ``"<layer>.mem"`` for every neuron layer and ``"<layer>.syn"`` for synaptic ones.

        Raises:
            UnsupportedError: a neuron layer's node carries no IR shape (the module was not built by
                :func:`~.rewrite.ann_to_snn` from a spec-built ann).
        """
        layout = []
        for node in self._programs[1].graph.nodes:
            if node.op != "call_module" or not isinstance(self._programs[1].get_submodule(node.target), NeuronLoop):
                continue
            shape = getattr(node.meta.get("snnc_node"), "shape", None)
            if shape is None:
                raise UnsupportedError(f"neuron layer '{node.target}' carries no IR shape; build the network "
                                       "with snnc.compile(spec, target='snn') to use init_state/step")
            loop = self.get_submodule(node.target)
            layout.append((f"{node.target}.mem", tuple(shape)))
            if loop.coefficients()[1] is not None:
                layout.append((f"{node.target}.syn", tuple(shape)))
        return layout

    def init_state(self, batch_size: int) -> dict[str, Tensor]:
        """The state at rest (every membrane and synaptic current zero) for ``batch_size`` samples.

        Args:
            batch_size: samples per batch.

        Returns:
            An ordered mapping ``"<layer>.mem"`` / ``"<layer>.syn"`` → zeros ``[batch_size, ...]``.
        """
        ref = next(iter(self.parameters()), None)
        if ref is None:
            ref = next(iter(self.buffers()), torch.zeros(()))
        return {key: torch.zeros((batch_size, *shape), dtype=ref.dtype, device=ref.device)
                for key, shape in self.state_layout()}

    def step(self, x: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Run one time step from an explicit state (nothing is kept in the module).

        Iterating ``step`` :attr:`timesteps` times from :meth:`init_state` gives the spikes of :meth:`forward`.

        Args:
            x: the input of this step ``[B, ...]``: the static input with direct encoding, else this step's
                encoded input (e.g. one frame of ``snntorch.spikegen.rate``).
            state: the state from :meth:`init_state` or the previous step.

        Returns:
            ``(spk, new_state)``: the output spikes of this step ``[B, ...]`` (the output itself when the graph
            does not end in a neuron) and the next state (the output neuron's membrane is in it).
        """
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        prefix, body = self._programs
        layout = [key for key, _ in self.state_layout()]
        slots: list[Optional[Tensor]] = []
        for key in layout:
            if key.endswith(".mem"):
                slots.extend([state[key], None])
            else:
                slots[-1] = state[key]
        invariant = prefix(x)
        args = (*invariant, 1, *slots) if self.encoding.kind == "direct" else (x, *invariant, 1, *slots)
        out = body(*args)
        carried = list(out[2:])
        new_state, i = {}, 0
        for key in layout:
            if key.endswith(".mem"):
                new_state[key] = carried[2 * i]
                i += 1
            else:
                new_state[key] = carried[2 * i - 1]
        return out[0], new_state

    @staticmethod
    def _join(pieces: list[Tensor], chunks: list[int], batch: int) -> Tensor:
        timed = [p.unflatten(0, (k, batch)) for p, k in zip(pieces, chunks)]
        return timed[0] if len(timed) == 1 else torch.cat(timed)

    output_form = "recording"
    """``forward`` returns the output layer's ``(spk, mem)`` over time (see the spiking-network contract)."""

    def scores(self, x: Tensor, timesteps: Optional[int] = None) -> Tensor:
        """Decoded scores ``[B, ...]`` of a batch over ``timesteps`` steps (default :attr:`timesteps`):
        :meth:`decode` of :meth:`forward`."""
        return self.decode(*self(x, timesteps))

    def decode_output(self, output: tuple[Tensor, Tensor]) -> Tensor:
        """Scores ``[B, ...]`` from what :meth:`forward` returned."""
        return self.decode(*output)

    def layer(self, name: str) -> nn.Module:
        """The submodule that computes IR node ``name``."""
        return self.get_submodule(name)

    def spike_values(self) -> dict[str, float]:
        """The value one spike carries in each neuron layer: 1."""
        return {name: 1.0 for name, _ in self._loops}

    def decode(self, spk: Tensor, mem: Tensor) -> Tensor:
        """Scores ``[B, ...]`` from the outputs of :meth:`forward`, according to :attr:`decoding`.

        Args:
            spk: output spikes ``[T, B, ...]``.
            mem: output membrane ``[T, B, ...]``.

        Returns:
            ``rate``: mean spikes over time; ``count``: total spikes; ``membrane``: mean membrane.
        """
        return decode(spk, mem, self.decoding)

    # -- neurons, modes and spike counts -------------------------------------------------------------

    @property
    def neurons(self) -> dict[str, NeuronLoop]:
        """The neuron layers by module name (the spike nodes' names)."""
        return dict(self._loops)

    @property
    def mode(self) -> str:
        """How the neurons run: ``fused`` (default), ``reference`` (snnTorch step by step) or ``unrolled``."""
        modes = {loop.mode for _, loop in self._loops}
        return modes.pop() if len(modes) == 1 else "fused"

    @mode.setter
    def mode(self, value: str) -> None:
        check_mode(value)
        if self.compiled and value != "unrolled":
            raise UnsupportedError("a compiled spiking module runs its neurons unrolled; convert again without "
                                   "compile=True to use another mode")
        for _, loop in self._loops:
            loop.mode = value

    @property
    def record(self) -> bool:
        """Whether every call adds its spikes to the per-layer counts."""
        return any(loop.record for _, loop in self._loops)

    @record.setter
    def record(self, value: bool) -> None:
        for _, loop in self._loops:
            loop.record = bool(value)

    @contextlib.contextmanager
    def recording(self) -> Iterator["SpikingModule"]:
        """Count spikes for the calls inside the ``with`` block (counts start from zero).

        Yields:
            this module; read :meth:`spike_counts` or :meth:`firing_rates` inside or after the block.
        """
        before = self.record
        self.reset_spike_counts()
        self.record = True
        try:
            yield self
        finally:
            self.record = before

    def reset_spike_counts(self) -> None:
        """Set every layer's spike count to zero."""
        for _, loop in self._loops:
            loop.reset_counts()

    def spike_counts(self) -> dict[str, int]:
        """Total spikes per neuron layer while recording (all steps, samples and neurons)."""
        return {name: loop.spike_count() for name, loop in self._loops}

    def neuron_counts(self) -> dict[str, int]:
        """Neurons per sample in each neuron layer."""
        return {name: loop.neuron_count() for name, loop in self._loops}

    def firing_rates(self) -> dict[str, float]:
        """Spikes per neuron per time step in each neuron layer while recording."""
        return {name: loop.firing_rate() for name, loop in self._loops}

    def _apply(self, fn, recurse=True):
        # Why: a conversion may replace root-level tensors (fx constants); the programs must see the new ones.
        result = super()._apply(fn, recurse)
        for program in getattr(self, "_programs", ()):
            target = getattr(program, "_orig_mod", program)
            for name, value in [*self._parameters.items(), *self._buffers.items()]:
                if name in target._parameters or name in target._buffers:
                    setattr(target, name, value)
        return result


def _positive_steps(timesteps: int) -> int:
    """``timesteps`` as a positive ``int`` (numpy and torch integers too)."""
    import operator

    try:
        steps = operator.index(timesteps)
    except TypeError:
        steps = 0
    if isinstance(timesteps, bool) or steps < 1:
        raise UnsupportedError(f"timesteps must be a positive integer, got {timesteps!r}")
    return steps
