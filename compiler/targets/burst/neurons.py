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

import torch
from torch import nn

from snnc.compiler.errors import SnncError


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
    """

    def __init__(self, threshold: torch.Tensor | float, gamma: int = 5, v_init: float = 0.5,
                 neurons: int = 0) -> None:
        super().__init__()
        threshold = torch.as_tensor(threshold, dtype=torch.get_default_dtype()).detach().clone()
        if not bool((threshold > 0).all()):
            raise SnncError(f"BurstNeuron: every threshold must be > 0, got min {threshold.min().item()}")
        if int(gamma) != gamma or gamma < 1:
            raise SnncError(f"BurstNeuron: gamma must be an integer >= 1, got {gamma!r}")
        self.register_buffer("threshold", threshold)
        self.gamma = int(gamma)
        self.v_init = float(v_init)
        self.neurons = int(neurons)
        self.v: torch.Tensor | None = None
        self._own_v: torch.Tensor | None = None  # the state tensor this module made (may be updated in place)
        self._scratch: torch.Tensor | None = None  # the spike counts of one step, reused
        self.spike_total = 0.0
        self.sample_steps = 0

    def reset(self) -> None:
        self.v = self._own_v = None

    def reset_counts(self) -> None:
        """Zero :attr:`spike_total` and :attr:`sample_steps`."""
        self.spike_total = 0.0
        self.sample_steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run :attr:`steps` time steps; ``x`` is ``[steps * B, ...]``, and so is the result."""
        xs = self._unfold(x)
        theta = self.threshold.to(x.dtype)
        v = self.v
        if v is None:
            v = torch.zeros_like(xs[0]) + self.v_init * theta
        elif v.shape != xs.shape[1:]:
            raise SnncError(
                f"BurstNeuron: state of shape {tuple(v.shape)} cannot take input {tuple(xs.shape[1:])}; "
                "call reset() when the batch changes."
            )
        # Why in place, a reused scratch tensor and row sums: the same operations as the equations above, in the
        # same order (so the same numbers), without a fresh tensor (and its page faults) per operation and step.
        if v is not self._own_v:
            v = v.clone()  # never change a state tensor someone else handed in
        k = self._scratch
        if k is None or k.shape != v.shape or k.dtype != v.dtype or k.device != v.device:
            k = self._scratch = torch.empty_like(v)
        rows_exact = k[0].numel() * self.gamma < 2 ** 24  # a row's float32 sum of counts is then exact
        total = torch.zeros(k.shape[0] if rows_exact else (), dtype=torch.float64, device=x.device)
        out = torch.empty_like(xs)
        for t in range(xs.shape[0]):
            v.add_(xs[t])
            torch.div(v, theta, out=k)
            k.floor_().clamp_(0, self.gamma)
            torch.mul(k, theta, out=out[t])
            v.sub_(out[t])
            total += k.reshape(k.shape[0], -1).sum(1) if rows_exact else k.sum(dtype=torch.float64)
        self.v = self._own_v = v
        self.spike_total += float(total.sum())  # exact: integers, up to 2**53 spikes
        self.sample_steps += xs.shape[0] * xs.shape[1]
        if not self.neurons:
            self.neurons = xs[0, 0].numel()
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        theta = self.threshold
        shown = f"{theta.item():.4g}" if theta.numel() == 1 else f"per-channel {tuple(theta.shape)}"
        return f"threshold={shown}, gamma={self.gamma}, v_init={self.v_init}"


def max_pool(pool: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``pool(x)`` for a max-pooling module, computed as an element-wise maximum of strided views of ``x``
    where that is possible (``nn.MaxPool2d`` without indices or ceil-mode rounding up).

    Why: ``max_pool2d`` on CPU always computes indices and is several times slower than ``k*k - 1``
    ``torch.maximum`` calls on the window views; a maximum is exact, so the result is the same tensor
    (padding is ``-inf``, as in ``max_pool2d``; NaN propagates as there).
    """
    if type(pool) is not nn.MaxPool2d or x.dim() != 4 or pool.return_indices:
        return pool(x)
    (kh, kw), (sh, sw) = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
    (ph, pw), (dh, dw) = _pair(pool.padding), _pair(pool.dilation)
    spans = [x.shape[2] + 2 * ph - dh * (kh - 1) - 1, x.shape[3] + 2 * pw - dw * (kw - 1) - 1]
    if min(spans) < 0 or (pool.ceil_mode and (spans[0] % sh or spans[1] % sw)):
        return pool(x)
    ho, wo = spans[0] // sh + 1, spans[1] // sw + 1
    if ph or pw:
        x = nn.functional.pad(x, (pw, pw, ph, ph), value=float("-inf"))
    views = [x[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
             for i in range(kh) for j in range(kw)]
    if len(views) == 1:
        return views[0].contiguous()
    out = torch.maximum(views[0], views[1])
    for view in views[2:]:
        torch.maximum(out, view, out=out)
    return out


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

    def reset(self) -> None:
        self.accumulated = self._own_accumulated = None
        self.emitted = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run :attr:`steps` time steps; ``x`` is ``[steps * B, ...]``, the result ``[steps * B, ...pooled]``."""
        xs = self._unfold(x)
        if self.accumulated is None:
            self.accumulated = torch.zeros_like(xs[0])
            if not isinstance(self.pool, nn.Identity):  # (an identity's output would alias the accumulator)
                self._own_accumulated = self.accumulated
            self.emitted = max_pool(self.pool, self.accumulated)
        elif self.accumulated.shape != xs.shape[1:]:
            raise SnncError(
                f"LIPool: state of shape {tuple(self.accumulated.shape)} cannot take input "
                f"{tuple(xs.shape[1:])}; call reset() when the batch changes."
            )
        if xs.shape[0] == 1 and self.accumulated is self._own_accumulated:
            accumulated = self.accumulated.add_(xs[0]).unsqueeze(0)  # one step: the cumsum is the input itself
        else:
            accumulated = self.accumulated + torch.cumsum(xs, dim=0)
        pooled = max_pool(self.pool, accumulated.reshape(x.shape))
        pooled = pooled.reshape(xs.shape[0], xs.shape[1], *pooled.shape[1:])
        out = torch.empty_like(pooled)  # torch.diff(pooled, prepend=emitted) without its concatenation
        torch.sub(pooled[0], self.emitted, out=out[0])
        torch.sub(pooled[1:], pooled[:-1], out=out[1:])
        self.accumulated = accumulated[-1]
        if not isinstance(self.pool, nn.Identity):
            self._own_accumulated = self.accumulated
        self.emitted = pooled[-1]
        return out.reshape(-1, *out.shape[2:])
