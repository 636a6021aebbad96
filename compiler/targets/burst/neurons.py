"""The stateful modules of a burst-converted network: the burst neuron and lateral-inhibition max-pooling.

Both run in *multi-step* mode: the runner (:class:`~snnc.compiler.targets.burst.module.BurstSNN`) folds
``steps`` time steps into the batch, so a module receives ``[steps * B, ...]`` (time-major: the first ``B``
rows are step 0) and returns the same layout. Stateless layers (conv, linear, average pooling) between them
therefore process all ``steps * B`` samples in one call; only these modules look at time. State carries over
from one call to the next until :meth:`StatefulModule.reset`, so ``steps = 1`` is ordinary step-by-step
execution and a long run can be cut into chunks of steps.

Units: the membrane ``V`` and the threshold ``theta`` are in units of the ANN activation it replaces, and a
spike carries the value ``theta``; the next layer therefore keeps the ANN's weights unchanged (this is
equivalent to the layer-wise weight normalisation of the conversion literature).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snnc.compiler.errors import SnncError

_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _holders(t: torch.Tensor) -> int | None:
    """How many tensors share ``t``'s memory (plus what asking adds), or None when torch cannot tell."""
    if _use_count is None:
        return None
    storage = t.untyped_storage()  # (kept alive while its count is read)
    return int(_use_count(storage._cdata))


_ALONE = _holders(torch.empty(1))


def reuse(buffer: torch.Tensor | None, shape: tuple[int, ...], like: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Memory for a new result of ``shape`` with ``like``'s dtype and device: ``(memory to keep, tensor to
    write the result into)``.

    The tensor is the leading part of ``buffer`` when ``buffer`` is big enough (the same shape but for at least
    as many rows in dim 0, the same dtype and device) and no other tensor shares its memory (nothing handed out
    from it is alive); otherwise new memory.

    Why: a fresh multi-megabyte tensor per step costs page faults on CPU (the first write to each page), often
    more than the operation writing it. Results handed out stay untouched: the memory is reused only when
    nothing else refers to it.
    """
    shape = tuple(shape)
    if (buffer is not None and _ALONE is not None and tuple(buffer.shape[1:]) == shape[1:]
            and buffer.shape[0] >= shape[0] and buffer.dtype == like.dtype and buffer.device == like.device
            and buffer.is_contiguous() and _holders(buffer) == _ALONE):
        return buffer, buffer[:shape[0]]
    fresh = torch.empty(shape, dtype=like.dtype, device=like.device)
    return fresh, fresh[:shape[0]]  # (the result is another tensor object: only the memory's own user keeps it)


BLOCK_ELEMENTS = 1 << 18
"""Elements of one step's tensor that the neurons and LIPools update in one go on CPU (about 1 MiB of float32)."""


