"""The README's main job runs end to end from the repository root and leaves its plots and results."""

from __future__ import annotations

import json
import os
import subprocess

from .conftest import REPO


def test_main_job_runs_and_writes_its_outputs(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "SNNC_OUT": str(tmp_path)}  # piped: 80
    out = subprocess.run(["bash", str(REPO / "examples" / "main_job.sh")], capture_output=True, text=True,
                         timeout=900, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for step in range(1, 9):
        assert f"== {step}. " in out.stdout
    assert "compiled ghostnet_dfc to snn" in out.stdout
    assert "SNN energy:" in out.stdout and "ANN energy of the same network" in out.stdout
    report = out.stdout.split("== 5. ")[1].split("== 6. ")[0]
    assert "…" not in report and "left out:" in report  # the report fits 80 columns without cutting a number
    for plot in ("curves.png", "spike_raster.png", "firing_rates.png"):
        assert (tmp_path / "mnist_fc" / "plots" / plot).stat().st_size > 1000, plot
    assert (tmp_path / "ghostnet_dfc_snn.pt").is_file()
    sweep = json.loads((tmp_path / "burst" / "results.json").read_text())
    assert sweep["gammas"] == [1, 3] and sweep["timesteps"] == [4, 8, 16, 32]
    assert 0.5 < sweep["ann"]["accuracy"] <= 1.0  # 5 epochs on the bundled sample: far above chance
    assert (tmp_path / "mnist_conv_mnn.pt").is_file() and "mnn" in out.stdout.split("== 7. ")[1]
    assert (tmp_path / "mnist_fc_snn.onnx").is_file() and "spikes identical" in out.stdout.split("== 8. ")[1]
