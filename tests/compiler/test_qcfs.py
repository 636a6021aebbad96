"""QCFS (Bu et al., ICLR 2022): the activation is its definition, gradients pass the floor and reach λ, the
rewrite replaces every ReLU site and nothing else, conversion takes λ as the thresholds, and a QCFS net
converted at T = L reproduces its ANN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnc
from snnc.compiler.errors import SnncError
from snnc.compiler.pipeline import provenance
from snnc.compiler.qcfs import QCFS, apply_qcfs, init_thresholds, qcfs_sites

SPEC = """
name: tiny_qcfs
input: {shape: [1, 8, 8], range: [0, 1]}
task: {kind: classification, classes: 5}
timesteps: 4
neuron: {model: leaky, beta: 0.9, threshold: 1.0}
layers:
  - {name: conv1, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: pool1, kind: maxpool2d, kernel_size: 2}
  - {name: lif1, kind: spike}
  - {name: flatten, kind: flatten}
  - {name: fc1, kind: linear, out_features: 16}
  - {name: lif2, kind: spike}
  - {name: fc2, kind: linear, out_features: 5}
  - {name: lif3, kind: spike}
"""


def definition(x: torch.Tensor, lam: float, levels: int) -> torch.Tensor:
    """The paper's code (``modules.MyFloor.forward``), verbatim but for the names."""
    x = x / lam
    x = torch.floor(x * levels + 0.5) / levels
    return torch.clamp(x, 0, 1) * lam


@pytest.mark.parametrize("lam,levels", [(8.0, 4), (0.37, 8), (2.5, 1), (1.0, 16)])
def test_forward_is_the_definition_exactly(lam, levels):
    torch.manual_seed(0)
    x = torch.randn(4096) * 2 * lam
    q = QCFS(levels, lam)
    y = q(x)
    assert torch.equal(y, definition(x, torch.tensor(lam), levels))
    steps = y / (lam / levels)  # every value is one of the L + 1 levels k·λ/L, k = 0..L
    assert torch.allclose(steps, steps.round(), atol=1e-4) and steps.min() >= 0 and steps.max() <= levels + 1e-4
    assert y[x >= lam].eq(q.threshold).all() and y[x < -lam / (2 * levels)].eq(0).all()


def test_the_floor_passes_the_gradient_straight_through_and_lambda_gets_its_own():
    lam, levels = 2.0, 4
    x = torch.tensor([-3.0, -0.2, 0.1, 0.6, 1.3, 1.6, 1.9, 2.5, 7.0], requires_grad=True)
    q = QCFS(levels, lam)
    q(x).sum().backward()
    # the reference: the paper's ops with its GradFloor written as x + stopgrad(floor(x) - x)
    x_ref = x.detach().clone().requires_grad_(True)
    lam_ref = torch.tensor(lam, requires_grad=True)
    u = x_ref / lam_ref * levels + 0.5
    (torch.clamp((u + (u.floor() - u).detach()) / levels, 0, 1) * lam_ref).sum().backward()
    assert torch.equal(x.grad, x_ref.grad)
    torch.testing.assert_close(q.threshold.grad, lam_ref.grad)
    level = torch.floor(x.detach() / lam * levels + 0.5)
    inner = (level > 0) & (level < levels)  # a true floor's gradient is 0 there; straight through it is 1
    assert inner.sum() >= 3 and x.grad[inner].eq(1).all() and x.grad[x.detach() < -lam].eq(0).all()
    # d/dλ is level/L − x/λ between the levels 0 and L, 1 at the top level (the output is λ): λ learns from both
    expected = (level[inner] / levels - x.detach()[inner] / lam).sum() + (level >= levels).sum()
    torch.testing.assert_close(q.threshold.grad, expected)