def block_rows(x: torch.Tensor) -> int:
    """How many rows (samples) of ``x`` ``[B, ...]`` to update in one go.

    Why: an element-wise update is several passes over the same tensors (add, divide, floor, clamp, ...); over a
    block that fits in the CPU's cache only the first pass reads memory. Every element is computed by the same
    operations either way, so the numbers are the same. On other devices: all rows.
    """
    if x.device.type != "cpu" or x.dim() == 0 or not x.shape[0]:
        return max(1, x.shape[0] if x.dim() else 1)
    return max(1, min(x.shape[0], BLOCK_ELEMENTS // max(1, x[0].numel())))


class StatefulModule(nn.Module):
    """Base of the modules that keep state across time steps.

    Attributes:
        steps: how many time steps the next call carries, folded into its batch; set by the runner.
    """

    def __init__(self) -> None:
        super().__init__()
        self.steps = 1

    def reset(self) -> None:
        """Forget the state (membrane, accumulators); the next call starts at ``t = 0``."""
        raise NotImplementedError

    def release_state(self) -> None:
        """The current state tensors are handed to someone else: the next call copies them before updating in
        place (never changing a tensor that was handed out)."""
        raise NotImplementedError

    def _unfold(self, x: torch.Tensor) -> torch.Tensor:
        """``[steps * B, ...]`` → ``[steps, B, ...]``."""
        if x.shape[0] % self.steps:
            raise SnncError(
                f"{type(self).__name__} received a batch of {x.shape[0]} rows, not a multiple of the "
                f"{self.steps} time steps folded into it; run the network through BurstSNN, not directly."
            )
        return x.reshape(self.steps, x.shape[0] // self.steps, *x.shape[1:])


class BurstNeuron(StatefulModule):
    r"""Integrate-and-fire neuron with reset by subtraction that may fire a burst of up to ``gamma`` spikes.

    It replaces one ReLU call site of the ANN (Li & Zeng, IJCAI 2022, arXiv:2204.13271). Per time step
    ``t`` and element, with input current ``I[t]`` and threshold ``theta`` (per layer or per channel):

    * ``V[t]  = V[t-1] + I[t]``                                   (integrate, no leak)
    * ``k[t]  = clamp(floor(V[t] / theta), 0, gamma)``             (spikes in the burst, an integer)
    * ``V[t] <- V[t] - k[t] * theta``                              (reset by subtraction)
    * ``out[t] = k[t] * theta``                                    (each spike carries ``theta``)
    * ``V[0-] = v_init * theta``                                   (initial membrane)

    Calibration after conversion (:mod:`.calibrate`) may add two buffers, absent (None, and not in the state
    dict) otherwise: :attr:`bias`, a current added to the input at every step (``V[t] = V[t-1] + (I[t] + b)``,
    per channel), and :attr:`v_offset`, added to the initial membrane (``V[0-] = v_init * theta + v_offset``,
    per neuron). Why buffers in the neuron and not the preceding layer's bias: a neuron's input may be a residual
    sum, a concatenation or a pooling, which has no bias to adjust.

    For a constant input ``a`` in ``[0, gamma * theta]`` the mean output ``(1/T) * sum_t out[t]`` tends to
    ``a`` with an error below ``theta / T`` (``theta / (2T)`` with ``v_init = 0.5``, which turns the floor
    into rounding); with ``gamma = 1`` this is the ordinary IF neuron, saturating at ``theta`` per step.

    Args:
        threshold: ``theta`` (> 0), a scalar or a tensor broadcastable to one sample (e.g. ``[C, 1, 1]``
            for channel-wise thresholds).
        gamma: the largest burst, ``Γ`` >= 1.
        v_init: the initial membrane as a fraction of ``theta``.
        neurons: how many neurons one sample holds (for firing rates; 0 = learn it from the first call).

    Attributes:
        spike_total: spikes emitted since :meth:`reset_counts`, a burst of ``k`` counting ``k``.
        sample_steps: samples × time steps simulated since :meth:`reset_counts`.
        bias: the input current added at every step (broadcastable to one sample), or None.
        v_offset: the initial membrane's offset (broadcastable to one sample), or None.
    """

    CORRECTIONS = ("bias", "v_offset")
    """The optional buffers of calibration; a state dict that holds one gives it to the neuron (see
    :meth:`set_correction`)."""

    def __init__(self, threshold: torch.Tensor | float, gamma: int = 5, v_init: float = 0.5,
                 neurons: int = 0) -> None:
        super().__init__()
        threshold = torch.as_tensor(threshold, dtype=torch.get_default_dtype()).detach().clone()
        if not bool((threshold > 0).all()):
            raise SnncError(f"BurstNeuron: every threshold must be > 0, got min {threshold.min().item()}")
        if int(gamma) != gamma or gamma < 1:
            raise SnncError(f"BurstNeuron: gamma must be an integer >= 1, got {gamma!r}")
        self.register_buffer("threshold", threshold)
        self.register_buffer("bias", None)
        self.register_buffer("v_offset", None)
        self.gamma = int(gamma)
        self.v_init = float(v_init)
        self.neurons = int(neurons)
        self.v: torch.Tensor | None = None
        self._own_v: torch.Tensor | None = None  # the state tensor this module made (may be updated in place)
        self._out: torch.Tensor | None = None  # the memory of the outputs, reused (see reuse)
        self._v_memory: torch.Tensor | None = None  # the memory of the membrane, reused after a reset
        self.spike_total = 0.0
        self.sample_steps = 0

    def reset(self) -> None:
        self.v = self._own_v = None

    def release_state(self) -> None:
        self._own_v = None

    def set_correction(self, name: str, value: torch.Tensor | None) -> None:
        """Set (or with None remove) the correction buffer ``name`` (``"bias"`` or ``"v_offset"``)."""
        if name not in self.CORRECTIONS:
            raise SnncError(f"BurstNeuron: no correction {name!r}; the corrections are {list(self.CORRECTIONS)}")
        self._buffers[name] = None if value is None else value.detach().to(self.threshold.dtype).clone()

    def initial_membrane(self, like: torch.Tensor) -> torch.Tensor:
        """``V[0-] = v_init * theta (+ v_offset)``, broadcast to ``like``'s shape, dtype and device."""
        theta = self.threshold.to(like.dtype)
        start = self.v_init * theta + 0.0  # (+ 0.0: a -0.0 becomes 0.0, as in the sum 0 + v_init * theta)
        if self.v_offset is not None:
            start = start + self.v_offset.to(like.dtype)
        return start.expand_as(like)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Why: the corrections exist only on calibrated networks, with shapes known only after calibration; the
        # state dict says which this neuron has (a skeleton built without calibration takes them from it).
        for name in self.CORRECTIONS:
            value = state_dict.get(prefix + name)
            self.set_correction(name, None if value is None else torch.zeros_like(value))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def reset_counts(self) -> None:
        """Zero :attr:`spike_total` and :attr:`sample_steps`."""
        self.spike_total = 0.0
        self.sample_steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run :attr:`steps` time steps; ``x`` is ``[steps * B, ...]``, and so is the result."""
        xs = self._unfold(x)
        if self.bias is not None:
            xs = xs + self.bias.to(x.dtype)
        theta = self.threshold.to(x.dtype)
        v = self.v
        if v is None:
            self._v_memory, v = reuse(self._v_memory, xs.shape[1:], xs)
            v.copy_(self.initial_membrane(v))
            self._own_v = v
        elif v.shape != xs.shape[1:]:
            raise SnncError(
                f"BurstNeuron: state of shape {tuple(v.shape)} cannot take input {tuple(xs.shape[1:])}; "
                "call reset() when the batch changes."
            )
        # Why in place, into the reused output and with row sums: the same operations as the equations above, in
        # the same order (so the same numbers), without a fresh tensor (and its page faults) per operation and
        # step. Each step's k is computed in its slot of the output and scaled by theta there.
        if v is not self._own_v:
            v = v.clone()  # never change a state tensor someone else handed in
        self._out, out = reuse(self._out, xs.shape, xs)
        rows_exact = math.prod(xs.shape[2:]) * self.gamma < 2 ** 24  # a row's float32 sum of counts is exact
        total = torch.zeros(xs.shape[1] if rows_exact else (), dtype=torch.float64, device=x.device)
        block = block_rows(xs[0])
        for i in range(0, xs.shape[1], block):  # (rows of samples that stay in the cache over the steps)
            vb, xb, ob = v[i:i + block], xs[:, i:i + block], out[:, i:i + block]
            tb = total[i:i + block] if rows_exact else total
            for t in range(xs.shape[0]):
                k = ob[t]
                vb.add_(xb[t])
                torch.div(vb, theta, out=k)
                k.floor_().clamp_(0, self.gamma)
                tb += k.reshape(k.shape[0], -1).sum(1) if rows_exact else k.sum(dtype=torch.float64)
                k.mul_(theta)
                vb.sub_(k)
        self.v = self._own_v = v
        self.spike_total += float(total.sum())  # exact: integers, up to 2**53 spikes
        self.sample_steps += xs.shape[0] * xs.shape[1]
        if not self.neurons:
            self.neurons = xs[0, 0].numel()
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        theta = self.threshold
        shown = f"{theta.item():.4g}" if theta.numel() == 1 else f"per-channel {tuple(theta.shape)}"
        corrected = [name for name in self.CORRECTIONS if getattr(self, name) is not None]
        return (f"threshold={shown}, gamma={self.gamma}, v_init={self.v_init}"
                + (f", corrected: {', '.join(corrected)}" if corrected else ""))


def _strided(pool: nn.Module, x: torch.Tensor) -> tuple | None:
    """The window of a max-pooling that :func:`max_pool` computes from strided views, or None (then the module
    pools): ``((kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo))``."""
    if type(pool) is not nn.MaxPool2d or x.dim() != 4 or pool.return_indices:
        return None
    (kh, kw), (sh, sw) = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
    (ph, pw), (dh, dw) = _pair(pool.padding), _pair(pool.dilation)
    spans = [x.shape[2] + 2 * ph - dh * (kh - 1) - 1, x.shape[3] + 2 * pw - dw * (kw - 1) - 1]
    if min(spans) < 0 or (pool.ceil_mode and (spans[0] % sh or spans[1] % sw)):
        return None
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), (spans[0] // sh + 1, spans[1] // sw + 1)


def max_pool_shape(pool: nn.Module, x: torch.Tensor) -> tuple[int, ...] | None:
    """The shape of ``max_pool(pool, x)`` when :func:`max_pool` computes it itself (so it can take ``out``),
    else None."""
    window = _strided(pool, x)
    return None if window is None else (x.shape[0], x.shape[1], *window[4])


def max_pool(pool: nn.Module, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``pool(x)`` for a max-pooling module, computed as element-wise maxima of strided views of ``x`` where
    that is possible (``nn.MaxPool2d`` without indices or ceil-mode rounding up).

    Why: ``max_pool2d`` on CPU always computes indices and is several times slower. The window is separable:
    first the maximum over the ``kh`` rows of each window (views whose rows are contiguous, so the maxima are
    vectorised), then over its ``kw`` columns. A maximum is exact in any order, so the result is the same
    tensor (padding is ``-inf``, as in ``max_pool2d``; NaN propagates as there).

    Args:
        pool: the max-pooling module.
        x: its input.
        out: where to write the result, shaped as :func:`max_pool_shape` says (only when that is not None).
    """
    window = _strided(pool, x)
    if window is None:
        return pool(x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = window
    if ph or pw:
        x = nn.functional.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    width = dw * (kw - 1) + sw * (wo - 1) + 1  # the columns some window reads
    rows = [x[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, :width] for i in range(kh)]
    if kh == 1:
        r = rows[0]
    else:
        r = torch.maximum(rows[0], rows[1])
        for row in rows[2:]:
            torch.maximum(r, row, out=r)
    cols = [r[..., j * dw:j * dw + sw * (wo - 1) + 1:sw] for j in range(kw)]
    if kw == 1:
        return out.copy_(cols[0]) if out is not None else cols[0].contiguous()
    result = torch.maximum(cols[0], cols[1], out=out) if out is not None else torch.maximum(cols[0], cols[1])
    for col in cols[2:]:
        torch.maximum(result, col, out=result)
    return result


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class MaxPool(nn.Module):
    """A max-pooling module run through :func:`max_pool` (the plan's prefix uses it for split LIPools)."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool(self.pool, x)


class LIPool(StatefulModule):
    r"""Max-pooling by lateral inhibition (LIPooling, Li & Zeng 2022): accumulated output = max-pool of
    accumulated input.

    With ``S[t] = sum_{tau <= t} x[tau]`` the accumulated input and ``pool`` the ANN's max-pool (any kernel,
    stride, padding, dilation, ceil mode; or adaptive), each step emits

    * ``out[t] = pool(S[t]) - pool(S[t-1])``,  ``pool(S[-1]) = 0``,

    i.e. the winner of each window passes on only what exceeds what the window already emitted (the
    inhibition). Hence ``sum_{tau <= t} out[tau] = pool(S[t])`` exactly at every ``t``.

    Why not BrainCog's ``LIPool``: it subtracts ``interpolate(out, scale_factor=2)``, which is right only for
    a 2×2 window with stride 2.

    Inputs of ``k * theta`` spikes (``0 <= k <= gamma``, one ``theta`` per channel) give outputs of the same
    form: each window's running maximum of spike counts rises by an integer of at most ``gamma`` per step.

    Args:
        pool: the max-pooling module (``nn.MaxPool1d/2d/3d`` or ``nn.AdaptiveMaxPool1d/2d/3d``, no indices).
    """

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        if getattr(pool, "return_indices", False):
            raise SnncError("LIPool: a max-pool that returns indices cannot be converted")
        self.pool = pool
        self.accumulated: torch.Tensor | None = None
        self._own_accumulated: torch.Tensor | None = None  # the accumulator this module made (updated in place)
        self.emitted: torch.Tensor | None = None
        self._pooled: torch.Tensor | None = None  # the memory of the last pooled values (emitted is its last step)
        self._spare: torch.Tensor | None = None  # the memory of the pooled values before, reused (see reuse)
        self._out: torch.Tensor | None = None
        self._accumulated_memory: torch.Tensor | None = None  # reused after a reset

    def reset(self) -> None:
        self.accumulated = self._own_accumulated = None
        self.emitted = None

    def release_state(self) -> None:
        self._own_accumulated = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run :attr:`steps` time steps; ``x`` is ``[steps * B, ...]``, the result ``[steps * B, ...pooled]``."""
        xs = self._unfold(x)
        if self.accumulated is None:
            self._accumulated_memory, self.accumulated = reuse(self._accumulated_memory, xs.shape[1:], xs)
            self.accumulated.zero_()
            if not isinstance(self.pool, nn.Identity):  # (an identity's output would alias the accumulator)
                self._own_accumulated = self.accumulated
            self.emitted = max_pool(self.pool, self.accumulated)
        elif self.accumulated.shape != xs.shape[1:]:
            raise SnncError(
                f"LIPool: state of shape {tuple(self.accumulated.shape)} cannot take input "
                f"{tuple(xs.shape[1:])}; call reset() when the batch changes."
            )
        steps, rows = xs.shape[0], xs.shape[1]
        in_place = steps == 1 and self.accumulated is self._own_accumulated  # one step: the cumsum is the input
        accumulated = self.accumulated.unsqueeze(0) if in_place else self.accumulated + torch.cumsum(xs, dim=0)
        flat = accumulated.reshape(x.shape)
        shape = max_pool_shape(self.pool, flat)
        if shape is None:  # the module pools, into new memory
            if in_place:
                self.accumulated.add_(xs[0])
            pooled = max_pool(self.pool, flat)
            pooled = pooled.reshape(steps, rows, *pooled.shape[1:])
        else:  # into the memory of the values pooled two calls ago (the last ones hold `emitted`)
            memory, pooled = reuse(self._spare, shape, flat)
            self._spare, self._pooled = self._pooled, memory
            pooled = pooled.view(steps, rows, *shape[1:])
        self._out, out = reuse(self._out, pooled.shape, pooled)  # torch.diff(pooled, prepend=emitted), no concat
        if shape is not None and in_place:  # rows that stay in the cache, as in BurstNeuron
            block = block_rows(flat)
            for i in range(0, rows, block):
                j = i + block
                self.accumulated[i:j].add_(xs[0, i:j])
                max_pool(self.pool, flat[i:j], out=pooled[0, i:j])
                torch.sub(pooled[0, i:j], self.emitted[i:j], out=out[0, i:j])
        else:
            if shape is not None:
                max_pool(self.pool, flat, out=pooled.view(shape))
            torch.sub(pooled[0], self.emitted, out=out[0])
            torch.sub(pooled[1:], pooled[:-1], out=out[1:])
        self.accumulated = accumulated[-1]
        if not isinstance(self.pool, nn.Identity):
            self._own_accumulated = self.accumulated
        self.emitted = pooled[-1]
        return out.reshape(-1, *out.shape[2:])
