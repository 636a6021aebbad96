"""Checked by importers no one here wrote: snnc's NIR files run in snnTorch, Norse and Sinabs.

For each network that snnc's NIR export takes (:data:`NETWORKS`: chains with zero reset, and the bundled VGG-16,
ResNet-18 and SEW-ResNet-34 with their export switches: residual edges, folded batch-norm, sum pooling) it
exports the snn target to a ``.nir`` file (seeded weights scaled so that every layer fires, or the checkpoint of
:data:`CHECKPOINTS` where it exists), reads the file back, imports it with each installed importer
(:data:`IMPORTERS`: snnTorch's ``import_from_nir``, Norse's ``norse.torch.from_nir``, Sinabs'
``sinabs.from_nir``), runs ``T`` steps on the same real test images (MNIST; CIFAR-10 for the 3×32×32 networks,
where ``../shared/data`` has it) and compares the spikes of every neuron layer at every step with snnc's own
explicit-state steps (``model.step``; with batch-norm, of its folded twin, which is what the file says; one
sample at a time in NCHW memory format, as the importers run), and the
output (spikes, or the classifier's current, ``allclose``).

Each importer runs as it imports (``as imported``: its ``from_nir`` with only the arguments its documentation
names, e.g. Norse's ``dt``), and, where its modules do not compute NIR's equations, once more with the imported
modules set to what NIR's nodes say (``mapped``; :data:`MAPPINGS` names each change). The two rows together say
what the importer gets wrong and what the right mapping is. Why the file and not the graph object: an importer
must read what ``nir.write`` stored, and two of them modify the nodes they are given.

Usage::

    python benchmarks/nir_foreign.py [--steps 25] [--samples 16] [--json out.json]

Tests: ``tests/compiler/export/test_nir_foreign.py`` (each importer skipped when it is not installed).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import logging
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import snnc  # noqa: E402
from snnc.compiler.export import export  # noqa: E402
from snnc.compiler.export.nir import DT, compare_runs, folded_twin, run_snnc_layers, run_unbatched  # noqa: E402
from snnc.compiler.pipeline import graph_of  # noqa: E402

SPECS = ROOT / "specs"
STEPS, SAMPLES, GAIN, SEED = 25, 16, 4.0, 0


# --- networks: bundled specs changed only as far as NIR needs --------------------------------------------


def _bundled(name: str) -> dict:
    import yaml

    return yaml.safe_load((SPECS / f"{name}.yaml").read_text())


def fc_zero() -> dict:
    """mnist_fc (784-1000-10 LIF, β 0.95) with ``reset: zero``."""
    data = _bundled("mnist_fc")
    data["neuron"] = {**data["neuron"], "reset": "zero"}
    return data


def fc_if() -> dict:
    """mnist_fc with integrate-and-fire neurons (NIR ``IF``) and ``reset: zero``."""
    data = fc_zero()
    data["neuron"]["model"] = "if"
    return data


def fc_no_bias() -> dict:
    """mnist_fc with ``reset: zero`` and linear layers without bias (NIR ``Linear``, not ``Affine``)."""
    data = fc_zero()
    data["layers"] = [{**la, "bias": False} if la["kind"] == "linear" else la for la in data["layers"]]
    return data


def conv_avgpool() -> dict:
    """mnist_conv (12C5-P2-64C5-P2-FC10, β 0.5) with average pooling and ``reset: zero``."""
    data = _bundled("mnist_conv")
    data["neuron"] = {**data["neuron"], "reset": "zero"}
    for layer in data["layers"]:
        if layer["kind"] == "maxpool2d":
            layer["kind"] = "avgpool2d"
    return data


def conv_strided() -> dict:
    """mnist_conv without pooling, its convolutions at stride 2 (28 → 12 → 4, so fc1 keeps 1024 inputs), zero
    reset. Why: Norse and Sinabs import no ``AvgPool2d``; this is the conv net they can take."""
    data = _bundled("mnist_conv")
    data["name"] = "mnist_conv_strided"
    data["neuron"] = {**data["neuron"], "reset": "zero"}
    data["layers"] = [{**la, "stride": 2} if la["kind"] == "conv2d" else la
                      for la in data["layers"] if la["kind"] != "maxpool2d"]
    return data


def _switched(name: str, **params: Any) -> Callable[[], Any]:
    """A bundled spec with ``--param`` values (its export switches and a CIFAR-10 size), loaded."""
    from snnc.compiler.pipeline import load_spec

    return lambda: load_spec(SPECS / f"{name}.yaml", params)


ZOO: dict[str, dict[str, Any]] = {
    "vgg16 (reset zero, avg pool)": {"name": "vgg16", "reset": "zero", "pool": "avg",
                                     "widths": [8, 16, 16, 32, 32]},
    "resnet18 (reset zero, CIFAR stem)": {"name": "resnet18", "reset": "zero", "stem": "cifar", "size": 32,
                                          "classes": 10, "width": 8},
    "sew_resnet34 (CIFAR stem)": {"name": "sew_resnet34", "stem": "cifar", "size": 32, "classes": 10, "width": 8},
}
"""The bundled residual and batch-norm networks with the switches that export them, at the widths trained here
(``runs/nir26/train.sh``: one epoch on 2,000 CIFAR-10 images, T = 2)."""

NETWORKS: dict[str, Callable[[], Any]] = {
    "mnist_fc (zero reset)": fc_zero,
    "mnist_fc (IF, zero reset)": fc_if,
    "mnist_fc (no bias, zero reset)": fc_no_bias,
    "mnist_conv (avgpool, zero reset)": conv_avgpool,
    "mnist_conv (stride 2, no pool, zero reset)": conv_strided,
    **{network: _switched(p["name"], **{k: v for k, v in p.items() if k != "name"}) for network, p in ZOO.items()},
}
"""Table name → spec data (or a loaded spec)."""

CHECKPOINTS: dict[str, Path] = {network: ROOT / "runs" / "nir26" / p["name"] / "best.pt" for network, p in ZOO.items()}
"""Trained weights used instead of seeded ones where the file exists (``snnc train``, see :data:`ZOO`)."""


def build(spec: Any, steps: int = STEPS, seed: int = SEED, gain: float = GAIN, checkpoint: Optional[Path] = None):
    """The snn target of ``spec`` with seeded weights times ``gain`` (so that every layer fires), or the weights
    of ``checkpoint`` when that file exists, in eval mode."""
    torch.manual_seed(seed)
    if checkpoint is not None and checkpoint.is_file():
        return snnc.compile(spec, "snn", timesteps=steps, checkpoint=checkpoint).eval()
    model = snnc.compile(spec, "snn", timesteps=steps)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(gain)
    return model.eval()


def images(n: int = SAMPLES, shape: tuple[int, ...] = (1, 28, 28)) -> torch.Tensor:
    """The first ``n`` test images ``[n, *shape]`` in [0, 1]: the bundled MNIST sample for ``1×28×28``; CIFAR-10's
    test split for ``3×32×32`` where ``../shared/data`` (or ``$SNNC_DATA_DIR``) has it, else the MNIST digits
    resized and tiled to 3 channels (real images either way; :func:`image_source` says which)."""
    from snnc.runtime.data import load_dataset

    if tuple(shape) == (3, 32, 32) and image_source(shape) == "cifar10":
        data = load_dataset("cifar10", "test", limit=n)
        return torch.stack([data[i][0] for i in range(len(data))])
    data = load_dataset("mnist-sample", "test", limit=n)
    x = torch.stack([data[i][0] for i in range(len(data))])
    if tuple(shape) != (1, 28, 28):
        x = torch.nn.functional.interpolate(x, size=tuple(shape[1:]), mode="bilinear", align_corners=False)
        x = x.expand(-1, shape[0], -1, -1).contiguous()
    return x


def image_source(shape: tuple[int, ...]) -> str:
    """``cifar10`` or ``mnist-sample``: where :func:`images` takes the images of ``shape`` from."""
    if tuple(shape) != (3, 32, 32):
        return "mnist-sample"
    try:
        from snnc.runtime.data import load_dataset

        load_dataset("cifar10", "test", limit=1)
        return "cifar10"
    except Exception:  # noqa: BLE001 - no CIFAR-10 files here: the digits instead
        return "mnist-sample"


def input_of(model: Any) -> tuple[int, ...]:
    """The input shape ``(C, H, W)`` of a spec-built module."""
    from snnc.compiler.pipeline import graph_of

    return tuple(graph_of(model).input.shape)


def run_snnc(model, x: torch.Tensor, steps: int) -> torch.Tensor:
    """snnc's own output spikes ``[T, B, ...]`` (explicit-state steps from ``init_state``)."""
    with torch.no_grad():
        state, out = model.init_state(x.shape[0]), []
        for _ in range(steps):
            spk, state = model.step(x, state)
            out.append(spk)
    return torch.stack(out)


