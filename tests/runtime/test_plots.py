"""PNG plots: curves, loss per iteration, method metrics, spike raster and firing rates are valid PNG files, written
without pyplot, and draw the logged numbers."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from snnc.runtime.plots import (PNG_MAGIC, environment_samples_figure, image_rgb, is_png,
                                loss_per_iteration_figure, method_metric_names, method_metrics_figure, plot_curves,
                                plot_environment_samples, plot_firing_rates, plot_loss_per_iteration,
                                plot_method_metrics, plot_spike_raster)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_curves_png(tmp_path):
    epochs = [{"epoch": e, "train": {"loss": 2.0 / e, "accuracy": 0.3 * e}, "val": {"loss": None, "accuracy": 0.5}}
              for e in (1, 2, 3)]
    path = plot_curves(epochs, tmp_path / "plots" / "curves.png", "tiny")
    width, height = _png_size(path)
    assert width > 400 and height > 200


def test_loss_per_iteration_draws_every_logged_batch_loss(tmp_path):
    """The snnTorch tutorial's figure: one point per batch, numbered over the run; a batch not logged (None, from a
    checkpoint older than the per-batch log) is left out but keeps its iteration number."""
    epochs = [{"epoch": 1, "batch_losses": [2.3, 2.0, 1.8]}, {"epoch": 2, "batch_losses": [None, 1.5, 1.2]}]
    fig = loss_per_iteration_figure(epochs)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [1, 2, 3, 5, 6]
    assert list(line.get_ydata()) == pytest.approx([2.3, 2.0, 1.8, 1.5, 1.2])
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "loss"
    width, height = _png_size(plot_loss_per_iteration(epochs, tmp_path / "loss_per_iteration.png", "tiny"))
    assert width > 400 and height > 200


def test_method_metrics_get_a_panel_each_and_environments_one(tmp_path):
    """DANN's and spike similarity's terms are plotted per epoch: every numeric training metric beyond loss and
    accuracy gets a panel, and the per-environment accuracy (train and validation, %) one more."""
    epochs = [{"epoch": e, "train": {"loss": 1.0 / e, "accuracy": 0.5, "domain_loss_source": 0.7 - 0.1 * e,
                                     "alpha": 0.2 * e, "env": {"0": {"accuracy": 0.6 + 0.1 * e, "samples": 10},
                                                               "1": {"accuracy": 0.3, "samples": 5}}},
               "val": {"loss": 1.0, "accuracy": 0.5, "env": {"0": {"accuracy": 0.5, "samples": 4}}}}
              for e in (1, 2)]
    assert method_metric_names(epochs) == ["domain_loss_source", "alpha"]
    fig = method_metrics_figure(epochs)
    dom, alpha, env = [ax for ax in fig.axes if ax.get_visible()]
    assert dom.get_title() == "domain_loss_source" and alpha.get_title() == "alpha"
    (line,) = dom.get_lines()
    assert list(line.get_xdata()) == [1, 2] and list(line.get_ydata()) == pytest.approx([0.6, 0.5])
    assert list(alpha.get_lines()[0].get_ydata()) == pytest.approx([0.2, 0.4])
    lines = {ln.get_label(): list(ln.get_ydata()) for ln in env.get_lines()}
    assert lines == {"train env 0": pytest.approx([70.0, 80.0]), "train env 1": pytest.approx([30.0, 30.0]),
                     "val env 0": pytest.approx([50.0, 50.0])}
    assert is_png(plot_method_metrics(epochs, tmp_path / "method_metrics.png"))
    plain = [{"epoch": 1, "train": {"loss": 1.0, "accuracy": 0.5}}]
    with pytest.raises(ValueError, match="no method metrics or environments to plot"):
        method_metrics_figure(plain)


def test_colored_mnist_samples_are_drawn_per_environment(tmp_path):
    """A row per environment of the bundled sample's Colored MNIST: each cell is that environment's next image, in
    its own colour (red: channel 0, green: channel 1, blue empty), titled with its label and digit."""
    import numpy as np

    from snnc.runtime.data import load_dataset

    data = load_dataset("irm-colored-mnist", "train", base="mnist-sample")
    fig = environment_samples_figure(data, per_env=4)
    assert len(fig.axes) == 2 * 4
    for row, env in enumerate((0, 1)):
        indices = (data.envs == env).nonzero().flatten()[:4].tolist()
        assert fig.axes[row * 4].get_ylabel() == f"env {env}\nflip {(0.1, 0.2)[env]:g}"
        for col, index in enumerate(indices):
            ax = fig.axes[row * 4 + col]
            x, y, e = data[index]
            assert e == env and ax.get_title() == f"y={y} d={int(data.digits[index])}"
            drawn = np.asarray(ax.get_images()[0].get_array())
            assert drawn.shape == (28, 28, 3) and np.array_equal(drawn, image_rgb(x))
            colour = int(data.colors[index])
            assert drawn[..., colour].max() > 0.5 and drawn[..., 1 - colour].max() == 0 and drawn[..., 2].max() == 0
    width, height = _png_size(plot_environment_samples(data, tmp_path / "envs.png", per_env=4, title="train"))
    assert width > 300 and height > 200
    test = load_dataset("irm-colored-mnist", "test", base="mnist-sample")
    assert environment_samples_figure(test, per_env=3).axes[0].get_ylabel() == "env 0\nflip 0.9"
    grey = load_dataset("grey-colored-mnist", "train", base="mnist-sample", channels="rgb", grey="half")
    assert [ax.get_ylabel() for ax in environment_samples_figure(grey, per_env=2).axes[::2]] == \
        ["env 0\ngrey", "env 1\nflip 0.9"]
    with pytest.raises(ValueError, match="no environment"):
        environment_samples_figure([(torch.zeros(1, 2, 2), 0)])


def test_raster_and_rates_png(tmp_path):
    gen = torch.Generator().manual_seed(0)
    trains = {"lif1": (torch.rand(25, 3000, generator=gen) > 0.9).float(), "lif2": torch.zeros(25, 10)}
    assert is_png(plot_spike_raster(trains, tmp_path / "raster.png", "sample 0"))
    assert is_png(plot_firing_rates({"lif1": 0.1, "lif2": 0.0}, tmp_path / "rates.png"))
    assert not is_png(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="no spike trains to plot"):
        plot_spike_raster({}, tmp_path / "empty.png")


def test_plots_do_not_import_pyplot(tmp_path):
    code = ("import sys; from snnc.runtime.plots import plot_firing_rates; "
            f"plot_firing_rates({{'a': 0.5}}, {str(tmp_path / 'r.png')!r}); "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False" and is_png(tmp_path / "r.png")
