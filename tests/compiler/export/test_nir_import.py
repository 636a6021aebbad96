"""``snnc import`` of NIR graphs with residual edges: snnTorch's converters on nirtorch's tracer, and hand-made
graphs written the way Sinabs and the NIR docs write sums (several edges into a node) import to specs with
``add`` layers whose snn gives the same spikes as the source; the chain import is in test_nir.py."""

from __future__ import annotations

import contextlib
import io

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
import yaml
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import UnsupportedError
from snnc.compiler.export.nir import import_nir, nir_to_spec, run_snnc, run_snntorch

T = 8


def _leaky(shape: tuple, beta: float, **kw) -> snn.Leaky:
    # Per-neuron beta and threshold: NIR 1.0's type inference reads a LIF's shape from them.
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, 0.5), init_hidden=True,
                     reset_mechanism="zero", **kw)


class ResidualSNN(torch.nn.Module):
    """Two residual blocks on 1×28×28 images: an identity shortcut (spikes added to a conv's current) and a
    strided 1×1 projection shortcut, then average pooling and a classifier."""

    def __init__(self):
        super().__init__()
        self.conv1, self.lif1 = torch.nn.Conv2d(1, 4, 3, padding=1), _leaky((4, 28, 28), 0.9)
        self.conv2, self.lif2 = torch.nn.Conv2d(4, 4, 3, padding=1), _leaky((4, 28, 28), 0.8)
        self.conv3, self.lif3 = torch.nn.Conv2d(4, 4, 3, padding=1), _leaky((4, 28, 28), 0.9)
        self.conv4, self.lif4 = torch.nn.Conv2d(4, 8, 3, stride=2, padding=1), _leaky((8, 14, 14), 0.7)
        self.conv5, self.down = torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Conv2d(4, 8, 1, stride=2)
        # (2, 2), not 2: snnTorch writes kernel_size as given and its import_from_nir needs a pair.
        self.lif5, self.pool = _leaky((8, 14, 14), 0.9), torch.nn.AvgPool2d((2, 2))
        self.flat, self.fc = torch.nn.Flatten(), torch.nn.Linear(8 * 7 * 7, 10)
        self.lif6 = _leaky((10,), 0.8, output=True)

    def forward(self, x):
        a = self.lif1(self.conv1(x))
        b = self.lif3(self.conv3(self.lif2(self.conv2(a))) + a)
        c = self.lif5(self.conv5(self.lif4(self.conv4(b))) + self.down(b))
        return self.lif6(self.fc(self.flat(self.pool(c))))


def _snntorch_residual_nir(net: torch.nn.Module, shape: list[int]):
    """The NIR graph of ``net`` by snnTorch's own node converter on nirtorch's graph tracer (``torch_to_nir``,
    the replacement nirtorch's deprecation warning names; snnTorch's ``export_to_nir`` loses ``x + y``)."""
    import nirtorch
    from snntorch.export_nir import _extract_snntorch_module

    types = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.AvgPool2d, torch.nn.Flatten, snn.Leaky)
    graph = nirtorch.torch_to_nir(net, {t: _extract_snntorch_module for t in types},
                                  stateful_modules={snn.Leaky}, type_check=False)
    # snnTorch's Conv2d nodes carry no input shape, so the tracer cannot type its input: give it, then infer.
    (input_key,) = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    graph.nodes[input_key] = nir.Input(input_type=np.array(shape))
    graph.infer_types()
    return graph


def _run_snntorch_net(net: torch.nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, snn.Leaky):
                module.reset_hidden()
        return torch.stack([net(x)[0] for _ in range(steps)])


@pytest.fixture
def residual(tmp_path):
    """``(snnTorch network, NIR file)`` of :class:`ResidualSNN` with weights that make every layer fire."""
    torch.manual_seed(0)
    net = ResidualSNN().eval()
    with torch.no_grad():
        for module in (net.conv1, net.conv2, net.conv4, net.fc):
            module.weight.mul_(3.0)
    path = tmp_path / "resnet_snntorch.nir"
    with contextlib.redirect_stdout(io.StringIO()):
        nir.write(str(path), _snntorch_residual_nir(net, [1, 28, 28]))
    return net, path