# --- importers ---------------------------------------------------------------------------------------------


def _quiet():
    """Importers print and log warnings (snnTorch's w_scale, Norse's r); keep the table readable."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    stack.callback(logging.disable, logging.NOTSET)
    return stack


def _avgpool(node) -> torch.nn.Module:
    """NIR ``AvgPool2d`` as torch's, for the importers that have none (the ``mapped`` runs)."""
    pair = lambda v: tuple(int(i) for i in torch.as_tensor(v).flatten())  # noqa: E731
    return torch.nn.AvgPool2d(pair(node.kernel_size), pair(node.stride), pair(node.padding))


def snntorch_import(path: Path, x: torch.Tensor, steps: int, mapped: bool = False, layers: Optional[list] = None):
    """snnTorch's ``import_from_nir`` (it assumes ``dt = 1e-4`` and builds ``Leaky``, reset zero).

    An ``IF`` node becomes ``Leaky(beta=0.9, init_hidden=False)`` (``snntorch/import_nir.py``, the ``nir.IF``
    branch), a leaky neuron that returns ``(spk, mem)`` where the graph expects a tensor. ``mapped``: each of
    them replaced by ``Leaky(beta=1, threshold=v_threshold, init_hidden=True, reset_mechanism="zero",
    reset_delay=False)``, what its ``LIF`` branch builds with ``beta = 1``.
    """
    import nir
    import snntorch as snn
    from snntorch.import_nir import import_from_nir

    graph = nir.read(str(path))
    with _quiet():
        net = import_from_nir(graph)
    if mapped:
        for key, node in graph.nodes.items():
            if isinstance(node, nir.IF):
                threshold = float(torch.as_tensor(node.v_threshold).flatten()[0])
                setattr(net, key, snn.Leaky(beta=1.0, threshold=threshold, init_hidden=True, reset_mechanism="zero",
                                            reset_delay=False))
    neurons = [m for m in net.modules() if isinstance(m, snn.SpikingNeuron)]
    return run_unbatched(net, x, steps, lambda: [m.reset_mem() for m in neurons], layers=layers)


