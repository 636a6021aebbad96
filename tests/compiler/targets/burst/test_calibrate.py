"""Calibration after conversion (issue 27): it changes only what it should, and runs on every supported op."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnc
from snnc.compiler.errors import SnncError
from snnc.compiler.targets.base import OptionsError
from snnc.compiler.export.plain import PlainBurstNeuron
from snnc.compiler.targets.burst import BurstNeuron
from snnc.compiler.targets.burst.calibrate import parse_steps, quantize, search_threshold
from snnc.compiler.targets.burst.convert import convert


class TwoBranches(nn.Module):
    """Two linear → ReLU sites on the input, concatenated, then a linear read-out."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.out = nn.Linear(4, 3), nn.Linear(4, 2), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([F.relu(self.a(x)), torch.relu(self.b(x))], dim=1))


def exact_network() -> tuple[nn.Module, torch.Tensor]:
    """A network the conversion gets exactly at T = 4: on one-hot inputs every activation is a multiple of a
    quarter of its layer's largest (the threshold, with ``normalization="max"``), and a neuron on a constant input
    with ``v_init = 0.5`` rounds to exactly those multiples."""
    torch.manual_seed(0)
    model = TwoBranches().eval()
    with torch.no_grad():
        model.a.weight.copy_(torch.tensor([[1.0, 0.25, -1.0, 0.5], [0.75, 0.0, 0.5, -0.25], [0.25, 1.0, 0.5, 0.75]]))
        model.b.weight.copy_(torch.tensor([[0.5, 2.0, 1.5, -1.0], [1.0, 0.5, 0.0, 2.0]]))
        model.a.bias.zero_()
        model.b.bias.zero_()
    return model, torch.eye(4).repeat(8, 1)


def test_a_network_already_exact_stays_exact():
    model, x = exact_network()
    options = dict(gamma=1, normalization="max", v_init=0.5)
    plain = convert(model, x, **options, calibrate="none")
    calibrated = convert(model, x, **options, calibrate="full", calibration_timesteps=4)
    with torch.no_grad():
        torch.testing.assert_close(plain(x, 4), model(x), rtol=0, atol=1e-6)  # exact indeed
        for t in (4, 8):
            torch.testing.assert_close(calibrated(x, t), plain(x, t), rtol=0, atol=1e-6)
    assert calibrated.config["thresholds_searched"] == 0
    for name, neuron in calibrated.neurons().items():
        assert torch.equal(neuron.threshold, plain.neurons()[name].threshold)
        assert neuron.bias.abs().max() < 1e-6 and neuron.v_offset.abs().max() < 1e-5


class ReluCNN(nn.Module):
    """conv-bn-ReLU, max-pool, conv-ReLU, avg-pool, linear-ReLU, linear: ReLU modules, so the ANN's activation at
    each neuron is a forward hook away."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.bn, self.r1 = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()
        self.c2, self.r2 = nn.Conv2d(6, 8, 3, padding=1), nn.ReLU()
        self.fc, self.r3, self.out = nn.Linear(8 * 2 * 2, 12), nn.ReLU(), nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.r1(self.bn(self.c1(x))), 2)
        x = F.avg_pool2d(self.r2(self.c2(x)), 2)
        return self.out(self.r3(self.fc(x.flatten(1))))


def channel_errors(model: nn.Module, snn: nn.Module, x: torch.Tensor, timesteps: int) -> dict[str, torch.Tensor]:
    """Per neuron layer, the per-channel mean of ANN activation minus the SNN's mean output over ``timesteps``."""
    ann, spikes, hooks = {}, {}, []
    for name in ("r1", "r2", "r3"):
        hooks.append(getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: ann.__setitem__(name, o.transpose(0, 1).reshape(o.shape[1], -1).mean(1))))
        hooks.append(snn.layer(name).register_forward_hook(
            lambda m, i, o, name=name: spikes.setdefault(name, []).append(o.detach())))
    with torch.no_grad():
        model(x)
        snn(x, timesteps)
    for hook in hooks:
        hook.remove()
    errors = {}
    for name, outs in spikes.items():
        o = torch.cat(outs)
        errors[name] = ann[name] - o.transpose(0, 1).reshape(o.shape[1], -1).mean(1)
    return errors


