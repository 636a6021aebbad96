"""Hardware-aware training (``--method hwa``): the forward pass sees crossbar-perturbed weights, the stored weights
move only by the optimizer, draws repeat with a seed, bad options are clear errors, and short real runs train."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import DataError, SpecError
from snnc.compiler.targets.base import OptionsError
from snnc.compiler.targets.mnn.mapping import naive_map
from snnc.runtime.losses import RECORDING, SCORES, make_loss
from snnc.runtime.methods import METHODS, Batch, MethodContext, StepInfo
from snnc.runtime.methods.hwa import HWA, LayerEffects, perturb
from snnc.runtime.train import train

TINY = """
name: tiny_hwa
input: {shape: [1, 8, 8], range: [0, 1]}
task: {kind: classification, classes: 5}
timesteps: 3
neuron: {model: leaky, beta: 0.9, threshold: 0.5}
layers:
  - {name: conv1, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: pool1, kind: maxpool2d, kernel_size: 2}
  - {name: lif1, kind: spike}
  - {name: flatten, kind: flatten}
  - {name: fc1, kind: linear, out_features: 5}
  - {name: lif2, kind: spike}
"""
WITH_SECTION = TINY + """memristor:
  r_on: 100
  r_off: 2000
  nonidealities:
    device_faults: {lrs_proportion: 0.05, hrs_proportion: 0.05}
    finite_conductance_states: {states: 16}
  layers:
    fc1: {nonidealities: {finite_conductance_states: {states: 4}}}