def norse_import(path: Path, x: torch.Tensor, steps: int, mapped: bool = False, layers: Optional[list] = None):
    """Norse's ``from_nir(graph, dt=1e-4)`` (the file's time step; Norse's default is 1e-3).

    Its ``LIFBoxCell`` integrates ``v += dt/τ · (v_leak - v + I)``: NIR's ``r`` is dropped (a logged warning), so
    the membrane is NIR's divided by ``r``. It maps no ``AvgPool2d`` (nirtorch then fails on the node's edge).
    It runs the graph with nirtorch's deprecated ``load`` (``GraphExecutor``), whose order is a depth-first walk
    from the input (``trace_execution``): in a diamond (a block with a projection shortcut) the merge node runs
    before one of its branches and reads that branch's output of the previous step.
    ``mapped``: the threshold divided by ``r`` too (NIR's spikes), ``AvgPool2d`` as torch's, and the graph run
    by nirtorch's ``nir_to_torch`` (a topological order) with Norse's own modules (``_import_norse_module``).
    """
    import nir
    import nirtorch
    import norse.torch as norse
    from norse.torch.module.lif_box import LIFBoxCell
    from norse.torch.utils.import_nir import _import_norse_module

    graph = nir.read(str(path))
    with _quiet():
        if not mapped:
            net = norse.from_nir(graph, dt=DT)
        else:
            norse_map = lambda node: _import_norse_module(node, dt=DT)  # noqa: E731
            kinds = (nir.Affine, nir.Conv2d, nir.Flatten, nir.Linear, nir.IF, nir.LIF, nir.SumPool2d)
            net = nirtorch.nir_to_torch(graph, {**{kind: norse_map for kind in kinds}, nir.AvgPool2d: _avgpool})
    if mapped:
        for key, node in graph.nodes.items():
            if isinstance(node, nir.LIF):
                cell = net.get_submodule(key)
                if not isinstance(cell, LIFBoxCell):
                    raise TypeError(f"Norse imported LIF node '{key}' as {type(cell).__name__}, not LIFBoxCell")
                cell.p = cell.p._replace(v_th=cell.p.v_th / torch.as_tensor(node.r, dtype=torch.float32))
    with _quiet():
        return run_unbatched(net, x, steps, layers=layers)  # the state travels in the calls


