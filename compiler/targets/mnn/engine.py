"""snnc's fast crossbar engine: MemTorch's memristive arithmetic as a few batched tensor operations.

MemTorch (1.1.6) programs every device of a layer's crossbars and then, at inference, calls its C++
``tiled_inference`` once per tile per input row (and, for a convolution, once per sample), which makes a patched
network about 400× slower than the float one. Once the crossbars are programmed (and the non-idealities
applied), the arithmetic of a 1T1R layer is fixed and simple:

1. **Input encoding** (``naive_scale``): inputs become word-line voltages ``V``. If ``max|x| > v_max`` over the
   scaled group (the whole batch for a linear layer; each zero-padded sample for a convolution),
   ``V = (x + r)·2v_max/(2r) − v_max`` with ``r = max|x|`` (MemTorch's ``convert_range``); otherwise ``V = x``.
2. **Tiled products**: the weight matrix (rows = inputs, columns = outputs) lives on tiles of
   ``tile_rows × tile_cols`` devices; the effective conductance is ``G = G⁺ − G⁻`` (double column) or
   ``G − g_m`` (single column), in siemens. Tile ``(j, k)`` gives the bit-line currents
   ``I_jk = V_j · G_jk`` (amperes), ``tile_cols`` of them per input row, zero-padded tile cells included.
3. **ADC** (when ``adc_bits`` is set), per read-out vector ``I_jk`` of one input row, as MemTorch's
   ``linear_quantize``: ``sf = 1 − bits + ⌈log2(|I|_(k) + 1e-12)⌉`` with ``|I|_(k)`` the ``k``-th largest
   magnitude, ``k = round(overflow_rate · tile_cols)``, then ``Q(I) = clamp(⌊I/2^sf + ½⌋, −2^(bits−1),
   2^(bits−1) − 1) · 2^sf``; a vector whose entries are all equal is left as it is.
4. **Sum and read-out**: ``y = Σ_j Q(I_jk)`` (the first ``columns`` outputs), then MemTorch's tuned linear
   correction ``y·coef + intercept`` and the digital bias.

Without an ADC the sum over tiles is one matrix product, so a convolution runs as ``conv2d`` with the
conductance matrix as its weight. Outputs equal MemTorch's layers within float32 rounding; where rounding moves
a read-out across an ADC level the difference is one ADC step of that tile (``docs/mnn.md`` states the tested
tolerance). Passive (1R) crossbars and simulated non-linear devices are not covered: those layers keep
MemTorch's own forward (see :func:`supports`).

The layers hold only tensors (conductance matrix, read-out correction, bias) and plain settings, so a network of
them saves and loads with ``torch.save``/``torch.load(weights_only=True)`` and runs without MemTorch.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import UnsupportedError

QUANT_METHODS = ("linear", "log")
CHUNK_ELEMENTS = 1 << 22
"""Read-out currents computed at once when an ADC is simulated (bounds the memory of a convolution)."""


# ------------------------------------------------------------------------------------------ the arithmetic


def naive_scale(x: Tensor, max_voltage: Optional[float], dims: tuple[int, ...]) -> tuple[Tensor, Optional[Tensor]]:
    """MemTorch's ``naive_scale``: inputs as word-line voltages (volts), scaled per group over ``dims``.

    Args:
        x: the input.
        max_voltage: the largest voltage (None: inputs unbounded, returned unchanged).
        dims: the dimensions one scale is taken over (all of them for a linear layer, C, H, W per sample for a
            convolution).

    Returns:
        ``(voltages, gain)``: ``gain = max|x| / max_voltage`` where the group was scaled and 1 elsewhere (what the
        ``restore`` scaling multiplies the read-out by), or None when inputs are unbounded.
    """
    if max_voltage is None:
        return x, None
    r = torch.amax(torch.abs(x), dim=dims, keepdim=True)
    scaled = ((x + r) * (2 * max_voltage)) / (2 * r) - max_voltage
    over = r > max_voltage
    return torch.where(over, scaled, x), torch.where(over, r / max_voltage, torch.ones_like(r))


def adc_quantize(current: Tensor, bits: int, overflow_rate: float, method: str = "linear", *, dim: int = -1,
                 pad: int = 0) -> Tensor:
    """MemTorch's ADC read-out of each vector along ``dim`` (one tile's column currents for one input).

    Args:
        current: bit-line currents (amperes), one read-out vector along ``dim``.
        bits: ADC resolution.
        overflow_rate: the proportion of the largest magnitudes allowed to clip.
        method: ``linear`` or ``log`` (MemTorch's log mode quantises ``max(log|I|, 1e-20)``, as it does).
        dim: the dimension of one read-out vector.
        pad: zero currents that belong to each vector but are not in ``current`` (the padding columns of a
            tile whose padding cells have zero conductance); they count for the overflow index and the
            all-equal test exactly as MemTorch's full-width vector would.

    Returns:
        The quantised currents, same shape.
    """
    width = current.shape[dim]
    n = width + pad
    hi, lo = current.amax(dim=dim, keepdim=True), current.amin(dim=dim, keepdim=True)
    index = min(int(math.floor(overflow_rate * n + 0.5)), n - 1)
    if index == 0:
        top = torch.maximum(hi, -lo)  # the largest magnitude, without a full-size |I|
    elif index < width:
        top = current.abs().topk(index + 1, dim=dim).values.narrow(dim, index, 1)
    else:
        top = torch.zeros_like(hi)
    sf = 1 - bits + torch.ceil(torch.log2(top + 1e-12))
    delta = torch.pow(2.0, sf)
    if method == "linear":
        bound = 2.0 ** (bits - 1)
        # Why in place: these are the largest tensors of an mnn forward; x / 2^sf is exact, like MemTorch's
        q = (current / delta).add_(0.5).floor_().clamp_(-bound, bound - 1).mul_(delta)
    else:
        bound = 2.0 ** (bits - 2)
        logs = torch.log(current.abs()).clamp_min_(1e-20)
        q = (logs / delta).add_(0.5).floor_().clamp_(-bound, bound - 1).mul_(delta).exp_().mul_(torch.sign(current))
    # a vector whose entries are all equal is left as it is (MemTorch's unique_consecutive test); with implicit
    # zero padding that means all zero, which quantises to zero anyway
    if pad == 0:
        constant = hi == lo
        if bool(constant.any()):
            q = torch.where(constant, current, q)
    return q


def quantize_columns(current: Tensor, tile_cols: int, padding_is_zero: bool, bits: int, overflow_rate: float,
                     method: str, dim: int) -> Tensor:
    """ADC of a tile row's currents ``[..., columns, ...]`` (columns along ``dim``): each group of ``tile_cols``
    consecutive columns is one tile's read-out; a last, partial group is padded as :func:`adc_quantize` says.

    Needs the padding cells' conductance to be zero (``padding_is_zero``) when the last group is partial."""
    dim = dim % current.dim()
    columns = current.shape[dim]
    full, rem = divmod(columns, tile_cols)
    pieces = []
    if full:
        head = current.narrow(dim, 0, full * tile_cols)
        shape = head.shape[:dim] + (full, tile_cols) + head.shape[dim + 1 :]
        pieces.append(adc_quantize(head.reshape(shape), bits, overflow_rate, method, dim=dim + 1).reshape(head.shape))
    if rem:
        if not padding_is_zero:
            raise AssertionError("partial tile groups need zero-conductance padding")
        tail = current.narrow(dim, full * tile_cols, rem)
        pieces.append(adc_quantize(tail, bits, overflow_rate, method, dim=dim, pad=tile_cols - rem))
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=dim)