def test_bias_correction_reduces_the_channel_mean_error(randomize_bn):
    torch.manual_seed(4)
    model = randomize_bn(ReluCNN(), seed=4).eval()
    x = torch.rand(96, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    options = dict(gamma=2, percentile=99.0, fold_batch=4 * 96)
    before = channel_errors(model, convert(model, x, **options, calibrate="none"), x, 4)
    after = channel_errors(model, convert(model, x, **options, calibrate="bias", calibration_timesteps=4), x, 4)
    for name in before:  # every layer, each corrected once with the layers before it corrected
        assert float(after[name].abs().sum()) < 0.8 * float(before[name].abs().sum()), name
    # the first layer's input is exact, so only its own rounding is left: one correction removes most of it
    assert float(after["r1"].abs().sum()) < 0.3 * float(before["r1"].abs().sum())


def test_threshold_search_picks_the_least_squared_error_on_a_hand_made_distribution():
    values = torch.tensor([[1.0] * 99 + [10.0]])
    # Γ = 1, T = 1, v_init = 0: θ = 10 loses every 1 (99), θ = 5 too and clips the 10 (99 + 25), θ = 1 clips the
    # 10 to 1 (81): θ = 1 wins. The grid's own candidates (θ = 10 · f, f from 1 down to 0.05) include θ = 1 at
    # f = 0.1 (a 1 kept, error 81), and none does better.
    chosen = search_threshold(values, torch.tensor([5.0]), gamma=1, timesteps=1, v_init=0.0, candidates=20)
    assert torch.allclose(chosen, torch.tensor([1.0]))
    # Γ = 10 reaches the 10 without clipping: θ = 1 is exact (error 0), the first candidate of the grid with it.
    assert torch.allclose(search_threshold(values, torch.tensor([5.0]), 10, 1, 0.0, candidates=20),
                          torch.tensor([1.0]))


def test_threshold_search_keeps_the_threshold_on_a_tie_and_searches_each_row():
    values = torch.tensor([[0.0, 0.5, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 0.1, 0.1]])
    current = torch.tensor([0.5, 1.0, 3.0])
    chosen = search_threshold(values, current, gamma=4, timesteps=1, v_init=0.5)
    assert chosen[0] == 0.5  # exact already (multiples of 0.5 up to 4 · 0.5): kept though others tie
    assert chosen[1] == 1.0  # a silent channel keeps its threshold
    errors = lambda theta: float((quantize(values[2], theta, 4, 1, 0.5) - values[2]).square().sum())  # noqa: E731
    assert errors(chosen[2]) < errors(current[2])


@pytest.mark.parametrize("gamma,timesteps,v_init", [(1, 4, 0.5), (3, 5, 0.0), (5, 2, 0.5)])
def test_quantize_is_the_burst_neurons_mean_output_on_a_constant_input(gamma, timesteps, v_init):
    a = torch.linspace(-0.5, 7.0, 151).reshape(1, -1)
    neuron = BurstNeuron(torch.tensor(0.7), gamma=gamma, v_init=v_init)
    neuron.steps = timesteps
    mean = neuron(a.expand(timesteps, -1).contiguous()).reshape(timesteps, -1).mean(0)
    torch.testing.assert_close(mean, quantize(a, torch.tensor(0.7), gamma, timesteps, v_init)[0])


class EveryOp(nn.Module):
    """Conv-BN-ReLU, max-pool, a residual add, a concat, avg-pool, flatten, linear-BN1d-ReLU, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.side = nn.Conv2d(4, 2, 1)
        self.fc, self.bn1d, self.out = nn.Linear(6 * 2 * 2, 10), nn.BatchNorm1d(10), nn.Linear(10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(F.relu(self.bn(self.stem(x))), 2)
        x = (self.bn2(self.conv(x)) + x).relu()
        x = torch.cat([x, self.side(x).clamp(min=0)], dim=1)
        x = F.avg_pool2d(x, 2).flatten(1)
        return self.out(F.relu(self.bn1d(self.fc(x))))


@pytest.mark.parametrize("channelwise", [False, True])
def test_a_model_with_every_supported_op_converts_with_calibration_and_runs(randomize_bn, channelwise):
    torch.manual_seed(6)
    model = randomize_bn(EveryOp(), seed=6).eval()
    x = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    net = snnc.convert(model, x, channelwise=channelwise, calibrate="full", calibration_timesteps=4)
    cfg = net.config
    assert cfg["calibrate"] == ["threshold", "bias", "potential"] and cfg["calibration_timesteps"] == 4
    assert cfg["calibration_images"] == 48 and cfg["layers_corrected"] == len(net.neurons()) == 4
    assert 0 < cfg["calibration_seconds"] < 60
    with torch.no_grad():
        out = net(x[:5], 4)
        assert out.shape == (5, 3) and torch.isfinite(out).all()
        # the state-dict round trip: a skeleton converted without calibration takes the corrections
        skeleton = snnc.convert(model, x, channelwise=channelwise)
        skeleton.load_state_dict(net.state_dict())
        assert torch.equal(skeleton(x[:5], 4), out)
        # explicit state from init_state (the calibrated initial membrane) gives forward's steps
        state, steps = net.init_state(5), []
        for _ in range(4):
            y, state = net.step(x[:5], state)
            steps.append(y)
        torch.testing.assert_close(torch.stack(steps), net(x[:5], 4, return_steps=True).reshape(4, 5, 3))


def test_the_export_twin_of_a_corrected_neuron_gives_the_same_spikes():
    neuron = BurstNeuron(torch.full((3, 1), 0.5), gamma=3)
    neuron.set_correction("bias", torch.tensor([[0.1], [-0.2], [0.05]]))
    neuron.set_correction("v_offset", torch.rand(3, 2, generator=torch.Generator().manual_seed(8)) - 0.5)
    x = torch.rand(6 * 2, 3, 2, generator=torch.Generator().manual_seed(9))
    neuron.steps = 6
    twin = PlainBurstNeuron(neuron, steps=6)
    assert torch.equal(twin(x)[0], neuron(x))


def test_calibrate_none_is_the_conversion_alone_and_the_default_is_threshold_and_bias(cnn, images):
    assert snnc.convert(cnn, images).config["calibrate"] == ["threshold", "bias"]
    net = snnc.convert(cnn, images, calibrate="none")
    keys = set(net.state_dict())
    assert all(f"network.{name}.threshold" in keys and f"network.{name}.bias" not in keys
               and f"network.{name}.v_offset" not in keys for name in net.neurons())
    assert all(n.bias is None and n.v_offset is None for n in net.neurons().values())
    assert snnc.convert(cnn, images, calibrate="none").config["calibrate"] == []


@pytest.mark.parametrize("options,match", [
    ({"calibrate": "bais"}, r"unknown calibration step 'bais'.*Did you mean 'bias'"),
    ({"calibrate": ["none", "bias"]}, r"'none' and 'full' stand alone"),
    ({"calibrate": 3}, r"option 'calibrate'"),
    ({"calibration_timesteps": 0}, r"option 'calibration_timesteps'"),
])
def test_bad_calibration_options_get_one_clear_error(cnn, images, options, match):
    with pytest.raises(OptionsError, match=match):
        snnc.convert(cnn, images, **options)


def test_the_converter_checks_its_calibration_arguments_too(cnn, images):
    with pytest.raises(SnncError, match="calibrate must be a string or a list of strings"):
        convert(cnn, images, calibrate=3)
    with pytest.raises(SnncError, match="calibration_timesteps must be a positive integer"):
        convert(cnn, images, calibrate="bias", calibration_timesteps=2.5)
    assert parse_steps("Bias, threshold") == ("threshold", "bias")
    assert parse_steps(["full"]) == ("threshold", "bias", "potential")


def test_a_calibrated_network_saves_and_loads_with_its_corrections(tmp_path):
    torch.manual_seed(0)
    ann = snnc.compile("mnist_fc")
    x = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(10))
    net = snnc.convert(ann, x, calibrate=["threshold", "potential"], calibration_timesteps=2)
    assert all(n.v_offset is not None and n.bias is None for n in net.neurons().values())
    loaded = snnc.load(snnc.save(net, tmp_path / "burst.pt"))
    assert loaded.config["calibrate"] == ["threshold", "potential"] and loaded.config["calibration_timesteps"] == 2
    with torch.no_grad():
        assert torch.equal(loaded(x[:4], 3), net(x[:4], 3))
