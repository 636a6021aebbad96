"""Smoke runs of the out-of-distribution reproductions (``--quick``, bundled sample): tables, JSON and plots appear.

The quick runs train for two epochs on 2,000 images, so their accuracies mean nothing; the point is the pipeline
(every method of each table on the ann and snn targets, both selection protocols, the reports).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from snnc.runtime.plots import is_png

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_report_b_quick(tmp_path):
    payload = example("ood_report_b").main(["--quick", "--out", str(tmp_path)])
    assert set(payload["table1"]) == {"None", "IRM", "Similarity 1", "Similarity 2", "Similarity 3 (cross-colour)",
                                      "None (ann)", "IRM (ann, paper recipe)"}
    cross = payload["table1"]["Similarity 3 (cross-colour)"][0]
    assert cross["config"]["options"]["pairing"] == "other-colour" and cross["history"][-1]["pairs"] > 0
    assert set(payload["gaps"]) == {"10/20", "5/25", "2.5/27.5", "0/30"}
    run = payload["table1"]["IRM"][0]
    # The ann rows follow the paper onto the IRM code's split (all of MNIST-train's first 5/6, none held out).
    ann = payload["table1"]["IRM (ann, paper recipe)"][0]["data"]
    assert ann["options"]["pool"] == "irm-code" and "pool" not in run["data"]["options"]
    snn = (run["data"]["train"], run["data"]["val"], run["data"]["test"])
    assert (ann["train"], ann["val"], ann["test"]) == (2000 * 5 // 6, 500, 200) != snn
    assert "ann rows `irm-code`" in (tmp_path / "tables.md").read_text()
    assert set(run["selection"]) == {"oracle", "val", "last"} and len(run["history"]) == 2
    assert "penalty" in run["history"][-1] and set(run["history"][-1]["train_acc"]) == {0, 1}
    tables = (tmp_path / "tables.md").read_text()
    assert "Similarity 2" in tables and "oracle" in tables and "gap 0/30" in tables
    assert json.loads((tmp_path / "results.json").read_text())["table1"]
    assert is_png(tmp_path / "curves_table1.png") and is_png(tmp_path / "curves_gaps.png")
    partial = json.loads((tmp_path / "results.partial.json").read_text())  # what an interruption would keep
    assert set(partial["table1"]) == set(payload["table1"]) and set(partial["gaps"]) == set(payload["gaps"])
    merged = example("ood_report_b").main(["--quick", "--out", str(tmp_path / "merged"), "--no-table1", "--no-gaps",
                                           "--merge", str(tmp_path / "results.partial.json")])  # tables from files
    assert set(merged["table1"]) == set(payload["table1"]) and set(merged["gaps"]) == set(payload["gaps"])
    assert (tmp_path / "merged" / "tables.md").read_text().count("| IRM |") == 4  # val, oracle, last; colour


@pytest.mark.slow
def test_report_a_quick(tmp_path):
    payload = example("ood_report_a").main(["--quick", "--out", str(tmp_path)])
    assert set(payload["results"]) == {"Origin", "Balanced", "Balanced (noisy inputs)", "SNN", "DANN1", "DANN2"}
    dann = payload["results"]["DANN2"][0]["history"][-1]
    assert {"alpha", "domain_loss_source", "domain_loss_target", "class_loss"} <= set(dann)
    for name in ("Balanced", "Balanced (noisy inputs)"):  # scored on MemTorch-programmed crossbars every epoch
        record = payload["results"][name][0]["history"][-1]
        assert 0.0 <= record["test_mnn_mean"] <= 1.0 and set(record["test_mnn_acc"]) == set(record["test_acc"])
    assert payload["results"]["Balanced (noisy inputs)"][0]["config"]["input_noise"] == 0.1
    tables = (tmp_path / "tables.md").read_text()
    header = next(line for line in tables.splitlines() if line.startswith("| epoch |"))
    assert header == "| epoch | Origin | Balanced | SNN | MNN | MNN-noise | DANN1 | DANN2 |"
    last = payload["results"]["Origin"][0]["history"][-1]  # the colour checks of the last epoch
    assert 0.0 <= last["test_clean"] <= 1.0 and 0.0 <= last["test_swapped"] <= 1.0
    assert "test_clean" not in payload["results"]["Origin"][0]["history"][0]
    assert "## Shape or colour (last epoch)" in tables
    mnn_row = next(line for line in tables.splitlines() if line.startswith("| MNN |"))
    assert "—" not in mnn_row
    assert is_png(tmp_path / "curves.png")
    partial = json.loads((tmp_path / "results.partial.json").read_text())  # what an interruption would keep
    assert {k: len(v) for k, v in partial["results"].items()} == {k: len(v) for k, v in payload["results"].items()}


def test_selection_protocols_on_a_hand_made_history():
    common = example("ood_common")
    history = [
        {"epoch": 1, "train_mean": 0.85, "val_mean": 0.84, "test_mean": 0.10},
        {"epoch": 2, "train_mean": 0.72, "val_mean": 0.70, "test_mean": 0.65},
        {"epoch": 3, "train_mean": 0.65, "val_mean": 0.66, "test_mean": 0.71},
    ]
    sel = common.select(history)
    assert sel["oracle"]["epoch"] == 2 and sel["oracle"]["qualified"]  # epoch 3 is below 70% train
    assert sel["val"]["epoch"] == 1 and sel["val"]["test"] == 0.10     # the honest pick can be the shortcut
    assert sel["last"]["epoch"] == 3
    assert common.fmt([0.7, 0.8]) == "75.0 ± 5.0" and common.fmt([0.8], 0.75).endswith("⚠")
    assert not common.fmt([0.8]).endswith("⚠")


def test_irm_code_head_is_the_codes_single_logit_mlp():
    import torch
    import torch.nn.functional as F

    import snnc

    common = example("ood_common")
    spec = str(EXAMPLES.parent / "specs" / "irm_mlp.yaml")
    torch.manual_seed(0)
    model = common.irm_code_model(snnc.compile(spec, "ann", params={"output_spike": False, "hidden": 16}))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 16, 1]
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in linears)
    bound = (6 / (392 + 16)) ** 0.5  # Xavier-uniform
    assert float(linears[0].weight.detach().abs().max()) <= bound < 3 * float(linears[0].weight.detach().std())
    x, y = torch.rand(8, 2, 14, 14), torch.randint(0, 2, (8,))
    logits = model(x)
    assert logits.shape == (8, 2) and torch.allclose(logits[:, 0], -logits[:, 1])
    z = logits[:, 1] * 2
    assert torch.allclose(F.cross_entropy(logits, y), F.binary_cross_entropy_with_logits(z, y.float()), atol=1e-6)
    w = torch.tensor(1.7)
    assert torch.allclose(F.cross_entropy(w * logits, y), F.binary_cross_entropy_with_logits(w * z, y.float()),
                          atol=1e-6)
    assert torch.equal(logits.argmax(1), (z > 0).long())


def test_validation_split_is_prepared_as_the_method_prepares_training_data():
    import torch

    common = example("ood_common")
    data = common.load_data("irm-colored-mnist", base="mnist-sample", size=14, seed=0, val_fraction=0.5)
    from snnc.runtime.methods import METHODS

    cls = METHODS.get("balanced")
    method = cls(cls.Options(), None)
    val = common.as_irm_dataset(method.prepare_dataset(data.val), data.val)
    assert len(val) < len(data.val)
    for label in (0, 1):
        colours = val.colors[val.targets == label]
        assert int((colours == 0).sum()) == int((colours == 1).sum()) > 0  # colour says nothing about the label
    erm = METHODS.get("erm")
    assert common.as_irm_dataset(erm(erm.Options(), None).prepare_dataset(data.val), data.val) is data.val
    assert torch.equal(val.select(torch.arange(3)).images, val.images[:3])


def test_irm_code_pool_trains_on_every_image_and_validates_on_the_test_file_in_training_colours():
    common = example("ood_common")
    from snnc.runtime.data import load_dataset

    data = common.load_data("irm-colored-mnist", base="mnist-sample", size=14, seed=0, pool="irm-code",
                            gap="5/25")
    assert len(data.train) == len(load_dataset("irm-colored-mnist", "train", base="mnist-sample", pool="irm-code"))
    grey_test = load_dataset("mnist-sample", "test")
    assert len(data.val) == len(grey_test)
    assert [e.flip for e in data.val.environments] == [e.flip for e in data.train.environments] == [0.05, 0.25]
    assert [e.flip for e in data.test.environments] == [0.9]
    # Test: the tail of the training file (its last sixth), as the IRM code's mnist.data[50000:].
    grey_train = load_dataset("mnist-sample", "train")
    tail = {grey_train[i][0][0][::2, ::2].numpy().tobytes() for i in range(2000 * 5 // 6, 2000)}
    assert len(data.test) == 2000 - 2000 * 5 // 6
    assert {data.test[i][0].sum(0).numpy().tobytes() for i in range(len(data.test))} <= tail
    t10k = {grey_test[i][0][0][::2, ::2].numpy().tobytes() for i in range(len(grey_test))}
    assert {data.val[i][0].sum(0).numpy().tobytes() for i in range(len(data.val))} <= t10k


def test_colour_checks_tell_a_colour_reader_from_a_colour_blind_network():
    import torch
    from torch import nn

    from snnc.runtime.data import load_dataset

    common = example("ood_common")
    test = load_dataset("irm-colored-mnist", "test", base="mnist-sample", size=14)

    class ColourReader(nn.Module):  # class = the lit channel: red 0, green 1
        def forward(self, x):
            return x.sum((2, 3))

    class ColourBlind(nn.Module):  # the same score for a digit in either channel
        def forward(self, x):
            ink = x.sum((1, 2, 3))
            return torch.stack([ink, ink.median().expand_as(ink)], 1)

    x, y, _ = test.tensors()
    colour_acc = float((test.colors == y).float().mean())
    reader = common.colour_checks(ColourReader(), test, None, batch=128)
    assert reader["test_swapped"] == pytest.approx(1 - colour_acc)
    assert reader["test_clean"] == pytest.approx(float((test.colors == (test.digits < 5).long()).float().mean()))
    blind = common.colour_checks(ColourBlind(), test, None, batch=10_000)
    plain = common.accuracy_by_env(ColourBlind(), test, None, batch=10_000)
    assert blind["test_swapped"] == pytest.approx(plain[0])  # swapping colours changes nothing