class _Crossbar(nn.Module):
    """Shared state of a fast crossbar layer: the conductance matrix, the ADC and the read-out correction."""

    def __init__(self, conductance: Tensor, rows: int, columns: int, settings: dict[str, Any],
                 transform: tuple[float, float], bias: Optional[Tensor]):
        super().__init__()
        self.register_buffer("conductance", conductance.detach().to(torch.float32).contiguous())
        self.register_buffer("transform", torch.tensor(transform, dtype=torch.float64))
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32).clone())
        self.rows, self.columns = rows, columns
        self.settings = dict(settings)

    # settings travel in the state_dict, so a saved network loads with weights_only=True
    def get_extra_state(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": self.columns, **self.settings}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.rows, self.columns = state.pop("rows"), state.pop("columns")
        self.settings = state

    @property
    def tile_shape(self) -> Optional[tuple[int, int]]:
        t = self.settings.get("tile_shape")
        return None if t is None else (int(t[0]), int(t[1]))

    @property
    def weight_equivalent(self) -> Tensor:
        """The conductance matrix ``[rows, columns]`` (siemens) actually used (tile padding cut off)."""
        return self.conductance[: self.rows, : self.columns]

    def _blocks(self) -> list[tuple[int, int, Tensor, bool]]:
        """Per tile row of tiles: ``(first row, end row, conductances [rows_j, width], padding is zero)``; the
        width is ``columns`` when the padding cells of that tile row hold zero conductance, else the full
        padded width (then the padding columns are read out too, as MemTorch does)."""
        tr, _ = self.tile_shape
        out = []
        for j in range(0, self.rows, tr):
            stop = min(j + tr, self.rows)
            zero_pad = bool((self.conductance[j:stop, self.columns :] == 0).all())
            g = self.conductance[j:stop, : self.columns] if zero_pad else self.conductance[j:stop]
            out.append((j, stop, g, zero_pad))
        return out

    def crossbar_matmul(self, v: Tensor, groups: int) -> Tensor:
        """Bit-line read-outs of voltages ``v [N, rows]`` (``N = groups · n``), ADC included, ``[N, columns]``.

        ``groups`` matters only without tiles, where MemTorch quantises the read-outs of each group (a whole
        linear batch, or one convolution sample) at once.
        """
        bits = self.settings.get("adc_bits")
        tile = self.tile_shape
        if bits is None:
            return v @ self.weight_equivalent
        rate, method = float(self.settings.get("adc_overflow_rate", 0.0)), self.settings.get("quantization", "linear")
        if tile is None:
            out = v @ self.weight_equivalent
            return adc_quantize(out.reshape(groups, -1), bits, rate, method).reshape(out.shape)
        out = v.new_zeros((v.shape[0], self.columns))
        step = max(1, CHUNK_ELEMENTS // self.conductance.shape[1])
        for start in range(0, v.shape[0], step):
            piece = v[start : start + step]
            for j, stop, g, zero_pad in self._blocks():
                current = quantize_columns(piece[:, j:stop] @ g, tile[1], zero_pad, bits, rate, method, dim=1)
                out[start : start + step] += current[:, : self.columns]
        return out

    def read_out(self, y: Tensor) -> Tensor:
        """MemTorch's tuned correction ``y·coef + intercept``, in place (``y`` is always a fresh tensor here)."""
        coef, intercept = self.transform.tolist()
        return y.mul_(coef).add_(intercept)


class CrossbarLinear(_Crossbar):
    """A linear layer on memristive crossbars (fast engine); built by :func:`from_memtorch`."""

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        v, gain = naive_scale(x, self.settings.get("max_input_voltage"), tuple(range(x.dim())))
        out = self.crossbar_matmul(v, 1)
        if gain is not None and self.settings.get("scaling") == "restore":
            out = out * gain
        out = self.read_out(out)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*lead, self.columns)

    def extra_repr(self) -> str:
        return f"in_features={self.rows}, out_features={self.columns}, tiles={self.tile_shape}, " \
               f"adc_bits={self.settings.get('adc_bits')}"


class CrossbarConv2d(_Crossbar):
    """A 2-D convolution on memristive crossbars (fast engine); built by :func:`from_memtorch`."""

    def forward(self, x: Tensor) -> Tensor:
        k, s, p = self.settings["kernel_size"], self.settings["stride"], self.settings["padding"]
        if p[0] or p[1]:
            x = F.pad(x, (p[1], p[1], p[0], p[0]))
        v, gain = naive_scale(x, self.settings.get("max_input_voltage"), (1, 2, 3))
        batch = x.shape[0]
        oh, ow = (x.shape[2] - k[0]) // s[0] + 1, (x.shape[3] - k[1]) // s[1] + 1
        bits = self.settings.get("adc_bits")
        if bits is None:
            weight = self.weight_equivalent.T.reshape(self.columns, -1, k[0], k[1])
            out = F.conv2d(v, weight, stride=s)
        elif self.tile_shape is None:
            cols = F.unfold(v, k, stride=s).transpose(1, 2).reshape(batch * oh * ow, -1)
            out = self.crossbar_matmul(cols, batch).view(batch, oh * ow, self.columns)
            out = out.transpose(1, 2).reshape(batch, self.columns, oh, ow)
        else:
            out = self._tiled_conv(v, bits, oh, ow)
        if gain is not None and self.settings.get("scaling") == "restore":
            out = out * gain
        out = self.read_out(out)
        if self.bias is not None:
            out = out.add_(self.bias.view(1, -1, 1, 1))
        return out

    def _tiled_conv(self, v: Tensor, bits: int, oh: int, ow: int) -> Tensor:
        """Tiled read-out with an ADC as one ``conv2d`` per tile row of tiles (no unfolding).

        Crossbar rows are ``(channel, kh, kw)`` taps in that order, so a tile row (rows ``j … stop``) covers
        channels ``j // (kh·kw)`` to ``⌈stop / (kh·kw)⌉``: the convolution runs on those channels only, with the
        taps outside the tile row zeroed, and its output channels are that tile row's column currents."""
        k, s = self.settings["kernel_size"], self.settings["stride"]
        taps = k[0] * k[1]
        rate, method = float(self.settings.get("adc_overflow_rate", 0.0)), self.settings.get("quantization", "linear")
        out = None
        for j, stop, g, zero_pad in self._blocks():
            lo, hi = j // taps, -(-stop // taps)
            weight = g.new_zeros(((hi - lo) * taps, g.shape[1]))
            weight[j - lo * taps : stop - lo * taps] = g
            weight = weight.T.reshape(g.shape[1], hi - lo, k[0], k[1])
            current = F.conv2d(v[:, lo:hi], weight, stride=s)
            current = quantize_columns(current, self.tile_shape[1], zero_pad, bits, rate, method, dim=1)
            current = current[:, : self.columns]
            out = current if out is None else out.add_(current)
        return out

    def extra_repr(self) -> str:
        st = self.settings
        return f"{st['in_channels']}, {self.columns}, kernel_size={tuple(st['kernel_size'])}, " \
               f"stride={tuple(st['stride'])}, padding={tuple(st['padding'])}, tiles={self.tile_shape}, " \
               f"adc_bits={st.get('adc_bits')}"


# ------------------------------------------------------------------------------------ from MemTorch layers


def supports(layer: nn.Module) -> Optional[str]:
    """Why the fast engine cannot run this MemTorch layer, or None when it can."""
    if not getattr(layer, "transistor", True):
        return "passive (1R) crossbars are solved by MemTorch's circuit solver"
    if hasattr(layer, "non_linear"):
        return "non-linear devices are read through MemTorch's per-device model"
    return None


def effective_conductance(layer: nn.Module) -> Tensor:
    """The conductance matrix ``[rows, columns]`` (siemens) of a programmed MemTorch layer, tiles assembled.

    For double-column layers ``G⁺ − G⁻``, for single-column ``G − g_m`` (MemTorch's ``crossbar_operation``);
    with tiles, ``[tile_rows · J, tile_cols · K]`` including the padding cells of the last tiles.
    """
    g = layer.crossbar_operation(layer.crossbars, lambda crossbar: crossbar.conductance_matrix).to(torch.float32)
    if layer.tile_shape is None:
        return g
    tiles_map = layer.crossbars[0].tiles_map.long()
    blocks = g[tiles_map]  # [J, K, tr, tc]
    J, K, tr, tc = blocks.shape
    return blocks.permute(0, 2, 1, 3).reshape(J * tr, K * tc)


def _transform_of(layer: nn.Module) -> tuple[float, float]:
    """(coef, intercept) of a MemTorch layer's ``transform_output`` (identity before tuning)."""
    probe = torch.tensor([0.0, 1.0], dtype=torch.float64)
    y = layer.transform_output(probe)
    return float(y[1] - y[0]), float(y[0])


def from_memtorch(layer: nn.Module, scaling: str = "naive") -> _Crossbar:
    """The fast equivalent of a programmed (and possibly tuned) MemTorch ``Linear`` or ``Conv2d`` layer.

    Args:
        layer: the MemTorch layer.
        scaling: ``naive`` (MemTorch's: the read-out keeps the input scaling) or ``restore`` (the read-out is
            multiplied back by ``max|x| / max_input_voltage``, as a digital periphery that knows the DAC's scale
            would).

    Raises:
        UnsupportedError: a layer the fast engine does not cover (see :func:`supports`).
    """
    why = supports(layer)
    if why:
        raise UnsupportedError(f"the fast mnn engine cannot run {layer}: {why}; use engine: memtorch")
    settings = {
        "tile_shape": None if layer.tile_shape is None else [int(t) for t in layer.tile_shape],
        "max_input_voltage": layer.max_input_voltage,
        "adc_bits": layer.ADC_resolution if layer.quant_method is not None else None,
        "adc_overflow_rate": float(layer.ADC_overflow_rate or 0.0),
        "quantization": layer.quant_method or "linear",
        "scaling": scaling,
    }
    g = effective_conductance(layer)
    rows, columns = layer.crossbars[0].rows, layer.crossbars[0].columns
    bias = None if layer.bias is None else layer.bias.data
    if isinstance(layer, nn.Conv2d):
        settings.update(in_channels=layer.in_channels, kernel_size=list(layer.kernel_size),
                        stride=list(layer.stride), padding=list(layer.padding))
        return CrossbarConv2d(g, rows, columns, settings, _transform_of(layer), bias)
    return CrossbarLinear(g, rows, columns, settings, _transform_of(layer), bias)


def fast_tune(layer: nn.Module, fast: _Crossbar) -> tuple[float, float]:
    """MemTorch's ``naive_tune`` computed with the fast engine, with the same random draws.

    Draws the same tuning input MemTorch's ``tune()`` would (``torch.rand(shape).uniform_(-1, 1)``, shape
    ``[4098, in_features]`` for a linear layer, ``[8, in_channels, 32, 32]`` for a convolution), reads it through
    the crossbar without bias or correction, and fits the same least-squares line (scikit-learn) onto the float
    layer's output. Sets the correction on both ``layer`` and ``fast``.

    Returns:
        ``(coef, intercept)``.
    """
    from sklearn import linear_model

    if isinstance(layer, nn.Conv2d):
        x = torch.rand((8, layer.in_channels // layer.groups, 32, 32)).uniform_(-1, 1)
        legacy = F.conv2d(x, layer.weight, bias=None, stride=layer.stride, padding=layer.padding)
    else:
        x = torch.rand((4098, layer.in_features)).uniform_(-1, 1)
        legacy = x @ layer.weight.data.T
    bias, fast.bias = fast.bias, None
    fast.transform = torch.tensor((1.0, 0.0), dtype=torch.float64)
    with torch.no_grad():
        out = fast(x)
    fast.bias = bias
    reg = linear_model.LinearRegression(fit_intercept=True).fit(out.numpy().reshape(-1, 1),
                                                                legacy.detach().numpy().reshape(-1, 1))
    coef, intercept = float(reg.coef_.item()), float(reg.intercept_.item())
    fast.transform = torch.tensor((coef, intercept), dtype=torch.float64)
    layer.transform_output = lambda y: y * coef + intercept
    return coef, intercept


# ------------------------------------------------------------------------------------------ save and load


def crossbar_state(network: nn.Module) -> dict[str, dict[str, Any]]:
    """Everything the fast layers of a built network need to run, by layer name (plain tensors and settings).

    Save it with ``torch.save`` (or snnc's atomic writer); :func:`load_crossbars` puts it back into a freshly
    compiled float network of the same spec. Needs no MemTorch to load or run.

    Raises:
        UnsupportedError: some layers run on MemTorch's own forward (they hold Python device objects).
    """
    out, slow = {}, []
    for name, m in network.named_modules():
        if isinstance(m, _Crossbar):
            out[name] = {"kind": "conv2d" if isinstance(m, CrossbarConv2d) else "linear",
                         "conductance": m.conductance, "transform": m.transform, "bias": m.bias,
                         "settings": m.get_extra_state()}
        elif hasattr(m, "crossbars"):
            slow.append(name)
    if slow:
        raise UnsupportedError(f"layers {', '.join(slow)} run on MemTorch's own layers, which cannot be saved; build "
                               "with engine: fast (non-linear devices and passive crossbars have no fast form)")
    return out


def load_crossbars(module: nn.Module, state: dict[str, dict[str, Any]]) -> nn.Module:
    """A copy of the float ``module`` with the layers named in ``state`` replaced by fast crossbar layers.

    Args:
        module: the float network the state was built from (e.g. ``snnc.compile(spec, target="ann")``).
        state: what :func:`crossbar_state` returned (e.g. ``torch.load(path, weights_only=True)``).

    Raises:
        UnsupportedError: a named layer is missing from ``module`` or its shape differs.
    """
    import copy

    from .rebind import replace_modules

    model = copy.deepcopy(module)
    layers = dict(model.named_modules())
    mapping = {}
    for name, entry in state.items():
        old = layers.get(name)
        settings = dict(entry["settings"])
        rows, columns = settings.pop("rows"), settings.pop("columns")
        if old is None or not isinstance(old, (nn.Linear, nn.Conv2d)):
            raise UnsupportedError(f"the saved mnn network has a crossbar layer '{name}' that this network lacks")
        out_size = old.out_features if isinstance(old, nn.Linear) else old.out_channels
        if out_size != columns:
            raise UnsupportedError(f"layer '{name}' has {out_size} outputs here but {columns} in the saved network")
        cls = CrossbarConv2d if entry["kind"] == "conv2d" else CrossbarLinear
        transform = tuple(float(t) for t in entry["transform"].tolist())
        mapping[id(old)] = cls(entry["conductance"], rows, columns, settings, transform, entry["bias"])
    replace_modules(model, mapping)
    return model
