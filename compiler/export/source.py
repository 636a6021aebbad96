"""Standalone Python source of the ann and snn targets, rendered from a Jinja2 template.

``export_python(model, "net.py")`` writes ``net.py`` (one readable ``nn.Module`` class plus ``load()``) and
``net.pt`` (its state dict). The file needs only PyTorch (and snnTorch for the snn target): the snn target is
written as the idiomatic snnTorch loop, every layer once per step with ``snn.Leaky`` / ``snn.Synaptic``
neurons, which gives the spikes of snnc's fused, time-folded run (tests compare them).

How: the ann ``GraphModule`` (for snn, its structure rebuilt from the module's IR graph on the meta device, see
:func:`~snnc.compiler.pipeline.ann_structure`) is walked node by node; each module becomes a constructor line from
:data:`CONSTRUCTORS` (a table from module type to code) and each call a line of ``forward``. Module names with
dots (``layer1.0.conv1``) become attributes with underscores, and the state dict is renamed the same way. The
template (``templates/model.py.j2``) is rendered with ``StrictUndefined``; no spec text is ever evaluated.
"""

from __future__ import annotations

import keyword
import operator
import re
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import fx, nn

from ..errors import UnsupportedError

TEMPLATES = Path(__file__).with_name("templates")


def _r(value: Any) -> str:
    """Python code for a constructor argument (tuples stay tuples, floats keep full precision)."""
    if isinstance(value, float):
        return repr(float(value))
    return repr(value)


def _conv2d(m: nn.Conv2d) -> str:
    return (f"nn.Conv2d({m.in_channels}, {m.out_channels}, kernel_size={_r(m.kernel_size)}, stride={_r(m.stride)}, "
            f"padding={_r(m.padding)}, dilation={_r(m.dilation)}, groups={m.groups}, bias={m.bias is not None})")


def _batchnorm(m: nn.modules.batchnorm._BatchNorm) -> str:
    return (f"nn.{type(m).__name__}({m.num_features}, eps={_r(m.eps)}, momentum={_r(m.momentum)}, "
            f"affine={m.affine}, track_running_stats={m.track_running_stats})")


CONSTRUCTORS: dict[type, Callable[[nn.Module], str]] = {
    nn.Conv2d: _conv2d,
    nn.Linear: lambda m: f"nn.Linear({m.in_features}, {m.out_features}, bias={m.bias is not None})",
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.MaxPool2d: lambda m: (f"nn.MaxPool2d(kernel_size={_r(m.kernel_size)}, stride={_r(m.stride)}, "
                             f"padding={_r(m.padding)}, dilation={_r(m.dilation)}, ceil_mode={m.ceil_mode})"),
    nn.AvgPool2d: lambda m: (f"nn.AvgPool2d(kernel_size={_r(m.kernel_size)}, stride={_r(m.stride)}, "
                             f"padding={_r(m.padding)}, ceil_mode={m.ceil_mode}, "
                             f"count_include_pad={m.count_include_pad})"),
    nn.AdaptiveAvgPool2d: lambda m: f"nn.AdaptiveAvgPool2d({_r(m.output_size)})",
    nn.Flatten: lambda m: f"nn.Flatten({m.start_dim}, {m.end_dim})",
    nn.Dropout: lambda m: f"nn.Dropout({_r(m.p)})",
    nn.Identity: lambda m: "nn.Identity()",
    nn.ReLU: lambda m: "nn.ReLU()",
    nn.ReLU6: lambda m: "nn.ReLU6()",
    nn.Sigmoid: lambda m: "nn.Sigmoid()",
    nn.Hardsigmoid: lambda m: "nn.Hardsigmoid()",
    nn.Hardswish: lambda m: "nn.Hardswish()",
    nn.GELU: lambda m: f"nn.GELU(approximate={m.approximate!r})",
    nn.Tanh: lambda m: "nn.Tanh()",
    nn.SiLU: lambda m: "nn.SiLU()",
    nn.LeakyReLU: lambda m: f"nn.LeakyReLU({_r(m.negative_slope)})",
    nn.Softmax: lambda m: f"nn.Softmax(dim={m.dim})",
    nn.Upsample: lambda m: (f"nn.Upsample(size={_r(m.size)}, scale_factor={_r(m.scale_factor)}, mode={m.mode!r}, "
                            f"align_corners={_r(m.align_corners)})"),
}
"""Module type → the constructor code that rebuilds it (its weights come from the state dict)."""

