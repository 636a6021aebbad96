"""The out-of-distribution methods: each loss on a hand-computed case, and a short run that improves its objective."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch.utils.data import Subset

import snnc
from snnc.compiler.errors import UnsupportedError
from snnc.runtime.data import load_dataset
from snnc.runtime.losses import RECORDING, SCORES, make_loss
from snnc.runtime.methods import METHODS, Batch, MethodContext, StepInfo
from snnc.runtime.methods.balanced import attribute_of, balanced_indices
from snnc.runtime.methods.dann import ganin_alpha, grad_reverse
from snnc.runtime.methods.irm import irm_penalty
from snnc.runtime.methods.envs import WithAttribute
from snnc.runtime.methods.spike_similarity import dissimilarity, pair_by_label, ramp
from snnc.runtime.methods.vrex import risk_variance

TINY = """\
name: tiny_ood
input: {shape: [2, 14, 14], range: [0, 1]}
task: {kind: classification, classes: 2}
timesteps: 4
neuron: {model: leaky, beta: 0.9, threshold: 1.0, reset: subtract, surrogate: fast_sigmoid, slope: 25}
encoding: direct
decoding: rate
layers:
  - {name: flatten, kind: flatten}
  - {name: fc1, kind: linear, out_features: 32}
  - {name: lif1, kind: spike}
  - {name: fc2, kind: linear, out_features: 2}
  - {name: lif2, kind: spike}
