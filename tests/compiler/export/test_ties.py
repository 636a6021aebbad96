"""Threshold ties: a burst export whose spike counts differ from PyTorch's only where a membrane sits on a
threshold within float rounding passes its check, and says so; any other difference fails it."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import snnc
from snnc.compiler.export import export
from snnc.compiler.export.onnx import TIE_TOLERANCE, prepare, read_metadata
from snnc.compiler.export.ties import TieExplainer

from .conftest import SAMPLE


class ResidualCNN(nn.Module):
    """A user's own CNN (issue 28): conv → F.relu → conv + residual add → F.relu → max pooling → linear."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, channels, 3, padding=1)
        self.c2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.fc = nn.Linear(channels * 14 * 14, 10)

    def forward(self, x):
        h = F.relu(self.c1(x))
        h = F.relu(self.c2(h) + h)
        return self.fc(F.max_pool2d(h, 2).flatten(1))


@pytest.fixture(scope="module")
def calibration() -> torch.Tensor:
    """128 real MNIST test images (the sample shipped with snnc)."""
    return torch.from_numpy(np.load(SAMPLE)["x_test"][:128]).float().div(255).unsqueeze(1)


def _trace(rows: list[list[float]]) -> np.ndarray:
    """``V / theta`` of one sample's layer, ``[T, neurons]``."""
    return np.asarray(rows, dtype=np.float32)


def test_a_tie_is_explained_and_what_follows_from_it_too():
    explainer = TieExplainer(["a", "b"], [5, 5], TIE_TOLERANCE)
    one_below = float(np.nextafter(np.float32(1.0), np.float32(0.0)))
    # Layer a: neuron 0 reaches the threshold at step 1 in one runtime and one float below it in the other; after
    # the reset by subtraction the other fires a step later. Neuron 1 agrees.
    a_ref = _trace([[0.5, 0.2], [one_below, 0.4], [1.2, 0.6]])
    a_got = _trace([[0.5, 0.2], [1.0, 0.4], [0.2, 0.6]])
    # Layer b sees a's different spikes from step 1 on: its difference at step 2 is far from any tie.
    b_ref = _trace([[0.1], [0.3], [0.9]])
    b_got = _trace([[0.1], [0.3], [1.7]])
    explainer.add(0, [a_ref, b_ref], [a_got, b_got])
    assert explainer.explained
    assert (explainer.ties, explainer.downstream, explainer.unexplained) == (1, 1, 0)
    assert explainer.differing == {"a": 2, "b": 1} and explainer.samples == [0]
    assert explainer.largest_tie == pytest.approx(1.0 - one_below)
    assert explainer.first().startswith("step 1, layer 'a', sample 0, neuron (0,): V/θ = 0.99999994")
    assert "count threshold at V/θ = 1" in explainer.first()


def test_a_count_that_differs_a_gap_beyond_rounding_apart_is_unexplained():
    explainer = TieExplainer(["a", "b"], [5, 5], TIE_TOLERANCE)
    a_ref = _trace([[0.5], [0.9], [0.9]])
    a_got = _trace([[0.5], [1.05], [0.1]])  # 0.15 of a threshold apart where the counts first differ
    b_ref = _trace([[0.1], [0.3], [0.9]])
    b_got = _trace([[0.1], [0.3], [1.9]])  # after a's difference: downstream
    explainer.add(3, [a_ref, b_ref], [a_got, b_got])
    assert not explainer.explained
    assert (explainer.ties, explainer.downstream, explainer.unexplained) == (0, 1, 1)
    assert explainer.first_unexplained().startswith("step 1, layer 'a', sample 3, neuron (0,)")
    assert "|Δ| = 0.15" in explainer.first_unexplained()


def test_a_difference_before_any_upstream_one_is_not_downstream():
    explainer = TieExplainer(["a", "b"], [5, 5], TIE_TOLERANCE)
    a = _trace([[0.5], [0.9], [1.5]])
    b_ref = _trace([[0.1], [0.3], [0.9]])
    b_got = _trace([[1.1], [0.3], [0.9]])  # b differs at step 0, a never
    explainer.add(0, [a, b_ref], [a.copy(), b_got])
    assert (explainer.ties, explainer.downstream, explainer.unexplained) == (0, 0, 1)
    assert explainer.first_unexplained().startswith("step 0, layer 'b'")


def _probes(burst: nn.Module, x: torch.Tensor, steps: int) -> tuple[list[str], list[np.ndarray]]:
    probed = prepare(burst, "unrolled", timesteps=steps, example=x, probe=True)
    with torch.no_grad():
        out = probed.module(x)
    return [p[len("probe."):] for p in probed.probes], [t.numpy() for t in out[3:]]


