"""Input encodings (direct, rate, latency) and output decodings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from snntorch import spikegen

from snnc.compiler.errors import DataError, UnsupportedError
from snnc.compiler.targets.snn.coding import (
    Decoding,
    Encoding,
    decode,
    encode,
    resolve_decoding,
    resolve_encoding,
)

STEPS = 10


def test_resolve_accepts_kind_mapping_and_ir_model():
    assert resolve_encoding("rate") == Encoding(kind="rate")
    assert resolve_encoding({"kind": "rate", "gain": 0.5}) == Encoding(kind="rate", gain=0.5)
    ir = SimpleNamespace(kind="latency", tau=2.0, threshold=0.05, linear=False, normalize=True)
    assert resolve_encoding(ir) == Encoding(kind="latency", tau=2.0, threshold=0.05, linear=False)
    assert resolve_decoding(SimpleNamespace(kind="count")) == Decoding(kind="count")


def test_unknown_kinds_list_the_supported_ones():
    with pytest.raises(UnsupportedError, match="input encoding 'delta'; supported: direct, latency, rate"):
        resolve_encoding("delta")
    with pytest.raises(UnsupportedError, match="output decoding 'first'; supported: count, membrane, rate"):
        resolve_decoding("first")


def test_direct_repeats_the_input_without_copying():
    x = torch.rand(4, 1, 5, 5)
    seq = encode(x, STEPS, Encoding("direct"))
    assert seq.shape == (STEPS, 4, 1, 5, 5)
    assert seq.data_ptr() == x.data_ptr()
    assert torch.equal(seq[3], x)


def test_rate_is_snntorch_rate_and_repeatable_with_a_seed():
    x = torch.rand(4, 1, 5, 5)
    enc = Encoding("rate", gain=0.5)
    torch.manual_seed(3)
    first = encode(x, STEPS, enc)
    torch.manual_seed(3)
    again = encode(x, STEPS, enc)
    torch.manual_seed(3)
    theirs = spikegen.rate(x, num_steps=STEPS, gain=0.5)
    assert first.shape == (STEPS, 4, 1, 5, 5)
    assert torch.equal(first, again) and torch.equal(first, theirs)
    assert set(first.unique().tolist()) <= {0.0, 1.0}


def test_latency_is_one_spike_per_input_like_snntorch():
    torch.manual_seed(0)
    x = torch.rand(4, 10)
    enc = Encoding("latency", tau=5.0, threshold=0.01, linear=True, normalize=True)
    seq = encode(x, STEPS, enc)
    theirs = spikegen.latency(x, num_steps=STEPS, tau=5.0, threshold=0.01, linear=True, normalize=True)
    assert seq.shape == (STEPS, 4, 10)
    assert torch.equal(seq, theirs)
    assert torch.equal(seq.sum(0), torch.ones(4, 10))
    assert torch.equal(encode(x, STEPS, enc), seq)


def test_latency_rejects_inputs_outside_unit_range():
    with pytest.raises(DataError, match=r"latency encoding needs inputs in \[0, 1\], got values in \[-1, 2\]"):
        encode(torch.tensor([[-1.0, 2.0]]), STEPS, Encoding("latency"))


def test_decodings():
    spk = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])
    mem = torch.tensor([[[0.5, 0.1]], [[1.5, 0.3]]])
    assert torch.equal(decode(spk, mem, Decoding("rate")), torch.tensor([[1.0, 0.5]]))
    assert torch.equal(decode(spk, mem, Decoding("count")), torch.tensor([[2.0, 1.0]]))
    assert torch.allclose(decode(spk, mem, Decoding("membrane")), torch.tensor([[1.0, 0.2]]))
