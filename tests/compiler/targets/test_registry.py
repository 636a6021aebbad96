"""The target registry: every entry is a complete Target, options are validated, and the CLI lists them all."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from snnc.cli import app
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.passes.spike_values import ROLES_BY_TARGET
from snnc.compiler.targets.base import OptionsError, Target
from snnc.compiler.targets.registry import TARGETS, get_target

from ...conftest import SPECS

FC = str(SPECS / "mnist_fc.yaml")


@pytest.mark.parametrize("name", TARGETS.names())
def test_every_entry_is_a_complete_target(name):
    target = TARGETS.get(name)
    assert isinstance(target, Target) and target.name == name and target.description
    assert issubclass(target.Options, BaseModel) and target.Options.model_config.get("extra") == "forbid"
    assert target.spike_roles in ROLES_BY_TARGET  # cost reports know what its ops do to spikes
    assert type(target).build is not Target.build  # it can build
    target.options({})  # defaults validate
    assert not (target.needs_trained_ann and target.trainable)


def test_unknown_target_suggests_a_name():
    with pytest.raises(UnsupportedError, match="unknown target 'snnn'. Did you mean 'snn'"):
        get_target("snnn")


def test_unknown_option_gets_did_you_mean_and_the_list():
    with pytest.raises(OptionsError, match=r"target 'snn': unknown option 'timestep' \(did you mean 'timesteps'\?\)"
                                           r".*Its options: timesteps, encoding"):
        get_target("snn").options({"timestep": 5})


def test_bad_option_values_are_named():
    with pytest.raises(OptionsError, match=r"target 'snn': option 'timesteps': Input should be less than or equal "
                                           r"to 100000 \(got 999999999999\)"):
        get_target("snn").options({"timesteps": 999_999_999_999})
    with pytest.raises(OptionsError, match="option 'gamma': Input should be greater than or equal to 1"):
        get_target("burst").options({"gamma": 0})
    with pytest.raises(OptionsError, match="target 'ann': unknown option 'timesteps'.*Its options: none"):
        get_target("ann").options({"timesteps": 5})


def test_cli_validates_target_options():
    runner = CliRunner()
    result = runner.invoke(app, ["compile", FC, "-t", "snn", "--option", "mode=fast", "-q"])
    assert result.exit_code == 1
    assert "option 'mode': Input should be 'fused', 'reference' or 'unrolled'" in result.output
    result = runner.invoke(app, ["compile", FC, "-t", "snn", "-O", "chunk=3", "-O",
                                 "mode=reference", "-T", "6", "-q"])
    assert result.exit_code == 0, result.output
    assert "T = 6" in result.output


def test_snnc_targets_lists_every_target_with_its_options():
    result = CliRunner().invoke(app, ["targets"])
    assert result.exit_code == 0, result.output
    for name in TARGETS.names():
        assert name in result.output
        for option in TARGETS.get(name).Options.model_fields:
            assert option in result.output


def test_a_target_whose_build_predates_consume_still_compiles():
    import snnc
    from snnc.compiler.targets.ann import TARGET as ANN

    class Legacy(type(ANN)):
        def build(self, ann, options, *, calibration=None):  # no 'consume' keyword
            return ann

    module = snnc.compile("mnist_fc", target=Legacy())
    assert module.meta["snnc_graph"].name == "mnist_fc"