def test_probes_of_real_runs_separate_rounding_from_a_changed_network(calibration):
    torch.manual_seed(0)
    burst = snnc.convert(ResidualCNN(8).eval(), calibration[:64], timesteps=16)
    x = calibration[64:68]
    layers, ref = _probes(burst, x, 16)
    assert layers == ["relu", "relu_1"]
    changed = copy.deepcopy(burst)
    with torch.no_grad():
        changed.network.c1.weight.mul_(1 + 1e-3)  # a thousandth: far more than float rounding
    for other, explained in ((burst, True), (changed, False)):
        _, got = _probes(other, x, 16)
        explainer = TieExplainer(layers, [5, 5], TIE_TOLERANCE)
        for b in range(len(x)):
            explainer.add(b, [r[:, b] for r in ref], [g[:, b] for g in got])
        assert explainer.explained is explained
        if explained:  # the same run: nothing differs
            assert sum(explainer.differing.values()) == 0 and explainer.first() is None
        else:
            assert explainer.unexplained > 0 and "layer 'relu'" in explainer.first_unexplained()


@pytest.mark.parametrize("form", ["unrolled", "step"])
def test_the_issues_cnn_checks_at_T_64_and_reports_its_ties(form, calibration, tmp_path):
    torch.manual_seed(2)  # (with seeds 2 and 3, spike counts differ at ties on the machine this was written on)
    burst = snnc.convert(ResidualCNN(32).eval(), calibration)
    assert burst.timesteps == 64
    path = tmp_path / "m.onnx"
    report = export(burst, path, form=form, check=True)  # raises on any difference that is not a tie
    assert path.exists() and read_metadata(path)["snnc.target"] == "burst"
    assert onnx.load(str(path)).graph.output[0].name in ("scores", "outputs")
    assert report.target == "burst" and report.timesteps == 64 and report.samples == 4
    spikes = 64 * 4 * 32 * 28 * 28  # the last neuron layer's counts, every step
    assert report.spike_mismatch_fraction == pytest.approx(report.spike_mismatches / spikes)
    assert report.max_abs_diff < 1e-4
    if report.spikes_identical:  # (another CPU may round alike: then nothing is left to explain)
        assert report.threshold_ties is None and report.first_divergence is None
        return
    assert report.threshold_ties >= 1 and 1 <= report.tie_samples <= 4
    assert "layer 'relu" in report.first_divergence and "count threshold at V/θ" in report.first_divergence
    assert any("every difference is a threshold tie" in note for note in report.notes)


def _tie_analysis(explained: bool) -> TieExplainer:
    """A real analysis of one sample: a tie in layer a (and, unless ``explained``, a far gap in a layer before it)."""
    one_below = float(np.nextafter(np.float32(1.0), np.float32(0.0)))
    explainer = TieExplainer(["a"], [5], TIE_TOLERANCE)
    ref = _trace([[0.5, 0.2], [one_below, 0.4], [1.2, 0.6]])
    got = _trace([[0.5, 0.2], [1.0, 0.4], [0.2, 0.6]] if explained else [[0.5, 0.2], [1.0, 0.9], [0.2, 1.6]])
    explainer.add(0, [ref], [got])
    return explainer


@pytest.mark.parametrize("explained", [True, False])
def test_the_check_passes_on_ties_only_whatever_this_cpu_rounds(explained):
    """The check's own decision (``_compare``) on a hand-made difference in the output spikes, so both branches run
    on every CPU (the T = 64 export above only meets a tie where this CPU's rounding makes one)."""
    from snnc.compiler.export.onnx_check import ExportCheckError, _Check, _compare

    ctx = _Check("m.onnx", "burst", "unrolled", 2, 3, 1e-4, 1e-5)
    spikes = torch.zeros(3, 2, 4)
    ref = {"spikes": spikes, "scores": torch.tensor([[0.1, 0.9], [0.8, 0.2]])}
    theirs = spikes.numpy().copy()
    theirs[1, 0, 2] = 1.0  # sample 0 fires one spike more at step 1
    got = {"spikes": theirs, "scores": np.array([[0.3, 0.7], [0.8, 0.2]], dtype=np.float32)}
    analysis = _tie_analysis(explained)
    if explained:
        report = _compare(ctx, ref, got, lambda: analysis)
        assert report.spike_mismatches == 1 and report.spikes_identical is False
        assert report.threshold_ties == analysis.ties >= 1 and report.tie_samples == 1
        assert any("every difference is a threshold tie" in note for note in report.notes)
        assert report.max_abs_diff == pytest.approx(0.2)  # sample 0's scores differ: reported, not compared
    else:
        with pytest.raises(ExportCheckError, match="not all by threshold ties"):
            _compare(ctx, ref, got, lambda: analysis)
    with pytest.raises(ExportCheckError, match=r"1 of 24 output spike values .* first at step 1$"):
        _compare(ctx, ref, got, None)  # no explanation (the snn target): any difference fails
