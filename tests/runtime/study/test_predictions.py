"""Segmentation predictions (issue 24, deliverable 4: the seed's UNet figure — image, label, ANN, SNN): the figure
and its IoU titles on hand-made masks, the masks a network predicts, a segmentation study's report drawing one
column per group from each group's trained network, a training run's own predictions.png, and a classification
study that draws none."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnc.compiler.pipeline import load
from snnc.runtime.metrics import predict_masks
from snnc.runtime.plots import is_png, mask_iou, segmentation_figure
from snnc.runtime.study import load_study
from snnc.runtime.study.collect import collect
from snnc.runtime.study.predictions import plot_predictions, segmentation_predictions
from snnc.runtime.study.runner import cell_dir, run_study

from ...conftest import REPO, shared_data_dir
from .test_runner import write_study

ISBI = shared_data_dir() / "isbi2012-em-membranes"


def test_iou_and_the_figure_on_hand_made_masks():
    label = torch.zeros(4, 4, dtype=torch.long)
    label[:2] = 1  # 8 membrane pixels
    half = label.clone()
    half[1] = 0  # 4 of them
    assert mask_iou(label, label) == 1.0
    assert mask_iou(half, label) == pytest.approx(0.5)
    assert mask_iou(torch.zeros_like(label), torch.zeros_like(label)) is None
    images = [torch.rand(1, 4, 4), torch.randn(1, 4, 4) * 3]  # the second is standardised: drawn min-max scaled
    fig = segmentation_figure(images, [label, label], {"ANN": [label, half], "SNN": [half, label]})
    assert len(fig.axes) == 2 * 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["image", "label", "ANN\nIoU 100.0%", "SNN\nIoU 50.0%"]
    assert titles[6:] == ["IoU 50.0%", "IoU 100.0%"]
    drawn = fig.axes[4].get_images()[0].get_array()
    assert float(drawn.min()) == pytest.approx(0.0) and float(drawn.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="SNN: 1 predicted masks for 2 images"):
        segmentation_figure(images, [label, label], {"SNN": [label]})


def test_predicted_masks_are_the_argmax_or_the_sign_of_one_logit():
    logits = torch.tensor([[[[0.2, -1.0]], [[0.1, 2.0]]]])  # 1 image, 2 classes, 1 x 2 pixels
    net = torch.nn.Identity()
    assert predict_masks(net, logits).tolist() == [[[0, 1]]]
    assert predict_masks(net, logits[:, 1:]).tolist() == [[[1, 1]]]


def _unet_study(folder: Path) -> Path:
    path = folder / "unet.yaml"
    path.write_text(
        "study: u\ngrid:\n"
        f"  specs: [{{spec: {REPO / 'specs' / 'unet.yaml'}, params: {{depth: 1, width: 4, size: 32, bn: true}}}}]\n"
        "  targets: [ann, snn]\n  datasets: [{name: isbi2012, options: {crop: 32}}]\n"
        "  recipes: [{epochs: 1, batch_size: 8, lr: 5.0e-3, limit_train: 16, limit_test: 8, val_fraction: 0, "
        "plots: true}]\n"
        "measure: [accuracy, params]\n")
    return path


@pytest.mark.skipif(not ISBI.is_dir(), reason=f"the ISBI 2012 slices are not at {ISBI}")
def test_a_segmentation_study_draws_each_groups_predictions(tmp_path: Path):
    loaded = load_study(_unet_study(tmp_path))
    out = tmp_path / "out"
    assert [o.status for o in run_study(loaded, out, verbose=False)] == ["done", "done"]
    results = collect(out)
    images, labels, masks = segmentation_predictions(results, samples=3)
    assert images.shape == (3, 1, 32, 32) and labels.shape == (3, 32, 32)
    assert list(masks) == ["ann", "snn"]  # the groups differ only by their target
    for cell in loaded.cells:  # each column is its group's best.pt on the same images
        model = load(cell_dir(out, cell) / "best.pt")
        assert torch.equal(masks[cell.target], predict_masks(model, images))
        assert set(masks[cell.target].unique().tolist()) <= {0, 1}
        # the training run draws its own predictions too (plots: true)
        assert is_png(cell_dir(out, cell) / "plots" / "predictions.png")
    assert is_png(plot_predictions(results, tmp_path / "p.png"))


def test_a_classification_study_draws_no_predictions(tmp_path: Path):
    loaded = load_study(write_study(tmp_path))
    out = tmp_path / "out"
    run_study(loaded, out, verbose=False)
    assert plot_predictions(collect(out), tmp_path / "p.png") is None
    assert not (tmp_path / "p.png").exists()