def test_snntorch_residual_graph_imports_with_adds_and_gives_identical_spikes(residual, mnist, tmp_path):
    net, path = residual
    graph = nir.read(str(path))
    fan_in = sorted(b for b in {b for _, b in graph.edges} if sum(e[1] == b for e in graph.edges) > 1)
    assert fan_in == ["lif3", "lif5"]  # NIR's residual sums: two edges into the neuron after each add
    spec_path, weights = import_nir(path, tmp_path / "res.yaml", timesteps=T)
    layers = snnc.load_spec(spec_path).spec.layers
    adds = {layer.name: sorted(layer.inputs) for layer in layers if layer.kind == "add"}
    assert adds == {"lif3_add": ["conv3", "lif1"], "lif5_add": ["conv5", "down"]}
    names = [layer.name for layer in layers]
    # main path, then the shortcut, then the add, then its neuron (as specs/resnet18.yaml reads)
    assert names.index("conv5") < names.index("down") < names.index("lif5_add") == names.index("lif5") - 1
    assert [layer.inputs for layer in layers if layer.name == "down"] == [["lif3"]]
    assert names[-1] == "lif6" and sum(layer.kind == "spike" for layer in layers) == 6
    model = snnc.load(weights)
    ours = run_snnc(model, mnist, T)
    source = _run_snntorch_net(net, mnist, T)
    assert source.sum() > 0 and not torch.equal(source, source[:, :1].expand_as(source))
    assert torch.equal(ours, source)
    assert torch.equal(ours, run_snntorch(graph, mnist, T))  # snnTorch's import_from_nir of the same file


def test_the_residual_spec_is_readable_yaml_that_validates_and_summarises(residual, tmp_path):
    runner = CliRunner()
    _, path = residual
    spec = tmp_path / "res.yaml"
    result = runner.invoke(app, ["import", str(path), "-o", str(spec), "-T", str(T)])
    assert result.exit_code == 0, result.output
    text = spec.read_text()
    assert "  - {name: lif3_add, kind: add, inputs: [conv3, lif1]}\n" in text
    assert "  - {name: conv1, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n" in text
    assert "  - {name: pool, kind: avgpool2d, kernel_size: 2}\n" in text
    assert "  - {name: lif2, kind: spike, neuron: {beta: 0.8}}\n" in text  # only what differs from neuron:
    assert yaml.safe_load(text)["neuron"]["beta"] == 0.9 and text.startswith("# Imported from resnet_snntorch")
    assert runner.invoke(app, ["validate", str(spec)]).exit_code == 0
    summary = runner.invoke(app, ["summary", str(spec)])
    assert summary.exit_code == 0 and "lif5_add" in summary.output and "add" in summary.output


def _lif(n: int, beta: float) -> nir.LIF:
    """A NIR LIF as snnTorch writes one (dt = 1e-4, r = tau / dt, so the input gain is 1)."""
    tau = np.full(n, 1e-4 / (1 - beta), dtype=np.float32)
    return nir.LIF(tau=tau, r=tau / 1e-4, v_leak=np.zeros(n, np.float32), v_threshold=np.full(n, 0.5, np.float32),
                   v_reset=np.zeros(n, np.float32))


def _affine(n_in: int, n_out: int, rng, gain: float = 1.0) -> nir.Affine:
    return nir.Affine(weight=(rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)).astype(np.float32),
                      bias=np.zeros(n_out, np.float32))


def test_two_edges_into_a_node_the_sinabs_way_import_as_an_add_layer(mnist, tmp_path):
    rng = np.random.default_rng(0)
    nodes = {"input": nir.Input(input_type=np.array([49])), "fc1": _affine(49, 32, rng, 4.0), "lif1": _lif(32, 0.9),
             "fc2": _affine(32, 32, rng, 3.0), "proj": _affine(49, 32, rng, 3.0), "lif2": _lif(32, 0.8),
             "fc3": _affine(32, 10, rng, 4.0), "lif3": _lif(10, 0.9), "output": nir.Output(output_type=np.array([10]))}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("input", "proj"),
             ("proj", "lif2"), ("lif2", "fc3"), ("fc3", "lif3"), ("lif3", "output")]
    nir.write(str(tmp_path / "hand.nir"), nir.NIRGraph(nodes=nodes, edges=edges))
    spec_path, weights = import_nir(tmp_path / "hand.nir", tmp_path / "hand.yaml", timesteps=T)
    layers = yaml.safe_load(spec_path.read_text())["layers"]
    assert [layer["kind"] for layer in layers] == ["linear", "spike", "linear", "linear", "add", "spike", "linear",
                                                    "spike"]
    assert layers[3] == {"name": "proj", "kind": "linear", "inputs": ["input"], "in_features": 49,
                         "out_features": 32}  # a skip from the network input names it
    assert layers[4] == {"name": "lif2_add", "kind": "add", "inputs": ["fc2", "proj"]}
    x = torch.nn.functional.avg_pool2d(mnist, 4).flatten(1)  # real digits, 7×7
    ours = run_snnc(snnc.load(weights), x, T)
    theirs = run_snntorch(nir.read(str(tmp_path / "hand.nir")), x, T)
    assert theirs.sum() > 0 and torch.equal(ours, theirs)


