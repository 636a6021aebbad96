"""snnc's NIR files in importers no one here wrote: snnTorch's ``import_from_nir``, Norse's and Sinabs' ``from_nir``.

Each importer's test is skipped with the reason when it is not installed. The comparison lives in
``benchmarks/nir_foreign.py`` (its table is in docs/export.md); here it runs on 8 real MNIST test images for
10 steps. "as imported" is the importer's own result; "mapped" sets the imported modules to what the NIR nodes
say (the benchmark's ``MAPPINGS``), which must give snnc's spikes exactly: that pins both what snnc writes and
where each importer departs from NIR.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("nir_foreign", ROOT / "benchmarks" / "nir_foreign.py")
nf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nf)

STEPS = 10
FC, IF, NO_BIAS, AVGPOOL, STRIDED = CHAINS = list(nf.NETWORKS)[:5]  # the table's chains, in order
ZOO = list(nf.ZOO)  # the bundled residual / batch-norm networks with their switches


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return nf.images(8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nir_foreign")


def _run(network, importer, x, folder, mapped=False):
    return nf.check(network, importer, x, STEPS, folder, mapped=mapped)


def test_the_images_are_the_mnist_sample_and_every_network_fires(x, mnist):
    assert torch.equal(x, mnist)
    for network in CHAINS:
        ours = nf.run_snnc(nf.build(nf.NETWORKS[network](), STEPS), x, STEPS)
        assert ours.sum() > 0, network


# --- snnTorch -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("network", [FC, NO_BIAS, AVGPOOL, STRIDED])
def test_snntorch_import_gives_identical_spikes(network, x, folder):
    pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install snntorch)")
    result = _run(network, "snnTorch import_from_nir", x, folder)
    assert result["identical"], result
    assert result["spikes"] > 0


def test_snntorch_import_cannot_run_integrate_and_fire_but_the_mapping_is_exact(x, folder):
    """snnTorch 1.0 builds an IF node as ``Leaky(beta=0.9, init_hidden=False)``, which returns a tuple where
    the next layer expects a tensor; as ``Leaky(beta=1, init_hidden=True, reset zero)`` it matches snnc."""
    pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install snntorch)")
    result = _run(IF, "snnTorch import_from_nir", x, folder)
    assert "error" in result and "must be Tensor, not tuple" in result["error"]
    assert _run(IF, "snnTorch import_from_nir", x, folder, mapped=True)["identical"]


# --- Norse --------------------------------------------------------------------------------------------------


@pytest.fixture
def norse():
    return pytest.importorskip("norse.torch", reason="Norse is not installed (pip install norse)")


@pytest.mark.parametrize("network", [FC, NO_BIAS, STRIDED])
def test_norse_drops_the_resistance_of_lif_so_membranes_stay_below_threshold(network, x, folder, norse):
    """Norse's LIFBoxCell integrates ``v += dt/τ (v_leak - v + I)`` without NIR's ``r`` (= τ/dt in snnc's files):
    its membranes are snnc's divided by r. With the threshold divided by r too, the spikes are snnc's."""
    result = _run(network, "Norse from_nir", x, folder)
    assert not result["identical"] and result["their_spikes"] < result["spikes"]
    assert _run(network, "Norse from_nir", x, folder, mapped=True)["identical"]


def test_norse_imports_integrate_and_fire_exactly(x, folder, norse):
    assert _run(IF, "Norse from_nir", x, folder)["identical"]


def test_norse_has_no_average_pooling(x, folder, norse):
    result = _run(AVGPOOL, "Norse from_nir", x, folder)
    assert result.get("error", "").startswith("KeyError: 'pool1'")  # nirtorch drops the unmapped node
    assert _run(AVGPOOL, "Norse from_nir", x, folder, mapped=True)["identical"]


# --- Sinabs -------------------------------------------------------------------------------------------------


@pytest.fixture
def sinabs():
    return pytest.importorskip("sinabs", reason="Sinabs is not installed (pip install --no-deps sinabs pbr: its "
                                                "metadata pins nir<=1.0.4 and pulls the samna SDK)")


@pytest.mark.parametrize("network", [FC, IF])
def test_sinabs_subtracts_and_multi_spikes_where_nir_resets(network, x, folder, sinabs):
    """Sinabs' LIF/IAF keep MultiSpike and MembraneSubtract (and exp(-1/τ) with τ in steps, an IF floor at -θ);
    NIR's v_reset, single spikes and α = 1 - dt/τ give snnc's spikes."""
    result = _run(network, "Sinabs from_nir", x, folder)
    assert not result["identical"] and result["first_step"] == 0
    assert _run(network, "Sinabs from_nir", x, folder, mapped=True)["identical"]


@pytest.mark.parametrize("network,error", [
    (AVGPOOL, "ValueError: The truth value of an array"),  # any(node.v_leak) on (C, H, W) neurons
    (STRIDED, "ValueError: The truth value of an array"),
    (NO_BIAS, "KeyError: 'fc1'"),  # no nir.Linear
])
def test_sinabs_cannot_import_conv_neurons_or_linear_without_bias(network, error, x, folder, sinabs):
    assert _run(network, "Sinabs from_nir", x, folder).get("error", "").startswith(error)
    assert _run(network, "Sinabs from_nir", x, folder, mapped=True)["identical"]


# --- the bundled zoo: residual edges, folded batch-norm, sum pooling -------------------------------------------


@pytest.mark.parametrize("network", ZOO)
def test_the_zoo_gives_identical_spikes_in_every_layer_in_snntorch_and_in_norse_mapped(network, folder):
    """The benchmark's networks as they are (3×32×32, widths 8–32), seeded weights (× 2), 8 real images
    (CIFAR-10 where ``../shared/data`` has it, else digits resized), T = 4: every neuron layer's spikes identical
    in snnTorch (IF as Leaky(beta=1) for SEW) and in Norse's modules run in a topological order (nirtorch's
    nir_to_torch). At this size a batched or channels-last reference flips SEW's neurons at their thresholds;
    the check runs snnc as the importers do (one sample at a time, NCHW)."""
    pytest.importorskip("norse.torch", reason="Norse is not installed (pip install norse)")
    model = nf.build(nf.NETWORKS[network](), 4, gain=2.0)
    assert model.channels_last  # the snn target's default for conv nets; the check's twin runs NCHW
    x = nf.images(8, (3, 32, 32))
    steps = 4
    for importer in ("snnTorch import_from_nir", "Norse from_nir"):
        result = nf.check(network, importer, x, steps, folder, mapped=True, model=model)
        assert result["identical"] and result["layers"] == len(model.neurons) and result["spikes"] > 1000, result
    if "sew" not in network:  # LIF: snnTorch's own import, as imported, is exact too
        assert nf.check(network, "snnTorch import_from_nir", x, steps, folder, model=model)["identical"]


@pytest.mark.parametrize("network", ZOO)
def test_the_zoo_gives_identical_spikes_in_every_layer_in_sinabs_mapped(network, folder, sinabs):
    """The third importer: Sinabs' own modules (``_import_sinabs_module``) in nirtorch's ``nir_to_torch``, its
    ``SingleSpike`` threshold one float above θ (it fires at v ≥ θ, NIR at v > θ), a step a call; as imported,
    its ``from_nir`` cannot read any of the three (conv neurons, or the residual graph)."""
    model = nf.build(nf.NETWORKS[network](), 4, gain=2.0)
    x = nf.images(8, (3, 32, 32))
    result = nf.check(network, "Sinabs from_nir", x, 4, folder, mapped=True, model=model)
    assert result["identical"] and result["layers"] == len(model.neurons) and result["spikes"] > 1000, result
    assert not nf.check(network, "Sinabs from_nir", x, 4, folder, model=model)["identical"]


# --- the command line ---------------------------------------------------------------------------------------


def test_snnc_export_cli_writes_the_file_the_importers_read(x, tmp_path):
    """``snnc export SPEC -t snn -c CKPT -f nir`` on a spec file: the same spikes in snnTorch."""
    pytest.importorskip("snntorch", reason="snnTorch is not installed (pip install snntorch)")
    import snnc

    spec = tmp_path / "fc_zero.yaml"
    spec.write_text(yaml.safe_dump(nf.fc_zero()))
    model = nf.build(nf.fc_zero(), STEPS)
    snnc.save(model, tmp_path / "fc.pt")
    command = ["export", str(spec), "-t", "snn", "-c", str(tmp_path / "fc.pt"), "-f", "nir", "-o",
               str(tmp_path / "fc.nir")]
    done = subprocess.run([sys.executable, "-m", "snnc", *command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    theirs = nf.snntorch_import(tmp_path / "fc.nir", x, STEPS)
    assert torch.equal(nf.run_snnc(model, x, STEPS), theirs)