SURROGATE_CODE: dict[str, Callable[[Any], str]] = {
    "atan": lambda p: f"surrogate.atan(alpha={_r(p.slope)})",
    "fast_sigmoid": lambda p: f"surrogate.fast_sigmoid(slope={_r(p.slope)})",
    "sigmoid": lambda p: f"surrogate.sigmoid(slope={_r(p.slope)})",
    "straight_through": lambda p: "surrogate.straight_through_estimator()",
    "triangular": lambda p: f"surrogate.triangular(threshold={_r(p.threshold)})",
}
"""Surrogate kind → snnTorch code (the same table as the snn target's :data:`~..targets.snn.neurons.SURROGATES`)."""

INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/", operator.matmul: "@"}

_RESERVED = {"x", "x_seq", "step", "spk_rec", "mem_rec", "self", "torch", "nn", "snn", "spikegen", "surrogate"}


def _neuron_code(loop: nn.Module) -> str:
    p = loop.params
    beta, alpha, threshold = loop.coefficients()
    common = (f"threshold={_r(float(threshold))}, spike_grad={SURROGATE_CODE[p.surrogate](p)}, "
              f"reset_mechanism={p.reset!r}, learn_threshold={p.learn_threshold}")
    if p.model == "synaptic":
        return (f"snn.Synaptic(alpha={_r(float(loop.neuron.alpha))}, beta={_r(float(loop.neuron.beta))}, "
                f"{common}, learn_beta={p.learn_beta})")
    if p.model == "if":
        return f"snn.Leaky(beta=1.0, {common})"
    return f"snn.Leaky(beta={_r(float(loop.neuron.beta))}, {common}, learn_beta={p.learn_beta})"


