"""What ``snnc import`` refuses, each as one error that names the NIR node and why: graphs that snnTorch's
own exporter cuts or makes recurrent, and node types snnc has no layer for."""

from __future__ import annotations

import contextlib
import io

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from typer.testing import CliRunner

from snnc.cli import app
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.export.nir import import_nir, nir_to_spec


class CutResidual(torch.nn.Module):
    """A residual block whose add is ``x + y`` in forward (what every residual network does)."""

    def __init__(self):
        super().__init__()
        leaky = dict(init_hidden=True, reset_mechanism="zero")
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.lif1 = snn.Leaky(beta=torch.full((4, 8, 8), 0.9), threshold=torch.full((4, 8, 8), 0.5), **leaky)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.lif2 = snn.Leaky(beta=torch.full((4, 8, 8), 0.9), threshold=torch.full((4, 8, 8), 0.5), **leaky)
        self.flat, self.fc = torch.nn.Flatten(), torch.nn.Linear(256, 10)
        self.lif3 = snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.full((10,), 0.5), output=True, **leaky)

    def forward(self, x):
        a = self.lif1(self.conv1(x))
        return self.lif3(self.fc(self.flat(self.lif2(self.conv2(a) + a))))


def _export_to_nir(net: torch.nn.Module, sample: torch.Tensor, path) -> None:
    from snntorch.export_nir import export_to_nir

    with contextlib.redirect_stdout(io.StringIO()):
        nir.write(str(path), export_to_nir(net, sample, ignore_dims=[0]))


def test_snntorch_export_to_nir_cuts_a_residual_and_the_error_says_so(tmp_path):
    _export_to_nir(CutResidual(), torch.rand(1, 1, 8, 8), tmp_path / "cut.nir")
    assert ("input_lif2", "lif2") in nir.read(str(tmp_path / "cut.nir"), type_check=False).edges  # the cut
    with pytest.raises(UnsupportedError, match=r"2 input nodes \('input', 'input_lif2'\).*export_to_nir.*"
                                               r"x \+ y.*nirtorch.torch_to_nir"):
        import_nir(tmp_path / "cut.nir", tmp_path / "cut.yaml")
    assert not (tmp_path / "cut.yaml").exists()
    result = CliRunner().invoke(app, ["import", str(tmp_path / "cut.nir"), "-o", str(tmp_path / "cut.yaml")])
    assert result.exit_code == 1 and "input_lif2" in result.output and "Traceback" not in result.output


def test_snntorch_recurrent_layer_is_refused_as_a_cycle(tmp_path):
    beta = torch.full((8,), 0.9)
    net = torch.nn.Sequential(torch.nn.Linear(16, 8), snn.RLeaky(beta=beta, V=torch.ones(8), all_to_all=False,
                                                                 init_hidden=True, output=True))
    _export_to_nir(net, torch.rand(1, 16), tmp_path / "rec.nir")
    with pytest.raises(UnsupportedError, match=r"a cycle 1\.lif → 1\.w_rec → 1\.lif \(a recurrent connection"):
        import_nir(tmp_path / "rec.nir", tmp_path / "rec.yaml")


def _chain(*middle: tuple[str, object], n: int = 4, extra_edges=()) -> nir.NIRGraph:
    keys = ["input", *[k for k, _ in middle], "output"]
    nodes = {"input": nir.Input(input_type=np.array([n])), **dict(middle),
             "output": nir.Output(output_type=np.array([n]))}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(keys, keys[1:])) + list(extra_edges), type_check=False)


def _affine(n: int = 4) -> nir.Affine:
    return nir.Affine(weight=np.eye(n, dtype=np.float32), bias=np.zeros(n, np.float32))


def _lif(n: int = 4) -> nir.LIF:
    tau = np.full(n, 1e-3, np.float32)
    return nir.LIF(tau=tau, r=tau / 1e-4, v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32),
                   v_reset=np.zeros(n, np.float32))


SUM_POOL = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))

REFUSED = {
    "delay": (_chain(("fc", _affine()), ("delay", nir.Delay(np.ones(4, np.float32))), ("lif", _lif())),
              r"NIR node 'delay' \(Delay\) has no snnc counterpart: snnc layers have no synaptic delays"),
    "scale": (_chain(("fc", _affine()), ("gain", nir.Scale(np.full(4, 2.0, np.float32))), ("lif", _lif())),
              r"NIR node 'gain' \(Scale\) has no snnc counterpart: snnc has no layer that multiplies by a "
              r"constant"),
    "li": (_chain(("fc", _affine()), ("li", nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4)))),
           r"NIR node 'li' \(LI\) has no snnc counterpart: a non-spiking leaky integrator"),
    "sum_pool_scaled_wrong": (
        nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([1, 4, 4])), "pool": SUM_POOL,
                            "half": nir.Scale(np.full((1, 2, 2), 0.5, np.float32)),
                            "output": nir.Output(output_type=np.array([1, 2, 2]))},
                     edges=[("input", "pool"), ("pool", "half"), ("half", "output")], type_check=False),
        r"NIR node 'pool' \(SumPool2d\) has no snnc counterpart: snnc pools by averaging"),
    "dangling": (_chain(("fc", _affine()), ("lif", _lif()), extra_edges=[("fc", "probe")]),
                 r"NIR node 'probe' does not lead to the output node 'output'"),
    "two_outputs": (_chain(("fc", _affine()), extra_edges=[("fc", "out2")]),
                    r"2 output nodes \('output', 'out2'\); snnc imports graphs with one"),
    "empty": (_chain(), r"connects its input 'input' straight to its output"),
    "nested": (_chain(("sub", nir.NIRGraph.from_list(_affine(), _lif()))),
               r"NIR node 'sub' is a nested graph"),
}
REFUSED["dangling"][0].nodes["probe"] = _lif()
REFUSED["two_outputs"][0].nodes["out2"] = nir.Output(output_type=np.array([4]))


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_what_snnc_cannot_express_is_one_error_naming_the_node(case):
    graph, message = REFUSED[case]
    with pytest.raises(UnsupportedError, match=message):
        nir_to_spec(graph)