"""

CE = make_loss("cross_entropy", SCORES)


def _model(target: str):
    torch.manual_seed(0)
    model = snnc.compile(TINY, target)
    graph = snnc.build_graph(TINY)
    loss = CE if target == "ann" else make_loss("ce_rate_loss", RECORDING)
    return model, graph, loss


def _method(name: str, target: str = "ann", epochs: int = 1, steps: int = 1, **options):
    model, graph, loss = _model(target)
    cls = METHODS.get(name)
    ctx = MethodContext(graph=graph, spiking=target != "ann", decoding=None if target == "ann" else "rate",
                        loss_fn=loss, epochs=epochs, steps_per_epoch=steps)
    return model, cls(cls.Options(**options), ctx)


def _batch(n: int = 256, **options) -> Batch:
    data = load_dataset("irm-colored-mnist", "train", base="mnist-sample", size=14, **options)
    x, y, env = data.tensors()
    return Batch(x[:n], y[:n], env[:n])


# --- IRM -------------------------------------------------------------------------------------------------------

def _risk_slope(logits, y):
    # dR/dw at w = 1 for R(w) = mean CE(w z, y): mean_i (softmax(z_i) . z_i - z_i[y_i]).
    return ((logits.softmax(1) * logits).sum(1) - logits.gather(1, y[:, None]).squeeze(1)).mean()


def test_irm_penalty_is_the_squared_slope_of_the_risk_in_the_dummy_scale():
    torch.manual_seed(1)
    logits, y = torch.randn(64, 2), torch.randint(0, 2, (64,))
    assert irm_penalty(CE, logits, y).item() == pytest.approx(_risk_slope(logits, y).item() ** 2, rel=1e-5)


def test_irm_penalty_is_zero_at_the_optimum_scale():
    torch.manual_seed(2)
    logits = torch.randn(64, 2) * 3
    # Labels that mostly follow the logits, so the best scale is finite and positive.
    y = (logits.argmax(1) + (torch.rand(64) < 0.2).long()) % 2
    z = logits.double()

    def slope(w: float) -> float:  # dR/dw of R(w) = mean CE(w z, y)
        return ((torch.softmax(z * w, 1) * z).sum(1) - z.gather(1, y[:, None]).squeeze(1)).mean().item()

    lo, hi = 0.0, 10.0  # the risk is convex in w: bisect its slope
    assert slope(lo) < 0 < slope(hi)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
    w = (lo + hi) / 2
    optimum = z * w
    assert irm_penalty(CE, optimum, y).item() < 1e-20
    assert irm_penalty(CE, optimum * 2, y).item() > 1e-4


def test_irm_penalty_on_spiking_outputs_scales_the_traces_and_the_unbiased_estimate_multiplies_halves():
    torch.manual_seed(3)
    spk, mem, y = torch.rand(4, 10, 2), torch.rand(4, 10, 2), torch.randint(0, 2, (10,))
    loss = make_loss("ce_rate_loss", RECORDING)
    p = irm_penalty(loss, (spk, mem), y)
    s = torch.ones((), requires_grad=True)
    g = torch.autograd.grad(loss((spk * s, mem * s), y), [s])[0]
    assert p.item() == pytest.approx(g.item() ** 2, rel=1e-5)
    logits = torch.randn(10, 2)
    expected = _risk_slope(logits[::2], y[::2]) * _risk_slope(logits[1::2], y[1::2])
    assert irm_penalty(CE, logits, y, unbiased=True).item() == pytest.approx(expected.item(), rel=1e-5)


def test_irm_step_anneals_the_weight_and_rescales():
    model, method = _method("irm", penalty_weight=100.0, penalty_anneal_iters=5)
    batch = _batch(64)
    early = method.step(model, batch, StepInfo(1, 1, 4, 10))
    late = method.step(model, batch, StepInfo(1, 1, 5, 10))
    assert early.metrics["penalty_weight"] == 1.0 and late.metrics["penalty_weight"] == 100.0
    nll, pen = early.metrics["nll"], early.metrics["penalty"]
    assert early.loss.item() == pytest.approx(nll + pen, rel=1e-4)
    assert late.loss.item() == pytest.approx((nll + 100 * pen) / 100, rel=1e-4)
    assert {"risk_env0", "risk_env1", "penalty_env0", "penalty_env1"} <= set(early.metrics)


# --- V-REx -----------------------------------------------------------------------------------------------------

def test_vrex_penalty_is_the_variance_of_the_environment_risks():
    assert risk_variance(torch.tensor([1.0, 3.0])).item() == pytest.approx(1.0)
    assert risk_variance(torch.tensor([2.0])).item() == 0.0
    model, method = _method("vrex", penalty_weight=10.0, penalty_anneal_iters=0, rescale=False)
    out = method.step(model, _batch(64), StepInfo(1, 1, 0, 1))
    r0, r1 = out.metrics["risk_env0"], out.metrics["risk_env1"]
    assert out.metrics["penalty"] == pytest.approx(((r0 - r1) / 2) ** 2, rel=1e-4)
    assert out.loss.item() == pytest.approx((r0 + r1) / 2 + 10 * ((r0 - r1) / 2) ** 2, rel=1e-4)


# --- DANN ------------------------------------------------------------------------------------------------------

def test_gradient_reversal_is_the_identity_forward_and_flips_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    y = grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full((5, 3), -0.5))


def test_ganin_schedule_rises_from_zero_to_alpha():
    assert ganin_alpha(0.0) == 0.0
    assert ganin_alpha(1.0) == pytest.approx(2 / (1 + torch.exp(torch.tensor(-10.0)).item()) - 1)
    assert 0 < ganin_alpha(0.1) < ganin_alpha(0.5) < 1.0


@pytest.mark.parametrize("target", ["ann", "snn"])
def test_dann_reads_the_feature_node_and_weights_its_three_losses(target):
    model, method = _method("dann", target, features="lif1", w_class=1.0, w_source=0.5, w_target=2.0)
    assert method.taps == ("lif1",) and "discriminator" in method.modules()
    out = method.step(model, _batch(64), StepInfo(1, 1, 0, 1))
    m = out.metrics
    expected = m["class_loss"] + 0.5 * m["domain_loss_source"] + 2.0 * m["domain_loss_target"]
    assert out.loss.item() == pytest.approx(expected, rel=1e-4)
    out.loss.backward()
    assert method.discriminator[0].weight.grad is not None
    assert model.get_submodule("fc1").weight.grad is not None


def test_dann_default_features_feed_the_last_linear_layer_and_target_labels_are_unread():
    model, method = _method("dann")
    assert method.node == "lif1"
    batch = _batch(64)
    flipped = Batch(batch.x, torch.where(batch.env == 1, 1 - batch.y, batch.y), batch.env)
    torch.manual_seed(0)
    a = method.step(model, batch, StepInfo(1, 1, 0, 1)).loss
    b = method.step(model, flipped, StepInfo(1, 1, 0, 1)).loss
    assert a.item() == pytest.approx(b.item())


# --- spike similarity ------------------------------------------------------------------------------------------

def test_similarity_of_identical_trains_is_zero_and_grows_with_difference():
    a = torch.tensor([[1.0, 0.0, 1.0, 1.0]])
    assert dissimilarity(a, a.clone()).item() == pytest.approx(0.0, abs=1e-7)
    assert dissimilarity(a, torch.tensor([[0.0, 1.0, 0.0, 0.0]])).item() == pytest.approx(1.0)
    assert dissimilarity(a, -a).item() == pytest.approx(2.0)


def test_pairs_match_labels_across_the_two_environments_and_lambda_ramps():
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    env = torch.tensor([0, 0, 1, 1, 1, 0])
    i, j = pair_by_label(y, env, 0, 1)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 2), (1, 3)]
    assert [ramp(e, 5, 2.0) for e in range(1, 6)] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert ramp(1, 1, 2.0) == 2.0


def test_cross_colour_pairs_share_the_label_and_differ_in_colour():
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 0])
    env = torch.tensor([0, 0, 1, 1, 0, 1, 1, 1])
    colour = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1])
    i, j = pair_by_label(y, env, 0, 1, colour)
    pairs = sorted(zip(i.tolist(), j.tolist()))
    # label 0: sample 0 (colour 0) with 7 (colour 1), sample 1 (colour 1) with 2 (colour 0); label 1: 4 with 6
    assert pairs == [(0, 7), (1, 2), (4, 6)]
    assert all(y[a] == y[b] and colour[a] != colour[b] and env[a] == 0 and env[b] == 1 for a, b in pairs)


def test_centred_trains_ignore_an_offset_common_to_all_classes():
    model, method = _method("spike_similarity", "snn", centre=True)
    margins = torch.tensor([[1.0, 0.5, 2.0], [1.0, 0.5, 2.0], [-1.0, 0.3, -2.0]])  # [sample, step]
    offsets = torch.tensor([0.0, 10.0, 0.0])
    read_out = torch.stack([offsets[:, None] + margins / 2, offsets[:, None] - margins / 2], dim=2)  # [B, T, 2]
    output = (read_out.transpose(0, 1), read_out.transpose(0, 1))  # (spk, mem), each [T, B, classes]
    trains = method.trains(output, {})
    assert torch.allclose(trains[0], trains[1])  # same margins, offset 10: identical once centred
    assert dissimilarity(trains[:1], trains[1:2]).item() == pytest.approx(0.0, abs=1e-6)
    assert dissimilarity(trains[:1], trains[2:]).item() > 1.0  # decided apart at two of three steps
    plain = METHODS.get("spike_similarity")(METHODS.get("spike_similarity").Options(), method.context)
    raw = plain.trains(output, {})
    assert dissimilarity(raw[:1], raw[1:2]).item() > 0.1


def test_centre_on_a_single_step_two_class_read_out_is_refused():
    model, method = _method("spike_similarity", "ann", centre=True)
    with pytest.raises(UnsupportedError, match="every cosine ±1"):
        method.trains(torch.randn(4, 2), {})


def test_cross_colour_pairing_needs_environment_labelled_items():
    model, method = _method("spike_similarity", "snn", pairing="other-colour")
    with pytest.raises(UnsupportedError, match="environment-labelled items .* --dataset irm-colored-mnist"):
        method.prepare_dataset(load_dataset("colored-mnist", "train", base="mnist-sample", limit=20))
    with pytest.raises(UnsupportedError, match="'colors' attribute.*use irm-colored-mnist, or"):
        method.prepare_dataset(load_dataset("mnist-sample", "train", limit=10))


def test_each_batch_carries_the_colour_of_its_own_images_through_a_shuffled_split():
    from snnc.runtime.strategies import SingleProcess

    model, method = _method("spike_similarity", "snn", pairing="other-colour")
    data = load_dataset("irm-colored-mnist", "train", base="mnist-sample", size=14)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(3))[:600].tolist()
    prepared = method.prepare_dataset(Subset(data, order))
    for raw in SingleProcess().loader(prepared, 100, shuffle=True, seed=1):
        batch = Batch.of(raw)
        lit = batch.x.flatten(2).sum(2).argmax(1)  # the channel the digit is drawn in is its colour
        assert torch.equal(batch.attr, lit)


def test_cross_colour_similarity_reads_the_colour_the_dataset_adds_to_each_batch():
    model, method = _method("spike_similarity", "snn", pairing="other-colour", lam=1.0)
    data = load_dataset("irm-colored-mnist", "train", base="mnist-sample", size=14)
    prepared = method.prepare_dataset(Subset(data, list(range(100, 400))))
    x, y, env, colour = prepared[3]
    assert colour == int(data.colors[103]) and env == int(data.envs[103])
    raw = next(iter(torch.utils.data.DataLoader(prepared, batch_size=300)))
    batch = Batch.of(raw)
    assert torch.equal(batch.attr, data.colors[100:400].long())
    out = method.step(model, batch, StepInfo(1, 1, 0, 1))
    a, b = sorted(torch.unique(batch.env).tolist())[:2]
    i, j = pair_by_label(batch.y, batch.env, a, b, batch.attr)
    assert out.metrics["pairs"] == len(i) > 0 and bool((batch.attr[i] != batch.attr[j]).all())
    with pytest.raises(UnsupportedError, match="colour in the batch"):
        method.step(model, Batch(batch.x, batch.y, batch.env), StepInfo(1, 1, 0, 1))


@pytest.mark.parametrize(("target", "layer"), [("snn", None), ("snn", "lif1"), ("ann", None), ("ann", "lif1")])
def test_similarity_step_compares_output_or_hidden_trains(target, layer):
    model, method = _method("spike_similarity", target, epochs=3, layer=layer, lam=2.0)
    batch = _batch(64)
    out = method.step(model, batch, StepInfo(3, 3, 0, 1))
    assert out.metrics["lambda"] == 2.0 and out.metrics["pairs"] > 0
    assert out.loss.item() == pytest.approx(out.metrics["base_loss"] + 2.0 * out.metrics["dissimilarity"], rel=1e-4)
    first = method.step(model, batch, StepInfo(1, 3, 0, 1))
    assert first.metrics["lambda"] == 0.0


# --- balanced --------------------------------------------------------------------------------------------------

def test_balanced_indices_make_colours_uniform_within_each_label():
    y = torch.tensor([0] * 10 + [1] * 10)
    c = torch.tensor([0] * 8 + [1] * 2 + [1] * 7 + [0] * 3)
    under = torch.tensor(balanced_indices(y, c, "undersample"))
    over = torch.tensor(balanced_indices(y, c, "oversample"))
    for idx, per_group in ((under, {0: 2, 1: 3}), (over, {0: 8, 1: 7})):
        for label, size in per_group.items():
            for colour in (0, 1):
                assert int(((y[idx] == label) & (c[idx] == colour)).sum()) == size
    assert len(set(under.tolist())) == len(under)


def test_balanced_prepares_a_dataset_with_colour_independent_of_label_through_subsets():
    model, method = _method("balanced")
    data = load_dataset("irm-colored-mnist", "train", base="mnist-sample")
    part = Subset(data, list(range(0, 2000, 2)))
    balanced = method.prepare_dataset(part)
    y, c = attribute_of(balanced, "colors")
    for label in (0, 1):
        assert int(((y == label) & (c == 0)).sum()) == int(((y == label) & (c == 1)).sum())
    assert len(balanced[0]) == 3
    erm = METHODS.get("erm")
    assert erm(erm.Options(), method.context).prepare_dataset(part) is part


# --- errors ----------------------------------------------------------------------------------------------------

def test_bad_uses_are_clear_errors():
    with pytest.raises(ValidationError):
        METHODS.get("irm").Options(penalty=3)
    model, method = _method("irm")
    batch = _batch(16)
    with pytest.raises(UnsupportedError, match="environment-labelled"):
        method.step(model, Batch(batch.x, batch.y), StepInfo(1, 1, 0, 1))
    with pytest.raises(UnsupportedError, match="no node 'nope'"):
        _method("dann", features="nope")
    with pytest.raises(UnsupportedError, match="no node 'nope'"):
        _method("spike_similarity", layer="nope")
    with pytest.raises(UnsupportedError, match="'colors' attribute"):
        _method("balanced")[1].prepare_dataset(load_dataset("mnist-sample", "train", limit=10))


# --- short runs ------------------------------------------------------------------------------------------------

RUNS = [
    ("erm", "ann", {}), ("balanced", "ann", {}),
    ("irm", "ann", {"penalty_weight": 10.0, "penalty_anneal_iters": 0}),
    ("irm", "snn", {"penalty_weight": 10.0, "penalty_anneal_iters": 0}),
    ("vrex", "ann", {"penalty_weight": 10.0, "penalty_anneal_iters": 0}),
    ("vrex", "snn", {"penalty_weight": 10.0, "penalty_anneal_iters": 0}),
    ("dann", "ann", {}), ("dann", "snn", {}),
    ("spike_similarity", "ann", {"lam": 1.0}), ("spike_similarity", "snn", {"lam": 1.0, "layer": "lif1"}),
    ("spike_similarity", "snn", {"lam": 0.2, "pairing": "other-colour", "centre": True}),
]


@pytest.mark.parametrize(("name", "target", "options"), RUNS)
def test_a_short_run_improves_the_methods_own_objective(name, target, options):
    model, method = _method(name, target, epochs=2, steps=15, **options)
    data = method.prepare_dataset(load_dataset("irm-colored-mnist", "train", base="mnist-sample", size=14))
    x, y, env = load_dataset("irm-colored-mnist", "train", base="mnist-sample", size=14).tensors()
    index = torch.as_tensor(list(data.indices)) if isinstance(data, Subset) else torch.arange(len(x))
    colour = data.attribute if isinstance(data, WithAttribute) else None
    x, y, env = x[index], y[index], env[index]
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    params = list(model.parameters()) + [p for m in method.modules().values() for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=5e-3)
    def batch(pick):
        return Batch(x[pick], y[pick], env[pick], None if colour is None else colour[pick])

    probe = batch(order[:256])
    final = StepInfo(2, 2, 29, 15)

    def objective() -> float:
        torch.manual_seed(0)
        out = method.step(model, probe, final)
        if name == "dann":  # the adversarial sum is not minimised by the features: its classification term is
            return out.metrics["class_loss"]
        return out.loss.item()

    before = objective()
    step = 0
    for epoch in (1, 2):
        for i in range(15):
            pick = order[(step * 96) % len(x):][:96]
            out = method.step(model, batch(pick), StepInfo(epoch, 2, step, 15))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            step += 1
    after = objective()
    assert after < before