SINABS_KINDS = ("Affine", "Conv2d", "Flatten", "Linear", "IF", "LIF", "SumPool2d", "AvgPool2d")
"""The NIR node kinds of snnc's files, each mapped by Sinabs' ``_import_sinabs_module`` (AvgPool2d, Linear: torch's)."""


def sinabs_import(path: Path, x: torch.Tensor, steps: int, mapped: bool = False, layers: Optional[list] = None):
    """Sinabs' ``from_nir(graph, batch_size=B)``: ``*Squeeze`` layers that take ``[B·T, ...]`` (batch-major).
    As imported its layers see every step at once (``[B·T, ...]``) and only the output is compared; mapped, the
    network is built for batch 1 and run one sample and one step a call (its layers keep their state), every
    neuron layer hooked.

    Its ``LIFSqueeze`` / ``IAFSqueeze`` keep their defaults: ``MultiSpike`` (``⌊v/θ⌋`` spikes a step, from
    ``v ≥ θ``), ``MembraneSubtract`` (NIR's ``v_reset`` ignored), decay ``exp(-1/τ)`` with ``τ`` read in steps
    (NIR's ``τ`` is in seconds), ``r`` ignored (``norm_input=False``: ``v = α v + I``, right when ``r·dt/τ = 1``)
    and for ``IF`` a floor ``min_v_mem = -θ``. It maps no ``AvgPool2d`` and no ``Linear`` (``Affine`` only), and
    its ``LIF`` branch tests ``any(node.v_leak) != 0``, which raises for parameters of two or more dimensions
    (a conv layer's neurons).
    ``mapped``: ``SingleSpike`` (from ``v ≥ θ``: the threshold set to the next float above θ, NIR's ``v > θ``),
    ``MembraneReset(v_reset)``, no floor, ``α = 1 - dt/τ`` (NIR's Euler step,
    snnTorch's too), ``AvgPool2d`` and ``Linear`` as torch's, and ``v_leak`` handed to that test flattened.
    """
    import nir
    import nirtorch
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike
    from sinabs.nir import _import_sinabs_module

    def model_map(node):
        if isinstance(node, nir.AvgPool2d):
            return _avgpool(node)
        if isinstance(node, nir.Linear):
            linear = torch.nn.Linear(node.weight.shape[1], node.weight.shape[0], bias=False)
            linear.weight.data = torch.as_tensor(node.weight, dtype=torch.float32)
            return linear
        if isinstance(node, nir.LIF):  # v_leak is only tested (with a 1-D any()), never used
            node.v_leak = node.v_leak.reshape(-1)
        return _import_sinabs_module(node, batch_size=1, num_timesteps=None)

    graph = nir.read(str(path))
    batch = x.shape[0]
    with _quiet():
        net = sinabs.from_nir(graph, batch_size=batch) if not mapped else nirtorch.nir_to_torch(
            graph, {getattr(nir, kind): model_map for kind in SINABS_KINDS})
    if mapped:
        for key, node in graph.nodes.items():
            if isinstance(node, (nir.LIF, nir.IF)):
                layer = net.get_submodule(key)
                if not isinstance(layer, sl.LIF):
                    raise TypeError(f"Sinabs imported node '{key}' as {type(layer).__name__}, not a LIF layer")
                layer.spike_fn, layer.min_v_mem = SingleSpike, None
                layer.reset_fn = MembraneReset(float(torch.as_tensor(node.v_reset).flatten()[0]))
                # SingleSpike fires at v ≥ θ, NIR (and snnTorch, Norse) at v > θ: the next float up
                theta = torch.as_tensor(layer.spike_threshold, dtype=torch.float32)
                layer.spike_threshold = torch.nn.Parameter(torch.nextafter(theta, torch.tensor(float("inf"))))
                if isinstance(node, nir.LIF):
                    layer.train_alphas, layer.alpha_syn = True, None
                    layer.alpha_mem = torch.nn.Parameter(1.0 - DT / torch.as_tensor(node.tau, dtype=torch.float32))
    if mapped:  # one sample and one step a call (its layers keep their state), as snnc's check runs
        return _sinabs_stepwise(net, x, steps, layers)
    sinabs.reset_states(net)
    folded = x.unsqueeze(1).expand(batch, steps, *x.shape[1:]).reshape(batch * steps, *x.shape[1:])
    with torch.no_grad(), _quiet():
        out = net(folded)
    out = out[0] if isinstance(out, tuple) else out  # nirtorch.load returns (output, state)
    return out.reshape(batch, steps, *out.shape[1:]).transpose(0, 1)  # its output only