class EveryRelu(nn.Module):
    """Every ReLU spelling (the module twice), and activations that are no ReLU."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 6)
        self.act = nn.ReLU()
        self.relu6, self.leaky = nn.ReLU6(), nn.LeakyReLU(0.1)

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        x = F.relu(x) + torch.relu(x) + x.relu() + torch.clamp(x, min=0) + x.clamp_min(0)
        x = self.fc3(x)
        return torch.sigmoid(x) + self.relu6(x) + self.leaky(x) + x.clamp(min=0, max=3) + F.relu(x, inplace=True)


def test_apply_qcfs_replaces_every_relu_site_and_nothing_else():
    torch.manual_seed(0)
    model = EveryRelu()
    q = apply_qcfs(model, levels=1 << 16, threshold=100.0)
    sites = qcfs_sites(q)
    assert len(sites) == 8  # act twice, five functional spellings, the in-place F.relu
    assert isinstance(q.relu6, nn.ReLU6) and isinstance(q.leaky, nn.LeakyReLU) and not hasattr(q, "act")
    calls = [n for n in q.graph.nodes if n.op == "call_function"]
    assert any(n.target is torch.sigmoid for n in calls) and any(n.target == "clamp" for n in q.graph.nodes)
    assert not any(n.target in (F.relu, torch.relu) for n in calls)
    assert isinstance(model.act, nn.ReLU)  # the model itself is left as it was
    extra = set(q.state_dict()) - set(model.state_dict())
    assert extra == {f"{name}.threshold" for name in sites}
    x = torch.randn(32, 6)
    # with L = 2^16 levels of 100/2^16, QCFS is the ReLU to within half a step per site
    torch.testing.assert_close(q(x), model(x), atol=0.05, rtol=0)


def test_a_spec_ann_keeps_its_names_and_provenance():
    ann = snnc.compile(SPEC, "ann")
    q = apply_qcfs(ann, levels=4)
    assert set(qcfs_sites(q)) == {"lif1", "lif2"}  # the output spike node is the logits (Identity)
    assert provenance(q) == provenance(ann) and q.meta["snnc_qcfs"] == {"levels": 4}
    assert "snnc_graph" in q.meta
    again = apply_qcfs(q, levels=8)  # re-applying keeps the sites (and λ), takes the new L
    assert set(qcfs_sites(again)) == {"lif1", "lif2"} and {m.levels for m in qcfs_sites(again).values()} == {8}


def test_init_thresholds_reads_the_relu_network():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 20), nn.ReLU(), nn.Linear(20, 3))
    x = torch.randn(200, 10)
    q = apply_qcfs(model, levels=2, threshold=1e-3)  # a λ this small would zero the second site's input
    found = init_thresholds(q, x, percentile=90.0)
    with torch.no_grad():
        h1 = torch.relu(model[0](x))
        h2 = torch.relu(model[2](h1))
    expected = [torch.quantile(h.flatten(), 0.9) for h in (h1, h2)]
    assert list(found) == list(qcfs_sites(q))
    for value, want in zip(found.values(), expected):
        assert value == pytest.approx(float(want), rel=1e-5)


def _set_lambdas(q, values):
    for site, value in zip(qcfs_sites(q).values(), values):
        site.threshold.data.fill_(value)


def test_conversion_takes_lambda_as_the_threshold_not_the_calibration():
    torch.manual_seed(0)
    q = apply_qcfs(snnc.compile(SPEC, "ann"), levels=4)
    _set_lambdas(q, [0.7, 1.9])
    for scale in (1.0, 100.0):
        snn = snnc.convert(q, torch.rand(16, 1, 8, 8) * scale, method="if", calibrate="none")
        assert {k: float(v) for k, v in snn.thresholds().items()} == pytest.approx({"lif1": 0.7, "lif2": 1.9})
        assert snn.config["v_init"] == 0.5  # membrane starts at λ/2: the shift
    channelwise = snnc.convert(q, torch.rand(16, 1, 8, 8), method="if", channelwise=True,
                               calibrate="none").thresholds()
    assert channelwise["lif1"].shape == (4, 1, 1) and torch.allclose(channelwise["lif1"], torch.tensor(0.7))
    # a ReLU beside QCFS sites is still calibrated, on the activations of the QCFS network before it
    torch.manual_seed(0)
    mixed = nn.Sequential(nn.Linear(4, 4), QCFS(4, 0.7), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    calibration = torch.randn(64, 4) * 50
    thresholds = snnc.convert(mixed, calibration, method="if", percentile=100.0, calibrate="none").thresholds()
    with torch.no_grad():
        largest = mixed[:4](calibration).max()
    assert float(thresholds["1"]) == pytest.approx(0.7) and float(thresholds["3"]) == pytest.approx(float(largest))


def _mlp(depth: int) -> nn.Module:
    torch.manual_seed(1)
    layers: list[nn.Module] = []
    width = 12
    for _ in range(depth):
        layers += [nn.Linear(width, 24), nn.ReLU()]
        width = 24
    return nn.Sequential(*layers, nn.Linear(width, 4))


@pytest.mark.parametrize("levels", [2, 4, 8])
def test_one_qcfs_layer_converted_at_T_equal_L_is_its_ann_on_constant_inputs(levels):
    q = apply_qcfs(_mlp(1), levels=levels)
    x = torch.randn(256, 12)
    init_thresholds(q, x, 99.0)
    snn = snnc.convert(q, x, method="if", timesteps=levels, calibrate="none")
    with torch.no_grad():
        torch.testing.assert_close(snn(x), q(x), atol=1e-5, rtol=1e-5)


def test_a_deep_qcfs_net_in_bursts_is_its_ann_at_one_step():
    """Burst neurons of λ/L with Γ = L compute each QCFS activation exactly in one step (v_init = 0.5 is the
    shift), so the whole converted network equals its QCFS ANN at T = 1, however deep; more steps refine the
    quantisation towards the clipped ReLU and stay close."""
    torch.manual_seed(0)
    q = apply_qcfs(_mlp(3).eval(), levels=8)
    x = torch.randn(512, 12)
    init_thresholds(q, x, 99.0)
    snn = snnc.convert(q, x, calibrate="none")
    with torch.no_grad():
        ann = q(x)
        torch.testing.assert_close(snn(x, 1), ann, atol=1e-5, rtol=1e-5)
        ifs = snnc.convert(q, x, method="if", calibrate="none")
        assert float((snn(x, 4) - ann).abs().mean()) < 0.5 * float((ifs(x, 4) - ann).abs().mean())


def test_a_deeper_qcfs_net_converts_best_at_T_equal_L():
    """Two QCFS layers: the second's input spike trains are no longer uniform, so T = L is not exact, but it is
    where the SNN is closest to its QCFS ANN (at larger T it tends to the clipped, unquantised net instead), and
    closer than the percentile-converted ReLU net is to its ANN at the same T."""
    relu = _mlp(2).eval()
    x = torch.randn(512, 12)
    q = apply_qcfs(relu, levels=4)
    init_thresholds(q, x, 99.0)
    error = {}
    with torch.no_grad():
        for name, net in (("qcfs", q), ("relu", relu)):
            snn, ann = snnc.convert(net, x, method="if", percentile=99.0), net(x)
            error[name] = {t: float((snn(x, t) - ann).abs().mean() / ann.abs().mean()) for t in (2, 4, 16)}
        agree = float((snnc.convert(q, x, method="if")(x, 4).argmax(1) == q(x).argmax(1)).float().mean())
    assert error["qcfs"][4] < min(error["qcfs"][2], error["qcfs"][16])
    assert error["qcfs"][4] < 0.8 * error["relu"][4] and agree > 0.85


def test_save_and_load_rebuild_the_qcfs_network(tmp_path):
    torch.manual_seed(0)
    q = apply_qcfs(snnc.compile(SPEC, "ann"), levels=4)
    _set_lambdas(q, [0.3, 0.9])
    path = snnc.save(q, tmp_path / "q.pt")
    back = snnc.load(path)
    assert {n: m.threshold.item() for n, m in qcfs_sites(back).items()} == pytest.approx({"lif1": 0.3, "lif2": 0.9})
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(back(x), q.eval()(x))


def test_snnc_qcfs_for_hand_written_models_and_its_errors():
    model = _mlp(2)
    x = torch.randn(64, 12)
    paper = snnc.qcfs(model, levels=4)
    assert {m.threshold.item() for m in qcfs_sites(paper).values()} == {8.0}
    from_data = snnc.qcfs(model, levels=4, calibration=x)
    assert all(m.threshold.item() != 8.0 for m in qcfs_sites(from_data).values())
    with pytest.raises(SnncError, match="not both"):
        snnc.qcfs(model, threshold=1.0, calibration=x)
    with pytest.raises(SnncError, match="no ReLU"):
        snnc.qcfs(nn.Sequential(nn.Linear(3, 3), nn.Sigmoid()))
    with pytest.raises(SnncError, match="levels L must be an integer >= 1"):
        snnc.qcfs(model, levels=0)
    with pytest.raises(SnncError, match="λ must be > 0"):
        snnc.qcfs(model, threshold=-1.0)
    with pytest.raises(SnncError, match="percentile must be in"):
        snnc.qcfs(model, calibration=x, percentile=0)


def test_qcfs_sites_fire_l_spikes_of_lambda_over_l_in_bursts_and_keep_it_through_save_and_load(tmp_path):
    """In a burst conversion a QCFS site's neuron has threshold λ/L and fires up to L spikes per step (its most
    per step is λ, the activation's clip), whatever the conversion's Γ; ReLU sites keep the conversion's Γ; with
    method="if" the site is the paper's IF neuron (threshold λ, one spike)."""
    torch.manual_seed(0)
    ann = snnc.compile(SPEC, "ann")
    q = apply_qcfs(ann, levels=4)
    q.lif2 = nn.ReLU()  # lif2 back to a ReLU: a network with both kinds of site
    snn = snnc.convert(q, torch.rand(8, 1, 8, 8), gamma=5)
    lam = float(q.lif1.threshold.detach())
    assert {n: m.gamma for n, m in snn.neurons().items()} == {"lif1": 4, "lif2": 5}
    assert float(snn.neurons()["lif1"].threshold) == pytest.approx(lam / 4)
    ifs = snnc.convert(q, torch.rand(8, 1, 8, 8), method="if")
    assert {n: m.gamma for n, m in ifs.neurons().items()} == {"lif1": 1, "lif2": 1}
    assert float(ifs.neurons()["lif1"].threshold) == pytest.approx(lam)
    back = snnc.load(snnc.save(snn, tmp_path / "burst.pt"))
    assert {n: m.gamma for n, m in back.neurons().items()} == {"lif1": 4, "lif2": 5}
    x = torch.rand(4, 1, 8, 8) * 3
    with torch.no_grad():
        torch.testing.assert_close(back(x, 4), snn(x, 4))
