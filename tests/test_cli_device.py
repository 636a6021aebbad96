"""``--device cpu|cuda|auto`` for ``snnc eval``, ``snnc convert`` and ``snnc compile`` (burst calibration), resolved
as ``snnc train`` does it (``snnc.runtime.device.resolve_device``). The CPU paths run everywhere; the CUDA paths
run only where torch sees a GPU (skipped with the reason elsewhere)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import SnncError
from snnc.runtime.device import resolve_device
from snnc.runtime.evaluate import evaluate

from .conftest import SPECS, TINY_CNN

runner = CliRunner()
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (torch.cuda.is_available() is False on "
                                "this machine)")
without_cuda = pytest.mark.skipif(HAS_CUDA, reason="a CUDA GPU is visible here: the missing-GPU message cannot "
                                  "be shown")

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(tiny CNN spec, its ann artifact, an snn artifact of mnist_fc), seeded weights."""
    folder = tmp_path_factory.mktemp("device")
    spec = folder / "tiny_cnn.yaml"
    spec.write_text(TINY_CNN)
    torch.manual_seed(0)
    ann = snnc.save(snnc.compile(spec, "ann"), folder / "ann.pt")
    torch.manual_seed(0)
    snn = snnc.save(snnc.compile(SPECS / "mnist_fc.yaml", "snn"), folder / "snn.pt")
    return spec, ann, snn


def _eval(checkpoint, *extra: str) -> dict:
    result = runner.invoke(app, ["eval", "--checkpoint", str(checkpoint), "--limit", "32", "--json", *extra])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    data.pop("seconds")
    return data


def _convert(spec, checkpoint, out, *extra: str) -> dict:
    result = runner.invoke(app, ["convert", str(spec), "--checkpoint", str(checkpoint), "--limit", "32",
                                 "--batch-size", "16", "--calibration-batches", "2", "-T", "4,8", "-g", "1,3",
                                 "--json", "--output", str(out), *extra])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("wall_seconds", "ann_seconds", "seconds"):
        data.pop(key)
    return data


def _compile_burst(spec, checkpoint, out, *extra: str):
    result = runner.invoke(app, ["compile", str(spec), "-t", "burst", "-q", "--checkpoint", str(checkpoint),
                                 "--calibration", "mnist-sample:32", "-T", "4", "--gamma", "3", "-o", str(out),
                                 *extra])
    assert result.exit_code == 0, result.output
    return snnc.load(out)


def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")  # the default, as for snnc train
    assert resolve_device("auto") == torch.device("cuda" if HAS_CUDA else "cpu")
    with pytest.raises(SnncError, match=r"--device must be one of cpu, cuda, auto \(or cuda:N\), got 'gpu'"):
        resolve_device("gpu")


@without_cuda
def test_cuda_without_a_gpu_is_one_clear_message(files, tmp_path):
    with pytest.raises(SnncError, match="no CUDA device is visible to torch"):
        resolve_device("cuda")
    spec, ann, snn = files
    commands = [["eval", "--checkpoint", str(snn), "--limit", "8"],
                ["convert", str(spec), "--checkpoint", str(ann), "--limit", "8", "-o", str(tmp_path)],
                ["compile", str(spec), "-t", "burst", "--checkpoint", str(ann), "--calibration", "mnist-sample:8"],
                ["train", str(spec), "-t", "ann", "--limit-train", "8", "--run-dir", str(tmp_path / "run")]]
    for args in commands:
        result = runner.invoke(app, [*args, "--device", "cuda"])
        assert result.exit_code == 1, args
        assert "--device cuda: no CUDA device is visible to torch (use --device cpu or auto)" in result.output, args
        assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "results.json").exists()  # refused before any work


def test_eval_on_cpu_and_auto(files):
    _, _, snn = files
    default = _eval(snn)
    assert default["samples"] == 32 and default["firing_rates"]
    assert _eval(snn, "--device", "cpu") == default
    auto = _eval(snn, "--device", "auto")
    if not HAS_CUDA:
        assert auto == default


def test_convert_on_cpu_and_auto(files, tmp_path):
    spec, ann, _ = files
    default = _convert(spec, ann, tmp_path / "default")
    assert default["device"] == "cpu" and len(default["rows"]) == 4
    assert _convert(spec, ann, tmp_path / "cpu", "--device", "cpu") == default
    auto = _convert(spec, ann, tmp_path / "auto", "--device", "auto")
    assert auto["device"] == ("cuda" if HAS_CUDA else "cpu")
    if not HAS_CUDA:
        assert auto == default


def test_compile_burst_calibrates_on_cpu_and_auto(files, tmp_path):
    spec, ann, _ = files
    default = _compile_burst(spec, ann, tmp_path / "default.pt").thresholds()
    for device in ("cpu", "auto"):
        got = _compile_burst(spec, ann, tmp_path / f"{device}.pt", "--device", device).thresholds()
        assert got.keys() == default.keys()
        for name, theta in got.items():
            if device == "cpu" or not HAS_CUDA:
                assert torch.equal(theta, default[name]), (device, name)
            else:
                assert torch.allclose(theta, default[name], rtol=1e-4), (device, name)


def test_evaluate_leaves_a_callers_module_where_it_was(files):
    _, _, snn = files
    model = snnc.load(snn)
    before = evaluate(model, limit=16)
    again = evaluate(model, limit=16, device="auto")
    assert next(model.parameters()).device.type == "cpu"
    assert again.samples == before.samples == 16
    if not HAS_CUDA:
        assert again.accuracy == before.accuracy and again.firing_rates == before.firing_rates


@needs_cuda
def test_eval_convert_and_compile_on_cuda_match_the_cpu(files, tmp_path):
    spec, ann, snn = files
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    on_cpu, on_gpu = _eval(snn), _eval(snn, "--device", "cuda")
    assert on_gpu["samples"] == on_cpu["samples"]
    assert abs(on_gpu["accuracy"] - on_cpu["accuracy"]) <= 1 / 32 + 1e-9  # a sample may flip within rounding
    for name, rate in on_cpu["firing_rates"].items():
        assert on_gpu["firing_rates"][name] == pytest.approx(rate, abs=1e-3), name
    swept_cpu = _convert(spec, ann, tmp_path / "cpu")
    swept_gpu = _convert(spec, ann, tmp_path / "cuda", "--device", "cuda")
    assert swept_gpu["device"].startswith("cuda") and swept_gpu["samples"] == swept_cpu["samples"]
    assert swept_gpu["ann"]["accuracy"] == pytest.approx(swept_cpu["ann"]["accuracy"], abs=1 / 32 + 1e-9)
    for a, b in zip(swept_cpu["rows"], swept_gpu["rows"]):
        assert (a["gamma"], a["timesteps"]) == (b["gamma"], b["timesteps"])
        assert b["accuracy"] == pytest.approx(a["accuracy"], abs=2 / 32 + 1e-9)
        assert b["spikes_per_sample"] == pytest.approx(a["spikes_per_sample"], rel=0.02)
    cpu_burst = _compile_burst(spec, ann, tmp_path / "cpu.pt")
    gpu_burst = _compile_burst(spec, ann, tmp_path / "cuda.pt", "--device", "cuda")  # saved, loaded on the CPU
    for name, theta in cpu_burst.thresholds().items():
        assert torch.allclose(gpu_burst.thresholds()[name], theta, rtol=1e-4), name
