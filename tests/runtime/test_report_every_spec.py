"""``snnc report`` answers for every bundled spec on every target it supports (static costs, no data)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from snnc.cli import app
from snnc.compiler.ir.costs import graph_costs
from snnc.runtime.cost import report

import snnc

from ..conftest import SPECS

BUNDLED = sorted(SPECS.glob("*.yaml"))


@pytest.mark.parametrize("target", ["ann", "snn", "burst"])
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_report_for_every_spec_and_target(path, target):
    rep = report(path, target=target).to_dict()
    costs = graph_costs(snnc.build_graph(path)).values()
    assert rep["totals"]["params"] == sum(c.params for c in costs)
    assert rep["totals"]["macs"] == sum(c.macs for c in costs)
    assert rep["totals"]["ann_energy_uj"] == pytest.approx(sum(c.macs for c in costs) * 4.6e-6)


def test_report_cli_on_the_main_job_spec():
    result = CliRunner().invoke(app, ["report", str(SPECS / "ghostnet_dfc.yaml"), "--target", "snn", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["totals"]["params"] == 4_888_718