"""
REALISTIC = {"lrs_proportion": 0.05, "hrs_proportion": 0.05, "states": 16}
SAMPLE_ANN = ["--epochs", "1", "--limit-train", "64", "--limit-test", "0", "--no-plots"]


def _method(spec: str = TINY, target: str = "ann", **options) -> tuple[torch.nn.Module, HWA]:
    torch.manual_seed(0)
    model = snnc.compile(spec, target)
    loaded = snnc.load_spec(spec)
    loss = make_loss("cross_entropy", SCORES) if target == "ann" else make_loss("ce_rate_loss", RECORDING)
    ctx = MethodContext(snnc.build_graph(spec), target != "ann", None if target == "ann" else "rate", loss, 1, 1,
                        spec=loaded.spec)
    cls = METHODS.get("hwa")
    return model, cls(cls.Options(**options), ctx)


def _batch(n: int = 8) -> Batch:
    g = torch.Generator().manual_seed(3)
    return Batch(torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 5, (n,), generator=g))


def _seen(model: torch.nn.Module, names=("conv1", "fc1")) -> tuple[dict, list]:
    """Hooks recording the weight each layer uses in its forward pass."""
    seen: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(n).register_forward_pre_hook(
        lambda m, args, _n=n: seen.__setitem__(_n, m.weight.detach().clone())) for n in names]
    return seen, handles


@pytest.mark.parametrize("target, range_gradient", [("ann", False), ("snn", False), ("ann", True), ("snn", True)])
def test_forward_sees_perturbed_weights_and_stored_weights_change_only_by_the_optimizer(target, range_gradient):
    model, method = _method(target=target, range_gradient=range_gradient, **REALISTIC)
    stored = {k: v.detach().clone() for k, v in model.named_parameters()}
    seen, handles = _seen(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    out = method.step(model, _batch(), StepInfo(1, 1, 0, 1))
    for h in handles:
        h.remove()
    for name in ("conv1", "fc1"):
        assert not torch.equal(seen[name], stored[f"{name}.weight"]), name
        changed = (seen[name] != stored[f"{name}.weight"]).float().mean()
        assert 0.5 < changed <= 1.0  # 16 states move nearly every weight; some devices are stuck
    out.loss.backward()
    opt.step()  # lr 0: nothing moves the stored weights but the optimizer
    assert all(torch.equal(p, stored[k]) for k, p in model.named_parameters())
    assert out.metrics["weight_change"] > 0
    # the gradient is the loss gradient at the perturbed weights (straight-through), applied to the clean ones
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    twin = snnc.compile(TINY, target)
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        twin.conv1.weight.copy_(seen["conv1"])
        twin.fc1.weight.copy_(seen["fc1"])
    method.context.loss_fn(twin(_batch().x), _batch().y).backward()
    for k, p in twin.named_parameters():
        expected = p.grad.clone()
        if range_gradient and k.endswith(".weight"):
            # plus, on the weight that sets max|w|, the gradient of the perturbation's scale:
            # dL/dw_max = sum(dL/dw' * (w' - w) / w_max)
            top = stored[k].abs().argmax()
            extra = (p.grad * (seen[k.split(".")[0]] - stored[k])).sum() / stored[k].abs().max()
            expected.view(-1)[top] += extra * torch.sign(stored[k].view(-1)[top])
            assert float(extra.abs()) > 0, k
        assert torch.allclose(grads[k], expected, rtol=1e-4, atol=1e-6), k
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.step()
    for k, p in model.named_parameters():
        assert torch.allclose(p, stored[k] - 0.1 * grads[k]), k


def test_perturbations_repeat_with_the_seed_and_differ_between_steps():
    model, a = _method(**REALISTIC, programming_noise=0.02, input_noise=0.05)
    _, b = _method(**REALISTIC, programming_noise=0.02, input_noise=0.05)
    _, other = _method(**REALISTIC, programming_noise=0.02, input_noise=0.05, seed=1)
    w = {}
    for key, method, step in (("a0", a, 0), ("b0", b, 0), ("a1", a, 1), ("s0", other, 0)):
        w[key] = method.perturbed(model, method.generator(step, torch.device("cpu")))["fc1.weight"].detach()
    assert torch.equal(w["a0"], w["b0"])
    assert not torch.equal(w["a0"], w["a1"]) and not torch.equal(w["a0"], w["s0"])
    out_a = a.step(model, _batch(), StepInfo(1, 1, 5, 1)).loss
    out_b = b.step(model, _batch(), StepInfo(1, 1, 5, 1)).loss
    assert torch.equal(out_a, out_b)


def test_each_effect_follows_the_crossbar_map():
    torch.manual_seed(0)
    w = torch.randn(64, 300)
    wmax = float(w.abs().max())
    ideal = LayerEffects(50.0, 1000.0, "double_column", None, 0, 0.0, 0.0, 0.0)
    assert torch.allclose(perturb(w, ideal), w, atol=1e-6 * wmax)  # the map alone gives the weights back
    two = perturb(w, LayerEffects(50.0, 1000.0, "double_column", None, 2, 0.0, 0.0, 0.0))
    levels = torch.unique(torch.round(two / wmax * 1e4) / 1e4)
    assert set(levels.tolist()) <= {-1.0, 0.0, 1.0}  # each of G+ and G- at 1/r_off or 1/r_on
    assert torch.allclose(perturb(w, LayerEffects(50.0, 1000.0, "double_column", None, 0, 1.0, 0.0, 0.0)),
                          torch.zeros_like(w), atol=1e-6 * wmax)  # every device at LRS: G+ = G-
    g = torch.Generator().manual_seed(123)  # not the stream that drew w
    hrs = perturb(w, LayerEffects(50.0, 1000.0, "double_column", None, 0, 0.0, 0.3, 0.0), g)
    lost = (hrs == 0) & (w != 0)  # the device holding a weight's sign stuck at HRS: that weight is 0
    assert abs(float(lost.float().mean()) - 0.3) < 0.01
    lrs = perturb(w, LayerEffects(50.0, 1000.0, "double_column", None, 0, 0.1, 0.0, 0.0), g)
    at_max = ((lrs - w).abs() > 1e-4 * wmax).float().mean()  # one of the two devices at 1/r_on
    assert abs(float(at_max) - (1 - 0.9 ** 2)) < 0.01
    noisy = perturb(w, LayerEffects(50.0, 1000.0, "double_column", None, 0, 0.0, 0.0, 0.01), g)
    spread = float((noisy - w).std()) / wmax
    assert 0.005 < spread < 0.02  # two devices, each with 1 % of the range, clamped at 1/r_off
    single = perturb(w, LayerEffects(50.0, 1000.0, "single_column", None, 0, 0.0, 0.0, 0.0))
    assert torch.allclose(single, w.clamp(min=0), atol=1e-6 * wmax)  # MemTorch's single column drops w < 0


def test_settings_come_from_the_memristor_section_and_options_override_them():
    model, method = _method(WITH_SECTION)
    fx = method.layers(model)
    assert fx["conv1.weight"] == LayerEffects(100.0, 2000.0, "double_column", None, 16, 0.05, 0.05, 0.0)
    assert fx["fc1.weight"].states == 4  # the per-layer override
    model, method = _method(WITH_SECTION, lrs_proportion=0.2, states=0, memristor={"r_off": 5000})
    fx = method.layers(model)
    assert (fx["conv1.weight"].lrs, fx["conv1.weight"].states, fx["conv1.weight"].r_off) == (0.2, 0, 5000.0)
    assert fx["fc1.weight"].states == 0


@pytest.mark.parametrize("options, message", [
    ({"statez": 16}, "unknown option 'statez'"),
    ({"states": 1}, "states must be 0 (continuous) or 2..65536"),
    ({"lrs_proportion": 0.7, "hrs_proportion": 0.6}, "must not exceed 1"),
    ({"lrs_proportion": 1.5}, "option 'lrs_proportion'"),
    ({}, "no device effect to inject"),
])
def test_bad_options_are_clear_errors(tmp_path, options, message):
    with pytest.raises(OptionsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train("mnist_conv", target="ann", method="hwa", method_options=options, run_dir=tmp_path / "r", epochs=1,
              limit_train=16, limit_test=0, progress=False, plots=False)


def test_bad_memristor_override_is_a_located_error():
    with pytest.raises(SpecError, match="adc_bits"):
        _method(memristor={"adc_bits": 1}, **REALISTIC)
    model, method = _method(memristor={"layers": {"fc9": {"adc_bits": 6}}}, **REALISTIC)
    with pytest.raises(Exception, match="fc9"):
        method.layers(model)


def test_cli_error_has_no_traceback(tmp_path):
    result = CliRunner().invoke(app, ["train", "mnist_conv", "-t", "ann", "--method", "hwa", "--method-option",
                                      "states=1", "-o", str(tmp_path / "r"), *SAMPLE_ANN])
    assert result.exit_code != 0
    assert "states must be 0 (continuous) or 2..65536" in result.output and "Traceback" not in result.output


FC = """
name: tiny_fc_hwa
input: {shape: [1, 28, 28], range: [0, 1]}
task: {kind: classification, classes: 10}
timesteps: 4
neuron: {model: leaky, beta: 0.9, threshold: 1.0, reset: subtract, surrogate: atan, slope: 2.0}
layers:
  - {kind: flatten}
  - {name: fc1, kind: linear, out_features: 64}
  - {name: lif1, kind: spike}
  - {name: fc2, kind: linear, out_features: 10}
  - {name: lif2, kind: spike}
