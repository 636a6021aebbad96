"""PNG plots: curves, spike raster and firing rates are valid PNG files, written without pyplot."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from snnc.runtime.plots import PNG_MAGIC, is_png, plot_curves, plot_firing_rates, plot_spike_raster


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
