"""The model zoo: every bundled spec validates, compiles (ann and snn) and runs; counts and outputs equal the
references — torchvision's ResNets, and hand-written PyTorch from the papers' official code (tests/zoo_references.py).

Why small inputs: parameter counts do not depend on the input size (only MACs do), so counts are checked at the
published sizes from the IR alone and forward passes run at small sizes and widths, one thread (2 shared cores).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
import sys

import pytest
import torch
import torch.nn.functional as F
import torchvision
from typer.testing import CliRunner

import snnc
from snnc.cli import app
from snnc.compiler.errors import DataError
from snnc.compiler.ir.costs import graph_costs
from snnc.runtime.data.fit import check_fits, load_for
from snnc.zoo import ZooModel, list_models, spec_path

from . import zoo_references as ref
from .conftest import SPECS

BUNDLED = sorted(p.stem for p in SPECS.glob("*.yaml"))

SMALL: dict[str, dict] = {
    "resnet18": {"size": 32, "width": 8}, "resnet50": {"size": 32, "width": 8},
    "resnet101": {"size": 32, "width": 8},
    "sew_resnet34": {"stem": "cifar", "size": 32, "classes": 10, "width": 8},
    "ms_resnet34": {"stem": "cifar", "size": 32, "classes": 10, "width": 8},
    "vgg16": {"widths": [8, 16, 32, 64, 64]}, "ghostnet": {"size": 32}, "ghostnet_dfc": {"size": 64},
    "ghost_metaformer": {"widths": [8, 16, 32, 64]}, "unet": {"size": 32, "width": 8},
}
"""Parameters that make each spec quick to run (specs not listed run at their defaults)."""


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch on one thread: on shared cores, intra-op threads mostly wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _costs(spec: str, params: dict | None = None) -> tuple[int, int]:
    costs = graph_costs(snnc.build_graph(SPECS / f"{spec}.yaml", params)).values()
    return sum(c.params for c in costs), sum(c.macs for c in costs)


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------ listing and CLI


def test_list_models_covers_every_bundled_spec_without_torch():
    models = list_models()
    assert [m.file for m in models] == [f"{s}.yaml" for s in BUNDLED]
    assert all(isinstance(m, ZooModel) and m.description and m.params > 0 and m.macs > 0 for m in models)
    by_name = {m.name: m for m in models}
    assert by_name["resnet18"].input_shape == (3, 224, 224) and by_name["resnet18"].params == 11_689_512
    assert by_name["unet"].input_shape == (1, 128, 128)
    code = "import sys, snnc.zoo; snnc.zoo.list_models(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_spec_path():
    assert spec_path("vgg16") == spec_path("vgg16.yaml")
    assert spec_path("vgg16").resolve() == (SPECS / "vgg16.yaml").resolve()  # a worktree links snnc/specs
    with pytest.raises(snnc.SnncError, match="no bundled spec 'vgg61'. Did you mean 'vgg16'"):
        spec_path("vgg61")


def test_zoo_command():
    result = CliRunner().invoke(app, ["zoo"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "44,549,160" in result.output and "7.80 G" in result.output and "3×224×224" in result.output
    assert f"{len(BUNDLED)} specs in" in result.output
    result = CliRunner().invoke(app, ["zoo", "unet"])
    assert result.exit_code == 0 and Path(result.output.strip()).resolve() == (SPECS / "unet.yaml").resolve()


def test_summary_shows_params_and_macs():
    result = CliRunner().invoke(app, ["summary", str(SPECS / "ghostnet_dfc.yaml"), "-p", "classes=1000"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "6,156,908" in result.output and "167.05 M" in result.output


# ---------------------------------------------------------------------------------------- compile and run


@pytest.mark.parametrize("spec", BUNDLED)
def test_compiles_to_ann_and_runs(spec):
    graph = snnc.build_graph(SPECS / f"{spec}.yaml", SMALL.get(spec))
    gm = snnc.compile(SPECS / f"{spec}.yaml", params=SMALL.get(spec)).eval()
    assert _n_params(gm) == sum(c.params for c in graph_costs(graph).values())
    with torch.no_grad():
        y = gm(torch.rand(2, *graph.input.shape))
    assert tuple(y.shape) == (2, *graph.node(graph.outputs[0]).shape) and torch.isfinite(y).all()


@pytest.mark.parametrize("spec", BUNDLED)
def test_compiles_to_snn_and_runs(spec):
    graph = snnc.build_graph(SPECS / f"{spec}.yaml", SMALL.get(spec))
    snn = snnc.compile(SPECS / f"{spec}.yaml", "snn", params=SMALL.get(spec), timesteps=2).eval()
    with torch.no_grad():
        spk, mem = snn(torch.rand(2, *graph.input.shape))
    assert tuple(mem.shape) == (2, 2, *graph.node(graph.outputs[0]).shape) and torch.isfinite(mem).all()


# ----------------------------------------------------------------------------------- torchvision ResNets


def _torchvision_keys(state: dict) -> dict:
    """torchvision's downsample Sequential children '0'/'1' are the specs' 'downsample.conv'/'downsample.bn'."""
    return {k.replace("downsample.0.", "downsample.conv.").replace("downsample.1.", "downsample.bn."): v
            for k, v in state.items()}


@pytest.mark.parametrize("spec,params", [("resnet18", 11_689_512), ("resnet50", 25_557_032),
                                         ("resnet101", 44_549_160)])
def test_resnets_equal_torchvision(spec, params):
    torch.manual_seed(0)
    tv = ref.randomize_bn(getattr(torchvision.models, spec)(weights=None)).eval()
    assert _costs(spec)[0] == _n_params(tv) == params
    gm = snnc.compile(SPECS / f"{spec}.yaml", params={"size": 64}).eval()
    state = _torchvision_keys(tv.state_dict())
    assert list(gm.state_dict()) == list(state)  # same names, same order
    gm.load_state_dict(state)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), tv(x), rtol=0, atol=0)


def test_resnet_macs_and_cifar_stem():
    assert _costs("resnet18")[1] == 1_814_073_344  # torchvision's 1.81 G "GFLOPS" (≈ 1.82 G in thop)
    graph = snnc.build_graph(SPECS / "resnet18.yaml", {"stem": "cifar", "size": 32, "classes": 10})
    assert graph.node("conv1").kernel_size == (3, 3) and graph.node("conv1").stride == (1, 1)
    assert "maxpool" not in graph.by_name and graph.node("layer1.1.sn2").shape == (64, 32, 32)
    assert _costs("resnet18", {"stem": "cifar", "size": 32, "classes": 10})[0] == 11_173_962


# -------------------------------------------------------------------------------------------- VGG-16-BN


def test_vgg16_equals_reference():
    assert _costs("vgg16") == (14_728_266, 313_201_664)
    assert _n_params(ref.VGG16BN()) == 14_728_266
    mnist = snnc.build_graph(SPECS / "vgg16.yaml", {"in_channels": 1})
    assert mnist.input.shape == (1, 32, 32) and mnist.node("features.0.layer.0.conv").in_channels == 1
    torch.manual_seed(0)
    hand = ref.randomize_bn(ref.VGG16BN(in_channels=1)).eval()
    gm = snnc.compile(SPECS / "vgg16.yaml", params={"in_channels": 1}).eval()
    ref.load_in_order(gm, hand)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), hand(x))


# ---------------------------------------------------------------------------------------- SEW / MS ResNet-34


@pytest.mark.parametrize("spec,block", [("sew_resnet34", ref.SEWBlock), ("ms_resnet34", ref.MSBlock)])
def test_resnet34_variants_equal_reference(spec, block):
    assert _costs(spec)[0] == _n_params(ref.ResNet34(block)) == 21_797_672
    cifar = {"stem": "cifar", "size": 32, "classes": 10}
    assert _costs(spec, {**cifar, "width": 8})[0] == _n_params(ref.ResNet34(block, 8, 10, False)) == 335_154
    torch.manual_seed(0)
    hand = ref.randomize_bn(ref.ResNet34(block, 16, 10, imagenet=False)).eval()
    gm = snnc.compile(SPECS / f"{spec}.yaml", params={**cifar, "width": 16}).eval()
    gm.load_state_dict({k.removeprefix("stem."): v for k, v in hand.state_dict().items()})
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), hand(x))


def test_sew_and_ms_neurons_sit_where_the_papers_put_them():
    sew = snnc.build_graph(SPECS / "sew_resnet34.yaml", {"size": 64})
    assert sew.node("layer2.0.add").inputs == ("layer2.0.sn2", "layer2.0.downsample_sn")  # spikes are added
    assert sew.node("layer2.0.downsample_sn").inputs == ("layer2.0.downsample.bn",)
    assert sew.node("layer1.1.add").inputs == ("layer1.1.sn2", "layer1.0.add")
    ms = snnc.build_graph(SPECS / "ms_resnet34.yaml", {"size": 64})
    assert ms.node("layer2.0.add").inputs == ("layer2.0.bn2", "layer2.0.shortcut.bn")  # membranes are added
    assert ms.node("layer2.0.conv1").inputs == ("layer2.0.sn1",)
    assert ms.node("layer2.0.sn1").inputs == ("layer1.2.add",) and ms.node("avgpool").inputs == ("sn",)


# ----------------------------------------------------------------------------------------- GhostNet V1, V2


@pytest.mark.parametrize("spec,v2,counts", [("ghostnet", False, (5_182_508, 3_914_318)),
                                            ("ghostnet_dfc", True, (6_156_908, 4_888_718))])
def test_ghostnets_equal_reference(spec, v2, counts):
    full, ten = counts
    assert _costs(spec, {"classes": 1000})[0] == _n_params(ref.GhostNet(1000, v2)) == full
    assert _costs(spec)[0] == _n_params(ref.GhostNet(10, v2)) == ten
    torch.manual_seed(0)
    hand = ref.randomize_bn(ref.GhostNet(10, v2)).eval()
    gm = snnc.compile(SPECS / f"{spec}.yaml", params={"size": 64}).eval()
    ref.load_in_order(gm, hand)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), hand(x))


def test_ghostnet_gates_stay_analog():
    graph = snnc.build_graph(SPECS / "ghostnet_dfc.yaml", {"size": 64})
    kinds = {n.name: (n.kind, getattr(n, "function", None)) for n in graph.nodes}
    assert kinds["blocks.3.se.gate"] == ("activation", "hardsigmoid")
    assert kinds["blocks.2.ghost1.attn.gate"] == ("activation", "sigmoid")
    assert kinds["blocks.3.se.act1"][0] == kinds["blocks.3.ghost1.primary_sn"][0] == "spike"
    assert "blocks.1.ghost1.attn.gate" not in kinds  # DFC from the third bottleneck on, as in GhostNetV2
    assert graph.node("blocks.15.ghost1.attn.upsample").size == (2, 2)


# ----------------------------------------------------------------------------------------------------- U-Net


def test_unet_equals_reference():
    assert _costs("unet")[0] == _n_params(ref.UNet()) == 28_941_698
    for depth in (1, 2, 5):
        graph = snnc.build_graph(SPECS / "unet.yaml", {"depth": depth, "width": 4, "classes": 1, "size": 36})
        assert graph.node(graph.outputs[0]).shape == (1, 36, 36)
        assert sum(c.params for c in graph_costs(graph).values()) == _n_params(ref.UNet(depth, 4, 1))
    torch.manual_seed(0)
    hand = ref.UNet(depth=3, width=8).eval()
    gm = snnc.compile(SPECS / "unet.yaml", params={"depth": 3, "width": 8, "size": 40}).eval()
    ref.load_in_order(gm, hand.ordered())
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), hand(x))


def test_ghost_metaformer_block_structure():
    graph = snnc.build_graph(SPECS / "ghost_metaformer.yaml")
    assert graph.node("stages.0.block.0.add1").inputs == ("stages.0.bn", "stages.0.block.0.mixer.slice")
    assert graph.node("stages.0.block.0.add2").inputs == ("stages.0.block.0.add1", "stages.0.block.0.bn")
    assert graph.node("stages.1.block.0.expand").out_channels == 4 * 64
    assert graph.node("stages.3.block.1.add2").shape == (256, 4, 4)


# ------------------------------------------------------------------------ the seed's networks at the seed's sizes

CIFAR = {"stem": "cifar", "size": 32, "classes": 10}


def _runs_as_ann_and_snn(spec: str, params: dict | None, x: torch.Tensor) -> None:
    ann = snnc.compile(SPECS / f"{spec}.yaml", params=params).eval()
    snn = snnc.compile(SPECS / f"{spec}.yaml", "snn", params=params, timesteps=2).eval()
    with torch.no_grad():
        y, (_, mem) = ann(x), snn(x)
    classes = snnc.build_graph(SPECS / f"{spec}.yaml", params).task.classes
    assert tuple(y.shape) == (len(x), classes) and tuple(mem.shape) == (2, len(x), classes)
    assert torch.isfinite(y).all() and torch.isfinite(mem).all()


@pytest.mark.parametrize("spec,params,counts,seed,tolerance", [
    ("sew_resnet34", {**CIFAR, "width": 16}, (1_334_618, 72_795_392), (None, 72.5e6), 0.01),
    ("ms_resnet34", {**CIFAR, "width": 16}, (1_334_618, 72_795_392), (None, 72.5e6), 0.01),
    ("ghostnet_channelmlp", None, (4_794_414, 7_542_832), (4.7e6, 7.1e6), 0.07),
])
def test_seed_configurations_have_the_counts_their_specs_state(spec, params, counts, seed, tolerance):
    """The counts each spec's header states (exactly), within the stated tolerance of the seed's figures (MACs
    of one 32×32 image: 1 % for the ResNet-34s, 7 % for the channel-MLP GhostNet, whose parameters are within
    5 %); each takes CIFAR-10 and compiles to ann and snn."""
    assert _costs(spec, params) == counts
    seed_params, seed_macs = seed
    assert abs(counts[1] / seed_macs - 1) < tolerance
    assert seed_params is None or abs(counts[0] / seed_params - 1) < 0.05
    check_fits(snnc.build_graph(SPECS / f"{spec}.yaml", params), "cifar10")
    _runs_as_ann_and_snn(spec, params, torch.rand(2, 3, 32, 32))


def test_ghostnet_dfc_takes_cifar_size_with_every_dfc_pool_on_2x2_or_more():
    for size, stem_stride in ((17, 1), (28, 1), (32, 1), (33, 2), (64, 2), (224, 2)):
        graph = snnc.build_graph(SPECS / "ghostnet_dfc.yaml", {"size": size})
        assert graph.node("conv_stem").stride == (stem_stride, stem_stride), size
        pools = [n for n in graph.nodes if n.kind == "avgpool2d"]
        assert len(pools) == 14 and all(n.name.endswith(".attn.pool") for n in pools)
        for pool in pools:
            assert min(graph.node(pool.inputs[0]).shape[-2:]) >= 2, (size, pool.name)
    small = snnc.build_graph(SPECS / "ghostnet_dfc.yaml", {"size": 32})
    assert small.node("blocks.15.ghost1.attn.pool").inputs == ("blocks.14.add",)
    assert small.node("blocks.14.add").shape == (160, 2, 2)
    assert _costs("ghostnet_dfc", {"size": 32}) == (4_888_718, 16_223_168)
    check_fits(small, "cifar10")
    with pytest.raises(snnc.SnncError, match=r"'blocks\.12\.ghost1\.attn\.pool'.*larger than its padded input"):
        snnc.build_graph(SPECS / "ghostnet_dfc.yaml", {"size": 32, "stem": "imagenet"})
    torch.manual_seed(0)
    hand = ref.randomize_bn(ref.GhostNet(10, v2=True, stem_stride=1)).eval()
    gm = snnc.compile(SPECS / "ghostnet_dfc.yaml", params={"size": 32}).eval()
    ref.load_in_order(gm, hand)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), hand(x))
    _runs_as_ann_and_snn("ghostnet_dfc", {"size": 32}, x)


def test_ghostnet_channelmlp_equals_reference():
    graph = snnc.build_graph(SPECS / "ghostnet_channelmlp.yaml")
    assert graph.input.shape == (3, 32, 32) and graph.node("conv_stem").stride == (2, 2)
    assert graph.node("blocks.2.ghost1.attn.conv").inputs == ("blocks.1.add",)  # the gate reads the module's input
    assert graph.node("blocks.2.ghost1.attn.gate").function == "sigmoid"
    assert not [n for n in graph.nodes if n.kind in ("avgpool2d", "upsample")]
    assert "blocks.1.ghost1.attn.conv" not in graph.by_name and graph.node("blocks.15.ghost1.attn.scale")
    torch.manual_seed(0)
    hand = ref.randomize_bn(ref.GhostNet(10, v2=True, attention="channel_mlp")).eval()
    assert _n_params(hand) == 4_794_414
    gm = snnc.compile(SPECS / "ghostnet_channelmlp.yaml").eval()
    ref.load_in_order(gm, hand)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gm(x), hand(x))


def test_vgg16_at_mnist_size_fits_the_trainers_data_and_is_the_padded_32x32_network():
    mnist = {"in_channels": 1, "size": 28}
    graph = snnc.build_graph(SPECS / "vgg16.yaml", mnist)
    assert graph.input.shape == (1, 28, 28) and graph.node("features.0.layer.0.conv").padding == (3, 3)
    assert graph.node("features.0.layer.1.conv").padding == (1, 1) and graph.node("features.4.pool").shape[1:] == (1, 1)
    assert _costs("vgg16", mnist) == _costs("vgg16", {"in_channels": 1}) == (14_727_114, 312_022_016)
    check_fits(graph, "mnist")  # what the trainer checks (load_for) before reading data
    with pytest.raises(DataError, match=r"1x28x28 images but the spec 'vgg16' takes input \[1, 32, 32\]"):
        check_fits(snnc.build_graph(SPECS / "vgg16.yaml", {"in_channels": 1}), "mnist")
    data = load_for(graph, "mnist-sample", "test", limit=4)
    x = torch.stack([data[i][0] for i in range(4)])
    small = {"widths": [8, 16, 32, 64, 64]}
    gm = snnc.compile(SPECS / "vgg16.yaml", params={**mnist, **small}).eval()
    padded = snnc.compile(SPECS / "vgg16.yaml", params={"in_channels": 1, **small}).eval()
    padded.load_state_dict(gm.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(gm(x), padded(F.pad(x, (2, 2, 2, 2))))
    _runs_as_ann_and_snn("vgg16", {**mnist, **small}, x)


@pytest.mark.parametrize("spec,block", [("sew_resnet34", ref.SEWBlock), ("ms_resnet34", ref.MSBlock)])
def test_resnet34_variants_take_one_channel_28x28(spec, block):
    for stem in ("cifar", "imagenet"):
        params = {"in_channels": 1, "size": 28, "classes": 10, "stem": stem, "width": 8}
        graph = snnc.build_graph(SPECS / f"{spec}.yaml", params)
        assert graph.input.shape == (1, 28, 28) and graph.node("conv1").in_channels == 1
        hand = ref.ResNet34(block, 8, 10, imagenet=stem == "imagenet", in_channels=1)
        assert _costs(spec, params)[0] == _n_params(hand)
        check_fits(graph, "mnist")
        _runs_as_ann_and_snn(spec, params, torch.rand(2, 1, 28, 28))
    assert _costs(spec, {"in_channels": 1, "size": 28, "classes": 10, "stem": "cifar"}) == (21_280_970, 935_917_568)
