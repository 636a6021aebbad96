"""pipeline.build, the one resolver from a spec, a target and a checkpoint: each branch of its rule, and the
callers that must give the same module (export's build_model, the cost report, the trainer's --init)."""

from __future__ import annotations

import pytest
import torch

import snnc
from snnc.compiler import pipeline
from snnc.compiler.calibration import Calibration
from snnc.compiler.errors import DataError, UnsupportedError

SPEC = "mnist_fc"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An ann artifact, an snn artifact (T = 5) and a plain ann state dict of the spec."""
    root = tmp_path_factory.mktemp("build")
    torch.manual_seed(0)
    ann = snnc.compile(SPEC)
    torch.manual_seed(1)
    snn = snnc.compile(SPEC, "snn", options={"timesteps": 5})
    torch.save(ann.state_dict(), root / "plain.pt")
    return {"ann": snnc.save(ann, root / "ann.pt"), "snn": snnc.save(snn, root / "snn.pt"),
            "plain": root / "plain.pt", "ann_state": ann.state_dict(), "snn_state": snn.state_dict()}


def _same_weights(module, state) -> bool:
    own = module.state_dict()
    return all(torch.equal(own[k], v) for k, v in state.items())


def test_a_checkpoint_of_the_target_is_loaded_as_it_is_with_options_over_it(files):
    module = pipeline.build(None, "snn", files["snn"])
    assert module.timesteps == 5 and not module.training and _same_weights(module, files["snn_state"])
    assert pipeline.build(SPEC, "snn", files["snn"], {"timesteps": 3}).timesteps == 3


def test_ann_weights_start_an_snn_whose_neurons_keep_the_spec(files):
    for checkpoint in (files["ann"], files["plain"], files["ann_state"]):
        module = pipeline.build(SPEC, "snn", checkpoint, {"timesteps": 4})
        assert module.timesteps == 4 and not module.training
        assert _same_weights(module, files["ann_state"])
        fresh = snnc.compile(SPEC, "snn")
        neuron = [k for k in fresh.state_dict() if ".neuron." in k]
        assert neuron and all(torch.equal(module.state_dict()[k], fresh.state_dict()[k]) for k in neuron)
    assert pipeline.provenance(module).target == "snn"


def test_an_snn_checkpoint_does_not_give_ann_weights(files):
    with pytest.raises(UnsupportedError, match="holds a model compiled for the 'snn' target; an ANN's trained "
                                               "weights are needed"):
        pipeline.build(SPEC, "ann", files["snn"])
    with pytest.raises(UnsupportedError, match="'snn' target"):
        pipeline.build(SPEC, "burst", files["snn"], calibration=torch.rand(4, 1, 28, 28))


def test_a_checkpoint_of_another_spec_is_named(files):
    with pytest.raises(DataError, match="was made from spec 'mnist_fc', but the model is built from spec "
                                        "'mnist_conv'"):
        pipeline.build("mnist_conv", "snn", files["snn"])


def test_burst_converts_the_ann_and_records_its_calibration(files):
    calibration = Calibration([torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))], "rand:8")
    module = pipeline.build(SPEC, "burst", files["ann"], {"timesteps": 6, "gamma": 2}, calibration=calibration)
    assert module.timesteps == 6 and module.config["gamma"] == 2 and module.config["calibration"] == "rand:8"
    assert not module.training
    # the same weights through compile's checkpoint= (the spec-first front of build)
    again = snnc.compile(SPEC, "burst", options={"timesteps": 6, "gamma": 2}, checkpoint=files["ann"],
                         calibration=calibration)
    assert all(torch.equal(a, b) for a, b in zip(module.state_dict().values(), again.state_dict().values()))


def test_without_a_checkpoint_the_spec_gets_fresh_weights():
    torch.manual_seed(3)
    built = pipeline.build(SPEC, "snn")
    torch.manual_seed(3)
    compiled = snnc.compile(SPEC, "snn")
    assert _same_weights(built, compiled.state_dict()) and built.training
    with pytest.raises(UnsupportedError, match="converts a trained ANN: pass checkpoint="):
        snnc.compile(SPEC, "burst", calibration=torch.rand(2, 1, 28, 28))


def test_build_needs_a_spec_or_an_artifact(files):
    with pytest.raises(UnsupportedError, match="built from a spec"):
        pipeline.build(None, "snn", files["plain"])


def test_export_and_report_build_the_same_module(files):
    from snnc.commands.export import build_model
    from snnc.runtime.cost import report

    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    module, trained = build_model(SPEC, "snn", files["ann"], timesteps=4)
    assert trained and _same_weights(module, files["ann_state"]) and module.timesteps == 4
    with torch.no_grad():
        ours = module.scores(x)
        theirs = pipeline.build(SPEC, "snn", files["ann"], {"timesteps": 4}).scores(x)
    assert torch.equal(ours, theirs)
    rep = report(SPEC, target="snn", checkpoint=files["ann"], data=x, timesteps=4)
    assert rep.weights == "trained" and rep.timesteps == 4 and rep.samples == 4


def test_the_spiking_contract_runs_another_t_without_changing_the_module(files):
    module = pipeline.build(None, "snn", files["snn"])
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        spk, _ = module(x, 3)
        assert spk.shape[0] == 3 and module.timesteps == 5
        module.timesteps = 3
        assert torch.equal(module.scores(x), module.decode(spk, _))
    with pytest.raises(UnsupportedError, match="positive integer"):
        module(x, 0)


def test_ann_structure_walks_the_graph_without_weights(files):
    module = pipeline.build(None, "snn", files["snn"])
    before = torch.get_rng_state()
    structure = pipeline.ann_structure(module)
    assert torch.equal(before, torch.get_rng_state())
    assert {p.device.type for p in structure.parameters()} == {"meta"}
    assert [n for n, _ in structure.named_children()] == [n for n, _ in snnc.compile(SPEC).named_children()]


def test_build_source_is_the_network_build_starts_from(files):
    """The mnn sweep builds the target many times from one source: build_source gives it by build's rule."""
    from snnc.compiler.targets.base import is_spiking

    snn = pipeline.build_source(SPEC, "mnn", files["snn"])
    assert is_spiking(snn) and snn.timesteps == 5 and _same_weights(snn, files["snn_state"])
    for checkpoint in (files["ann"], files["plain"]):
        ann = pipeline.build_source(SPEC, "mnn", checkpoint)
        assert not is_spiking(ann) and not ann.training and _same_weights(ann, files["ann_state"])
    with pytest.raises(UnsupportedError, match="an ANN's trained weights are needed"):
        pipeline.build_source(SPEC, "burst", files["snn"])