def _pooled_graph(pool: dict, rng) -> nir.NIRGraph:
    """input → conv → ``pool`` (key → node) → LIF → output, on 1×8×8 maps."""
    conv = nir.Conv2d(input_shape=(8, 8), weight=rng.standard_normal((2, 1, 3, 3)).astype(np.float32), stride=1,
                      padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32))
    nodes = {"input": nir.Input(input_type=np.array([1, 8, 8])), "conv": conv, **pool, "lif": _lif(32, 0.9),
             "output": nir.Output(output_type=np.array([32]))}
    keys = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(keys, keys[1:])), type_check=False)


def _flat() -> nir.Flatten:
    return nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=0, end_dim=-1)


def test_sum_pool_then_scale_reads_as_the_average_pool_it_is():
    two, zero = np.array([2, 2]), np.array([0, 0])
    summed = {"pool": nir.SumPool2d(kernel_size=two, stride=two, padding=zero),
              "scale": nir.Scale(np.full((2, 4, 4), 0.25, np.float32)), "flat": _flat()}
    averaged = {"pool": nir.AvgPool2d(kernel_size=two, stride=two, padding=zero), "flat": _flat()}
    spec_sum, w_sum = nir_to_spec(_pooled_graph(summed, np.random.default_rng(1)))
    spec_avg, w_avg = nir_to_spec(_pooled_graph(averaged, np.random.default_rng(1)))
    assert [layer["kind"] for layer in spec_sum["layers"]] == ["conv2d", "avgpool2d", "flatten", "spike"]
    assert spec_sum == spec_avg and w_sum.keys() == w_avg.keys()
    assert all(torch.equal(w_sum[k], w_avg[k]) for k in w_avg)


def test_sum_pool_read_by_weights_that_take_the_area_imports_exactly():
    """snnc's exporter writes an average pool before a linear layer as SumPool2d with that layer's weights ÷ 4;
    the import is the average pool with the weights × 4 (powers of two: exact)."""
    two, zero, rng = np.array([2, 2]), np.array([0, 0]), np.random.default_rng(2)
    weight = rng.standard_normal((32, 32)).astype(np.float32)

    def graph(pool, w):
        return _pooled_graph({"pool": pool, "flat": _flat(), "fc": nir.Affine(weight=w, bias=np.ones(32, np.float32))},
                             np.random.default_rng(1))

    spec_sum, w_sum = nir_to_spec(graph(nir.SumPool2d(kernel_size=two, stride=two, padding=zero), weight / 4))
    spec_avg, w_avg = nir_to_spec(graph(nir.AvgPool2d(kernel_size=two, stride=two, padding=zero), weight))
    assert spec_sum == spec_avg and torch.equal(w_sum["fc.weight"], torch.from_numpy(weight))
    assert torch.equal(w_sum["fc.bias"], torch.ones(32))  # the bias is not scaled
    nine = nir.SumPool2d(kernel_size=np.array([3, 3]), stride=two, padding=np.array([1, 1]))  # 8×8 → 4×4 too
    with pytest.raises(UnsupportedError, match=r"NIR node 'pool' \(SumPool2d\).*power of two"):
        nir_to_spec(graph(nine, weight))


RESIDUAL_SPEC = {
    "name": "tiny_res", "input": {"shape": [1, 28, 28]}, "timesteps": T,
    "neuron": {"model": "leaky", "beta": 0.9, "threshold": 0.5, "reset": "zero"},
    "layers": [{"name": "conv1", "kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
               {"name": "sn1", "kind": "spike"},
               {"name": "conv2", "kind": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
               {"name": "add", "kind": "add", "inputs": ["conv2", "sn1"]},
               {"name": "sn2", "kind": "spike"},
               {"name": "pool", "kind": "avgpool2d", "kernel_size": 4},
               {"name": "flat", "kind": "flatten"},
               {"name": "fc", "kind": "linear", "out_features": 10},
               {"name": "sn3", "kind": "spike"}]}


def test_snnc_residual_export_reimports_with_identical_spikes(mnist, firing, tmp_path):
    """What snnc's own NIR export writes for an add (edges into the neuron after it) and an average pool
    before a linear layer (SumPool2d, the weights ÷ 16) reads back as the spec's add and avgpool2d."""
    from snnc.compiler.export import export

    model = firing(snnc.compile(RESIDUAL_SPEC, "snn"))
    try:
        export(model, tmp_path / "res.nir", format="nir")
    except UnsupportedError as error:  # the exporter of residual graphs is issue 26's first deliverable
        if "add" not in str(error):
            raise
        pytest.skip(f"this snnc's NIR export does not write adds yet: {error}")
    spec_path, weights = import_nir(tmp_path / "res.nir", tmp_path / "back.yaml", timesteps=T)
    kinds = [layer.kind for layer in snnc.load_spec(spec_path).spec.layers]
    assert kinds == [layer["kind"] for layer in RESIDUAL_SPEC["layers"]]
    ours = run_snnc(model, mnist, T)
    assert ours.sum() > 0 and torch.equal(run_snnc(snnc.load(weights), mnist, T), ours)