def _sinabs_stepwise(net, x: torch.Tensor, steps: int, layers: Optional[list]):
    """Run a Sinabs network (built for batch 1) on one sample and one step a call, its states reset before each
    sample: the output ``[T, B, ...]`` and, with ``layers``, those layers' outputs by key (forward hooks)."""
    import sinabs

    modules = dict(net.named_modules())
    seen = {k: [] for k in layers or [] if k in modules}
    hooks = [modules[k].register_forward_hook(lambda m, a, o, k=k: seen[k].append(o.detach().clone()))
             for k in seen]
    outs = []
    try:
        with torch.no_grad(), _quiet():
            for sample in x:
                sinabs.reset_states(net)
                got = [net(sample.unsqueeze(0)) for _ in range(steps)]  # nir_to_torch: (output, state)
                outs.append(torch.cat([g[0] if isinstance(g, tuple) else g for g in got]))  # [T, ...]
    finally:
        for h in hooks:
            h.remove()
    per = lambda v: torch.cat(v).reshape(len(x), steps, *v[0].shape[1:]).transpose(0, 1)  # noqa: E731
    out = torch.stack(outs, 1)
    return out if layers is None else (out, {k: per(seen[k]) if seen.get(k) else None for k in layers})


IMPORTERS: dict[str, tuple[str, Callable[..., torch.Tensor]]] = {
    "snnTorch import_from_nir": ("snntorch", snntorch_import),
    "Norse from_nir": ("norse", norse_import),
    "Sinabs from_nir": ("sinabs", sinabs_import),
}
"""Row name → (package, ``run(path, x, steps, mapped=False) -> spikes [T, B, ...]``)."""