class _Renderer:
    """Walks an ann graph and collects the template's context."""

    def __init__(self, gm: fx.GraphModule, spiking: Optional[nn.Module]) -> None:
        self.gm, self.spiking = gm, spiking
        self.names: dict[fx.Node, str] = {}
        self.modules: list[dict[str, str]] = []
        self.attrs: dict[str, str] = {}
        self.weights: dict[str, torch.Tensor] = {}
        self.lines: list[str] = []
        self.states: list[str] = []

    def var(self, node: fx.Node) -> str:
        if node not in self.names:
            name = re.sub(r"\W", "_", node.name)
            if name in _RESERVED or keyword.iskeyword(name):
                name += "_"
            self.names[node] = name
        return self.names[node]

    def code(self, value: Any) -> str:
        if isinstance(value, fx.Node):
            return self.var(value)
        if isinstance(value, (list, tuple)):
            inner = ", ".join(self.code(v) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
        if isinstance(value, slice):
            return f"slice({self.code(value.start)}, {self.code(value.stop)}, {self.code(value.step)})"
        if isinstance(value, (int, float, bool, str, type(None), torch.dtype)):
            return repr(value)
        raise UnsupportedError(f"a constant of type {type(value).__name__} has no Python source form")

    def call_args(self, node: fx.Node, args: tuple, kwargs: dict) -> str:
        parts = [self.code(a) for a in args] + [f"{k}={self.code(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def attr(self, target: str, module: nn.Module, ctor: str, source: nn.Module) -> str:
        if target not in self.attrs:
            attr = re.sub(r"\W", "_", target)
            if hasattr(nn.Module, attr) or attr in ("timesteps", "scores"):
                attr += "_"
            self.attrs[target] = attr
            self.modules.append({"attr": attr, "ctor": ctor})
            for key, value in source.state_dict().items():
                self.weights[f"{attr}.{key}"] = value.detach().clone()
        return self.attrs[target]

    def node(self, node: fx.Node) -> None:
        v = self.var(node)
        where = f"node '{node.name}' ({node.op} {getattr(node.target, '__name__', node.target)})"
        if node.op == "call_module":
            module = self.gm.get_submodule(node.target)
            ir = node.meta.get("snnc_node")
            if self.spiking is not None and getattr(ir, "kind", None) == "spike":
                loop = self.spiking.get_submodule(node.target)
                attr = self.attr(node.target, module, _neuron_code(loop), loop.neuron)
                (src,) = node.args
                arg = self.code(src)
                self.lines.append(f"mem_{v} = torch.zeros_like({arg}) if mem_{v} is None else mem_{v}")
                self.states.append(f"mem_{v}")
                if loop.params.model == "synaptic":
                    self.lines.append(f"syn_{v} = torch.zeros_like({arg}) if syn_{v} is None else syn_{v}")
                    self.lines.append(f"{v}, syn_{v}, mem_{v} = self.{attr}({arg}, syn_{v}, mem_{v})")
                    self.states.append(f"syn_{v}")
                else:
                    self.lines.append(f"{v}, mem_{v} = self.{attr}({arg}, mem_{v})")
                return
            build = CONSTRUCTORS.get(type(module))
            if build is None:
                raise UnsupportedError(f"{where}: module {type(module).__name__} has no Python source form; "
                                       f"supported: {', '.join(sorted(t.__name__ for t in CONSTRUCTORS))}")
            source = self.spiking.get_submodule(node.target) if self.spiking is not None else module
            attr = self.attr(node.target, module, build(module), source)
            self.lines.append(f"{v} = self.{attr}({self.call_args(node, node.args, node.kwargs)})")
        elif node.op == "call_function":
            if node.target in INFIX and len(node.args) == 2 and not node.kwargs:
                a, b = node.args
                self.lines.append(f"{v} = {self.code(a)} {INFIX[node.target]} {self.code(b)}")
            elif node.target is operator.getitem:
                self.lines.append(f"{v} = {self.code(node.args[0])}[{self.code(node.args[1])}]")
            else:
                from torch.fx.node import _get_qualified_name

                name = _get_qualified_name(node.target)
                if not name.startswith("torch."):
                    raise UnsupportedError(f"{where}: function {name} is not part of torch; the standalone file "
                                           "can call torch functions only")
                self.lines.append(f"{v} = {name}({self.call_args(node, node.args, node.kwargs)})")
        elif node.op == "call_method":
            obj, *rest = node.args
            self.lines.append(f"{v} = {self.code(obj)}.{node.target}({self.call_args(node, tuple(rest), node.kwargs)})")
        else:
            raise UnsupportedError(f"{where}: {node.op} nodes have no Python source form")


def _class_name(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    text = "".join(w[:1].upper() + w[1:] for w in words if w) or "Model"
    return text if text[0].isalpha() else f"Net{text}"


def render_python(model: nn.Module, weights_name: str, *,
                  timesteps: Optional[int] = None) -> tuple[str, dict[str, torch.Tensor]]:
    """The source text and the renamed state dict of ``model``.

    Args:
        model: an ann ``GraphModule`` (spec-built or any fx graph of supported modules) or a spec-built
            ``SpikingModule``.
        weights_name: the file name of the state dict the source's ``load()`` reads by default.
        timesteps: ``T`` written into an snn file (default: the model's).

    Returns:
        ``(source, state dict)``.

    Raises:
        UnsupportedError: a burst network, or a node or module with no source form (named).
    """
    import jinja2

    from ..pipeline import ann_structure, provenance
    from .base import RECORDING, SCORES, describe, export_kind, input_shape, spiking_output

    kind = export_kind(model)
    info = describe(model)
    spiking = None
    if kind == SCORES:
        raise UnsupportedError("the burst target has no standalone Python form yet (its neurons are snnc's own); "
                               "export it as ONNX: --format onnx")
    if kind == RECORDING:
        prov = provenance(model)
        if prov is None:
            raise UnsupportedError("this spiking module carries no spec; build it with snnc.compile or snnc.load")
        spiking = model
        gm = ann_structure(model)  # the graph walked; the weights are the spiking module's own
    elif isinstance(model, fx.GraphModule):
        gm = model
    else:
        raise UnsupportedError(f"{type(model).__name__} is not a torch.fx GraphModule; the Python export renders "
                               "spec-built models (snnc.compile)")
    r = _Renderer(gm, spiking)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedError(f"the model takes {len(placeholders)} inputs; the Python export takes one")
    result = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            r.var(node)
        elif node.op == "output":
            result = node.args[0]
        else:
            r.node(node)
    if not isinstance(result, fx.Node):
        raise UnsupportedError("the Python export needs a graph with a single output tensor")
    context: dict[str, Any] = {
        "name": info["spec"], "target": info["target"], "spiking": spiking is not None, "class_name": _class_name(info["spec"]),
        "weights_name": weights_name, "modules": r.modules, "lines": r.lines, "input_var": r.var(placeholders[0]),
        "input_shape": list(input_shape(model)), "result": r.code(result),
        "n_params": f"{sum(p.numel() for p in model.parameters()):,}",
    }
    if spiking is not None:
        enc, dec = model.encoding, model.decoding.kind
        encodings = {
            "direct": None,
            "rate": f"spikegen.rate(x, num_steps=self.timesteps, gain={_r(enc.gain)})",
            "latency": (f"spikegen.latency(x, num_steps=self.timesteps, threshold={_r(enc.threshold)}, "
                        f"tau={_r(enc.tau)}, linear={enc.linear}, normalize={enc.normalize})"),
        }
        out = r.code(result)
        context.update({
            "timesteps": timesteps or model.timesteps, "states": r.states, "encoding_code": encodings[enc.kind],
            "encoding_doc": f"{enc.kind} encoding", "decoding": dec,
            "out_spk": out, "out_mem": f"mem_{out}" if spiking_output(model) else out,
            "decode_code": {"rate": "spk.mean(0)", "count": "spk.sum(0)", "membrane": "mem.mean(0)"}[dec],
        })
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    source = env.get_template("model.py.j2").render(**context)
    compile(source, "<snnc export>", "exec")  # syntax check only: never executed here
    return source, r.weights


def load_generated(path: str | Path):
    """Import a generated file as a module (for checks and tests)."""
    import importlib.util
    import sys

    path = Path(path)
    name = f"snnc_generated_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def export_python(model: nn.Module, path: str | Path, *, timesteps: Optional[int] = None, check: bool = False,
                  check_inputs: Optional[torch.Tensor] = None) -> Optional[dict]:
    """Write ``model`` as a standalone Python file and its state dict beside it (``<stem>.pt``), atomically.

    Args:
        model: an ann or snn target module (see :func:`render_python`).
        path: the ``.py`` file.
        timesteps: ``T`` written into the snn file (default: the model's).
        check: import the file, load the weights and compare with ``model`` (ann: allclose; snn: spikes).
        check_inputs: inputs of the check (default: a seeded uniform batch).

    Returns:
        With ``check``: ``{"max_abs_diff": float, "spikes_identical": bool | None}``; else None.

    Raises:
        UnsupportedError: see :func:`render_python`. ExportCheckError: the check found a difference.
    """
    from ..artifact import atomic_torch_save, atomic_write_bytes
    from .base import ExportCheckError, input_shape

    path = Path(path)
    spiking = getattr(model, "timesteps", None) is not None
    source, weights = render_python(model, path.with_suffix(".pt").name, timesteps=timesteps if spiking else None)
    atomic_torch_save(weights, path.with_suffix(".pt"))
    atomic_write_bytes(path, source.encode("utf-8"))
    if not check:
        return None
    x = check_inputs if check_inputs is not None else torch.rand(
        (4, *input_shape(model)), generator=torch.Generator().manual_seed(0))
    generated = load_generated(path).load(path.with_suffix(".pt"))
    model.eval()
    with torch.no_grad():
        if not spiking:
            ours, theirs = model(x), generated(x)
            diff = float((ours - theirs).abs().max())
            if not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5):
                raise ExportCheckError(f"{path}: the generated module differs from the model by up to {diff:.3g}")
            return {"max_abs_diff": diff, "spikes_identical": None}
        spk, mem = model(x, timesteps or model.timesteps)
        g_spk, g_mem = generated(x)
    from .base import spiking_output

    if not spiking_output(model):  # the output is analog (no neuron at the end): compare values
        diff = float((spk - g_spk).abs().max())
        if not torch.allclose(spk, g_spk, rtol=1e-4, atol=1e-5):
            raise ExportCheckError(f"{path}: the generated module's output differs by up to {diff:.3g}")
        return {"max_abs_diff": diff, "spikes_identical": None}
    mismatches = int((spk != g_spk).sum())
    if mismatches:
        raise ExportCheckError(f"{path}: {mismatches} output spikes differ between the generated module and snnc")
    return {"max_abs_diff": float((mem - g_mem).abs().max()), "spikes_identical": True}