memristor:
  nonidealities:
    device_faults: {lrs_proportion: 0.05, hrs_proportion: 0.05}
    finite_conductance_states: {states: 16}
"""


@pytest.mark.parametrize("target", ["ann", "snn"])
def test_short_real_run_on_the_mnist_sample(tmp_path, target):
    """``snnc train SPEC --method hwa`` on the bundled sample, device effects from the spec's memristor section:
    it learns, logs the perturbation, and saves clean weights that load and evaluate."""
    spec = tmp_path / "fc.yaml"
    spec.write_text(FC)
    run = tmp_path / target
    result = CliRunner().invoke(app, ["train", str(spec), "-t", target, "--method", "hwa", "--method-option",
                                      "input_noise=0.05", "-o", str(run), "--lr", "5e-3", "--epochs", "2",
                                      "--limit-train", "512", "--limit-test", "128", "--batch-size", "32",
                                      "--no-plots"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    epochs = [e["train"] for e in metrics["epochs"]]
    assert all(0.01 < e["weight_change"] < 2 for e in epochs) and epochs[1]["loss"] < epochs[0]["loss"]
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "hwa" and config["method_options"] == {"input_noise": 0.05}
    assert metrics["test"]["samples"] == 128 and metrics["test"]["accuracy"] > 0.4  # chance is 0.1
    model = snnc.load(run / "best.pt")
    assert sum(p.numel() for p in model.parameters()) == 784 * 64 + 64 + 64 * 10 + 10 + (
        0 if target == "ann" else sum(p.numel() for n, p in model.named_parameters() if "lif" in n))


def test_fine_tuning_starts_from_the_given_checkpoint(tmp_path):
    """``--init`` (the recipe: plain training, then hwa from its weights): the run starts from those weights."""
    spec = tmp_path / "fc.yaml"
    spec.write_text(FC)
    plain = train(spec, target="ann", run_dir=tmp_path / "plain", epochs=1, limit_train=64, limit_test=0,
                  progress=False, plots=False)
    start = snnc.load(plain.run_dir / "best.pt").state_dict()
    tuned = train(spec, target="ann", run_dir=tmp_path / "hwa", epochs=1, limit_train=64, limit_test=0, lr=1e-9,
                  method="hwa", init=str(plain.run_dir / "best.pt"), progress=False, plots=False)
    after = snnc.load(tuned.run_dir / "best.pt").state_dict()
    assert all(torch.allclose(after[k], v, atol=1e-6) for k, v in start.items())
    snn = train(spec, target="snn", run_dir=tmp_path / "snn", epochs=1, limit_train=64, limit_test=0, lr=1e-9,
                method="hwa", init=str(plain.run_dir / "best.pt"), progress=False, plots=False)
    assert torch.allclose(snnc.load(snn.run_dir / "best.pt").fc1.weight, start["fc1.weight"], atol=1e-6)
    with pytest.raises(DataError, match="not an snnc checkpoint"):
        train(spec, target="ann", run_dir=tmp_path / "bad", epochs=1, limit_train=64, limit_test=0,
              init=str(spec), progress=False, plots=False)


def test_the_target_programs_with_the_same_map():
    """The mnn target hands :func:`naive_map` to MemTorch, so training and the target share one map (MemTorch's
    own is compared in tests/compiler/targets/mnn/test_mapping.py)."""
    from snnc.compiler.targets.mnn.build import patch_kwargs
    from snnc.compiler.targets.mnn.options import resolve_options

    memtorch = pytest.importorskip("memtorch", reason="MemTorch is not installed (the 'mnn' extra)")
    assert patch_kwargs(memtorch, resolve_options({}))["mapping_routine"] is naive_map


@pytest.mark.parametrize("scheme, p_l", [("double_column", None), ("single_column", None), ("double_column", 0.9)])
@pytest.mark.parametrize("range_gradient", [False, True])
def test_the_forward_weight_is_what_the_crossbar_holds_for_every_map(scheme, p_l, range_gradient):
    from snnc.runtime.methods.hwa import LayerEffects, forward_weight, perturb

    fx = LayerEffects(50.0, 1000.0, scheme, p_l, 16, 0.05, 0.05, 0.0)
    weight = torch.randn(20, 30, generator=torch.Generator().manual_seed(1)).requires_grad_()
    expected = perturb(weight.detach(), fx, torch.Generator().manual_seed(7))
    got = forward_weight(weight, fx, torch.Generator().manual_seed(7), range_gradient=range_gradient)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    got.sum().backward()
    assert weight.grad is not None and torch.isfinite(weight.grad).all()