MAPPINGS: dict[str, str] = {
    "snnTorch import_from_nir": "IF as Leaky(beta=1, init_hidden=True, reset zero)",
    "Norse from_nir": "LIF threshold ÷ r (Norse drops r); AvgPool2d added",
    "Sinabs from_nir": "SingleSpike at θ⁺ (v > θ), MembraneReset(v_reset), no min_v_mem, α = 1 - dt/τ; AvgPool2d, "
                       "Linear added; nir_to_torch, batch 1, a step a call",
}
"""What ``mapped`` changes on the imported modules, per importer."""


def version(package: str) -> Optional[str]:
    """The installed version of ``package``, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def compare(ours: torch.Tensor, theirs: torch.Tensor) -> dict[str, Any]:
    """Output spikes of snnc and of an importer, step by step.

    Returns:
        ``identical``, ``mismatches`` (spike values that differ), ``total`` (values compared), ``first_step``
        (the first step with a difference, or None), ``spikes`` / ``their_spikes`` (sums; Sinabs' multi-spikes
        count their number).
    """
    if ours.shape != theirs.shape:
        return {"identical": False, "mismatches": None, "total": ours.numel(), "first_step": None,
                "spikes": float(ours.sum()), "their_spikes": float(theirs.sum()),
                "error": f"shape {tuple(theirs.shape)}, snnc {tuple(ours.shape)}"}
    diff = ours != theirs
    steps = diff.flatten(1).any(1).nonzero()
    return {"identical": not bool(diff.any()), "mismatches": int(diff.sum()), "total": diff.numel(),
            "first_step": int(steps[0]) if len(steps) else None, "spikes": float(ours.sum()),
            "their_spikes": float(theirs.sum())}


def compare_layers(ours: torch.Tensor, layers: dict, theirs: torch.Tensor, their_layers: dict,
                   spiking_output: bool) -> dict[str, Any]:
    """Every neuron layer's spikes of snnc and of an importer (``[T, B, ...]`` by NIR key), and the outputs
    (:func:`snnc.compiler.export.nir.compare_runs`).

    Returns:
        :func:`compare`'s fields over all layers (``total``: spike values compared), ``first_layer``,
        ``layers`` (neuron layers compared) and, for a current output, ``output_max_abs_diff``; ``identical``
        when every spike is and the output is close.
    """
    found = compare_runs(ours, layers, theirs, their_layers, spiking_output=spiking_output)
    steps = [int(d[0]) for k, v in layers.items() if their_layers.get(k) is not None
             and their_layers[k].shape == v.shape and len(d := (v != their_layers[k]).flatten(1).any(1).nonzero())]
    return {"identical": found["spikes_identical"] and found.get("outputs_close", True),
            "mismatches": found["mismatches"], "total": sum(v.numel() for v in layers.values()),
            "first_step": min(steps) if steps else None, "first_layer": found["first_layer"],
            "spikes": float(found["spikes"]), "layers": found["neuron_layers"],
            "their_spikes": float(sum(v.sum() for v in their_layers.values() if v is not None)),
            "output_max_abs_diff": found.get("output_max_abs_diff")}


def check(network: str, importer: str, x: torch.Tensor, steps: int, folder: Path, mapped: bool = False,
          model: Any = None) -> dict[str, Any]:
    """Export ``network`` to NIR, run it in ``importer`` and compare its spikes with snnc's: every neuron layer
    where the importer's modules can be hooked (:func:`compare_layers`), else the output (:func:`compare`).
    snnc's side is the model's folded twin (batch-norm folded, as in the file; the model itself without).

    Returns:
        :func:`compare`'s fields, or ``{"identical": False, "error": ...}`` when the import or run fails.
    """
    model = model if model is not None else build(NETWORKS[network](), steps, checkpoint=CHECKPOINTS.get(network))
    path = folder / "net.nir"
    export(model, path, format="nir")
    twin = folded_twin(model)
    ours, layers = run_snnc_layers(twin, x, steps, per_sample=True)
    try:
        got = IMPORTERS[importer][1](path, x, steps, mapped=mapped, layers=list(layers))
    except Exception as error:  # noqa: BLE001 - an importer's failure is a result here
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return {"identical": False, "error": f"{type(error).__name__}: {first[:120]}", "spikes": float(ours.sum())}
    theirs, their_layers = got if isinstance(got, tuple) else (got, None)
    spiking = all(graph_of(model).node(o).kind == "spike" for o in graph_of(model).outputs)
    if their_layers is None:
        result = compare(ours, theirs.to(ours.dtype))
        if not spiking and ours.shape == theirs.shape:  # a classifier's current: close, as compare_runs asks
            close = torch.allclose(ours, theirs.to(ours.dtype), rtol=1e-4, atol=1e-5)
            result.update(identical=close, mismatches=0 if close else result["mismatches"],
                          output_max_abs_diff=float((ours - theirs.to(ours.dtype)).abs().max()))
        return result
    return compare_layers(ours, layers, theirs.to(ours.dtype), their_layers, spiking)


def cell(result: dict[str, Any]) -> str:
    """A table cell: ``identical``, ``N of M differ (first at step t)`` or the error."""
    if result.get("error") and result.get("mismatches") is None:
        return f"fails: {result['error']}"
    if result["identical"] and result.get("layers") is None and result.get("output_max_abs_diff") is not None:
        return f"output current close ({result['output_max_abs_diff']:.2g} apart; its layers not hooked)"
    if result["identical"]:
        return "identical" if result.get("layers") is None else f"identical ({result['layers']} layers)"
    first = result["first_step"]
    where = f"in {result['first_layer']} at step {first}" if result.get("first_layer") else f"at step {first}"
    if not result["mismatches"]:
        return f"spikes identical, outputs {result['output_max_abs_diff']:.2g} apart"
    return (f"{result['mismatches']} of {result['total']} differ (first {where}; "
            f"{result['their_spikes']:.0f} spikes, snnc {result['spikes']:.0f})")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--networks", nargs="*", default=None, help="a subset of NETWORKS (names as in the table)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("versions: " + ", ".join(f"{p} {version(p) or 'not installed'}" for p in
                                   ["torch", "nir", "nirtorch", "snntorch", "norse", "sinabs"]))
    rows: list[dict] = []
    folder = Path(tempfile.mkdtemp(prefix="snnc-nir-foreign-"))
    for network in args.networks or NETWORKS:
        model = build(NETWORKS[network](), args.steps, checkpoint=CHECKPOINTS.get(network))
        x = images(args.samples, input_of(model))
        weights = "trained" if CHECKPOINTS.get(network) and CHECKPOINTS[network].is_file() else "seeded"
        print(f"{network}: {weights} weights, {image_source(input_of(model))} images", flush=True)
        for importer, (package, _) in IMPORTERS.items():
            if version(package) is None:
                rows.append({"network": network, "importer": importer, "as imported": "not installed",
                             "mapped": "—"})
                continue
            plain = check(network, importer, x, args.steps, folder, model=model)
            mapped = check(network, importer, x, args.steps, folder, mapped=True, model=model)
            rows.append({"network": network, "importer": importer, "as imported": cell(plain),
                         "mapped": cell(mapped), "raw": {"as imported": plain, "mapped": mapped}})
            print(network, "|", importer, "|", rows[-1]["as imported"], "|", rows[-1]["mapped"], flush=True)
    print(f"\nT = {args.steps}, {args.samples} test images; weights seeded ({SEED}) × {GAIN} or trained (above)\n")
    print("| network | importer | as imported | mapped (what NIR's nodes say) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['network']} | {row['importer']} | {row['as imported']} | {row['mapped']} |")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
