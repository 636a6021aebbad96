"""From a validated spec to the graph IR: expand blocks, name and wire nodes, resolve defaults, infer shapes.

Steps, each collecting every problem it can before giving up:

1. **expand** — block instances become their layers (``repeat`` copies named ``<name>.<k>``), names get their
   scope prefix (``layer1.0.conv1``), ``when: false`` layers become aliases of their input, ``split`` becomes
   slices; every reference is resolved (dangling ones get a did-you-mean).
2. **order** — a stable topological sort; a cycle is reported with its path.
3. **lower** — each layer becomes a normalised IR node (channels and features inferred, ``padding: same`` and
   ``-1`` resolved, neuron parameters merged with the model-wide section) and its shape is inferred with the
   shape table; an impossible shape is reported at the layer and field to blame.
4. **check sizes** — parameters and activations are counted (integers only) and a model over the memory limit
   is refused before anything is allocated.

No torch here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import Diagnostic, InternalError, SpecError, did_you_mean
from .ir import (Activation, AdaptiveAvgPool2d, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Decoding, Dropout, Encoding,
                 Flatten, GlobalAvgPool, Graph, Identity, Input, Linear, MaxPool2d, Multiply, NeuronParams, Reshape,
                 Slice, Spike, Task, Upsample)
from .ir.costs import graph_costs
from .ir.shapes import ShapeProblem, infer_shape
from .ir.verify import find_cycle, verify
from .spec import models as m
from .spec.load import LoadedSpec, validate_layer
from .spec.templating import TemplateProblem, substitute

MAX_NODES = 50_000
"""Largest number of IR nodes a spec may expand to."""

DEFAULT_MAX_MEMORY = 8 << 30
"""Default memory limit (bytes) for parameters, and separately for one sample's activations (float32)."""

BYTES_PER_VALUE = 4


def max_memory_from_env() -> int:
    """The memory limit: ``SNNC_MAX_MEMORY`` (bytes, or with a K/M/G suffix) or :data:`DEFAULT_MAX_MEMORY`."""
    raw = os.environ.get("SNNC_MAX_MEMORY", "").strip()
    if not raw:
        return DEFAULT_MAX_MEMORY
    return parse_size(raw)


def parse_size(text: str) -> int:
    """Parse ``"8G"``, ``"512M"``, ``"1024"`` into bytes.

    Raises:
        ValueError: not a size.
    """
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "KMGT" else t
    value = float(num)
    if value <= 0:
        raise ValueError(f"not a positive size: {text!r}")
    return int(value * mult)


@dataclass
class Origin:
    """Where a node came from: its layer's spec path and, for block contents, the instance that made it."""

    path: tuple
    via: str = ""


@dataclass
class _Item:
    name: str
    layer: Any
    local_inputs: list[str]
    scope: dict
    origin: Origin
    slice_of: tuple[int, int, int] | None = None  # (dim, start, stop) for split parts
    inputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Alias:
    target: str


class _Expander:
    """Expands the spec's layers into a flat list of items with full names and resolved inputs."""

    def __init__(self, loaded: LoadedSpec):
        self.loaded = loaded
        self.spec = loaded.spec
        self.source = loaded.source
        self.items: list[_Item] = []
        self.problems: list[Diagnostic] = []

    def problem(self, path: tuple, message: str, hint: str = "", via: str = "") -> None:
        if via:
            hint = (hint + "; " if hint else "") + f"(in block instance '{via}')"
        self.problems.append(self.source.diagnostic(path, message, hint))

    # -- scopes ---------------------------------------------------------------------------------------------------

    def scope(self, layers: list[tuple[Any, tuple]], prefix: str, input_name: str, input_ref: str,
              params: dict, stack: tuple[str, ...], via: str, output_name: str | None = None,
              output_path: tuple = (), extra_inputs: dict[str, str] | None = None) -> str | None:
        """Expand one list of layers; returns the full name of its output (None if broken).

        ``extra_inputs`` maps a block's further input names to the full names of the layers feeding them.
        """
        local: dict[str, Any] = {input_name: input_ref, **(extra_inputs or {})}
        problems_before = len(self.problems)
        items: list[_Item] = []
        prev: str | None = input_name
        for idx, (layer, path) in enumerate(layers):
            if len(self.items) > MAX_NODES:
                self.problem(path, f"the spec expands to more than {MAX_NODES:,} nodes", "reduce 'repeat' counts",
                             via)
                return None
            lname = layer.name or (f"{layer.block}_{idx}" if layer.kind == "block" else f"{layer.kind}_{idx}")
            if lname in local:
                self.problem(path + ("name",), f"duplicate name '{lname}'",
                             "give each layer a unique name" + (" (the input is called "
                                                                f"'{input_name}')" if lname == input_name else ""),
                             via)
                continue
            if layer.inputs is None and prev is None:
                self.problem(path, "the previous layer is a split, so this layer must say which part it takes",
                             f"add 'inputs: [{layers[idx - 1][0].name}.0]' (or .1, ...)", via)
                continue
            ins = list(layer.inputs) if layer.inputs is not None else [prev]
            full = f"{prefix}.{lname}" if prefix else lname
            if not layer.when:
                if not ins:
                    self.problem(path + ("inputs",), "a layer with 'when: false' needs an input to pass through", "",
                                 via)
                    continue
                local[lname] = _Alias(ins[0])
            elif layer.kind == "block":
                src = self.resolve(ins[0], local) if len(ins) == 1 else None
                if len(ins) != 1:
                    self.problem(path + ("inputs",), f"a block instance takes exactly one input, got {len(ins)}",
                                 "give one name in 'inputs'", via)
                    continue
                if src is None:
                    self.problem(path + ("inputs",), f"unknown input '{ins[0]}' (a block's input must be defined "
                                                     f"above it).{did_you_mean(ins[0], local)}", "", via)
                    continue
                outs = self.block(layer, path, full, src, params, stack, local)
                if outs is None:
                    continue
                local.update({f"{lname}.{k}": out for k, out in enumerate(outs)})
                local[lname] = outs[-1]
            elif layer.kind == "split":
                offset = 0
                for k, size in enumerate(layer.sizes):
                    part = _Item(f"{full}.{k}", layer, ins, local, Origin(path, via),
                                 slice_of=(layer.dim, offset, offset + size))
                    items.append(part)
                    self.items.append(part)
                    local[f"{lname}.{k}"] = part.name
                    offset += size
                prev = None
                continue
            else:
                size_ref = [layer.like] if getattr(layer, "like", None) else []  # lends only its size
                items.append(_Item(full, layer, ins + size_ref, local, Origin(path, via)))
                self.items.append(items[-1])  # in spec order, a nested block's nodes where its instance stands
                local[lname] = full
            prev = lname
        for item in items:
            resolved = []
            for j, ref in enumerate(item.local_inputs):
                target = self.resolve(ref, local)
                if target is None:
                    candidates = list(local)
                    n_data = len(item.local_inputs) - (1 if getattr(item.layer, "like", None) else 0)
                    where = ("like",) if j >= n_data else ("inputs", j) if item.layer.inputs is not None else ()
                    self.problem(item.origin.path + where,
                                 f"'{item.name}' takes input '{ref}', which is not defined.{did_you_mean(ref, candidates)}",
                                 "names defined here: " + ", ".join(candidates), via)
                resolved.append(target)
            item.inputs = resolved
        out_local = output_name if output_name is not None else prev
        if out_local is None:
            if len(self.problems) > problems_before:
                return None  # already explained by the layer that broke the chain
            self.problem(output_path or layers[-1][1], "the last layer is a split: say which part is the output",
                         "set 'output' to one of its parts, e.g. name.0", via)
            return None
        out = self.resolve(out_local, local)
        if out is None:
            self.problem(output_path, f"output '{out_local}' is not defined.{did_you_mean(out_local, local)}", "", via)
        return out

    @staticmethod
    def resolve(ref: str, local: dict) -> str | None:
        seen = set()
        while True:
            if ref in seen or ref not in local:
                return None
            seen.add(ref)
            target = local[ref]
            if isinstance(target, _Alias):
                ref = target.target
                continue
            return target

    # -- blocks ---------------------------------------------------------------------------------------------------

    def block(self, inst: m.BlockLayer, path: tuple, full: str, src: str, outer: dict,
              stack: tuple[str, ...], caller: dict) -> list[str] | None:
        """Expand the copies of a block instance fed by ``src``; returns each copy's output (None if broken).

        ``caller`` is the calling scope's name table, where the block's extra inputs are looked up.
        """
        blocks = self.spec.blocks
        bdef = blocks.get(inst.block)
        if bdef is None:
            self.problem(path + ("block",), f"unknown block '{inst.block}'.{did_you_mean(inst.block, blocks)}",
                         "blocks defined in this spec: " + (", ".join(blocks) or "none"))
            return None
        if inst.block in stack:
            self.problem(path + ("block",), "block '" + inst.block + "' uses itself: " + " → ".join(
                stack + (inst.block,)), "blocks cannot be recursive")
            return None
        accepted = [*bdef.params, *bdef.inputs]
        unknown = [a for a in inst.args if a not in accepted]
        for a in unknown:
            self.problem(path + ("args", a), f"block '{inst.block}' has no parameter '{a}'."
                                             f"{did_you_mean(a, accepted)}",
                         "its parameters: " + (", ".join(accepted) or "none"))
        if unknown:
            return None
        bpath = ("blocks", inst.block)
        outs: list[str] = []
        for r in range(inst.repeat):
            name = f"{full}.{r}" if inst.repeat > 1 else full
            try:
                args = substitute(dict(inst.args), {**outer, "i": r}, path + ("args",))
            except TemplateProblem as exc:
                self.problem(exc.path, exc.message, exc.hint)
                return None
            extra = self.block_inputs(inst, bdef, args, path, caller)
            if extra is None:
                return None
            values = {**bdef.params, **args}
            missing = [k for k, v in values.items() if v is None]
            if missing:
                self.problem(path + ("args",), f"block '{inst.block}' needs a value for "
                                               + ", ".join(f"'{k}'" for k in missing),
                             "add them under 'args'")
                return None
            scope = {**self.loaded.params, **values, "i": r}
            layers = []
            for j, raw in enumerate(bdef.layers):
                lpath = bpath + ("layers", j)
                try:
                    data = substitute(raw, scope, lpath)
                    layers.append((validate_layer(data, self.source, lpath), lpath))
                except TemplateProblem as exc:
                    self.problem(exc.path, exc.message, exc.hint, name)
                except SpecError as exc:
                    for d in exc.diagnostics:
                        self.problems.append(Diagnostic(d.message, d.path, (d.hint + "; " if d.hint else "")
                                                        + f"(in block instance '{name}')", d.file, d.line, d.column,
                                                        d.source_line))
            if len(layers) != len(bdef.layers):
                return None
            src = self.scope(layers, name, "input", src, scope, stack + (inst.block,), name, bdef.output,
                             bpath + ("output",), extra)
            if src is None:
                return None
            outs.append(src)
        return outs

    def block_inputs(self, inst: m.BlockLayer, bdef: m.BlockSpec, args: dict, path: tuple,
                     caller: dict) -> dict[str, str] | None:
        """Resolve the block's extra ``inputs`` (removed from ``args``) to full node names in the calling scope."""
        extra: dict[str, str] = {}
        for port in bdef.inputs:
            ref = args.pop(port, None)
            if ref is None:
                self.problem(path + ("args",), f"block '{inst.block}' needs a value for its input '{port}'",
                             f"add '{port}: <layer name>' under 'args'")
                return None
            target = self.resolve(ref, caller) if isinstance(ref, str) else None
            if target is None:
                self.problem(path + ("args", port), f"input '{port}' of block '{inst.block}' names '{ref}', which "
                                                    f"is not defined above this layer.{did_you_mean(str(ref), caller)}")
                return None
            extra[port] = target
        return extra


# ------------------------------------------------------------------------------------------------- layer → node


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


class _LowerProblem(Exception):
    def __init__(self, message: str, hint: str = "", field: str = ""):
        super().__init__(message)
        self.message, self.hint, self.field = message, hint, field


def _conv(layer: m.Conv2dLayer, shapes, ctx, b):
    in_ch = layer.in_channels or (shapes[0][0] if shapes[0] else 1)
    k, d = _pair(layer.kernel_size), _pair(layer.dilation)
    stride = _pair(layer.stride)
    if layer.padding == "same":
        if stride != (1, 1):
            raise _LowerProblem("padding 'same' needs stride 1", "give the padding as a number", "padding")
        if any((dd * (kk - 1)) % 2 for kk, dd in zip(k, d)):
            raise _LowerProblem(f"padding 'same' needs an odd kernel, got {list(k)}", "give the padding as a number",
                                "padding")
        padding = tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d))
    else:
        padding = _pair(layer.padding)
    groups = in_ch if layer.depthwise else layer.groups
    if layer.depthwise and layer.groups != 1:
        raise _LowerProblem("give either depthwise: true or groups, not both", "", "groups")
    return Conv2d(**b, in_channels=in_ch, out_channels=layer.out_channels, kernel_size=k, stride=stride, padding=padding,
                  dilation=d, groups=groups, bias=layer.bias)


def _linear(layer: m.LinearLayer, shapes, ctx, b):
    return Linear(**b, in_features=layer.in_features or (shapes[0][-1] if shapes[0] else 1),
                  out_features=layer.out_features, bias=layer.bias)


def _batchnorm(layer: m.BatchNormLayer, shapes, ctx, b):
    rank = len(shapes[0])
    dims = {"batchnorm1d": 1, "batchnorm2d": 2}.get(layer.kind, 2 if rank == 3 else 1)
    return BatchNorm(**b, num_features=layer.num_features or (shapes[0][0] if shapes[0] else 1), dims=dims, eps=layer.eps,
                     momentum=layer.momentum, affine=layer.affine)


def _pool(layer: m.PoolLayer, shapes, ctx, b):
    cls = MaxPool2d if layer.kind == "maxpool2d" else AvgPool2d
    k = _pair(layer.kernel_size)
    return cls(**b, kernel_size=k, stride=_pair(layer.stride) if layer.stride is not None else k,
               padding=_pair(layer.padding), ceil_mode=layer.ceil_mode)


def _reshape(layer: m.ReshapeLayer, shapes, ctx, b):
    target = list(layer.shape)
    total = math.prod(shapes[0])
    if target.count(-1) > 1:
        raise _LowerProblem("at most one entry of shape may be -1", "", "shape")
    if any(t == 0 or t < -1 for t in target):
        raise _LowerProblem(f"shape entries must be positive (or one -1), got {target}", "", "shape")
    if -1 in target:
        known = math.prod(t for t in target if t != -1)
        if total % known:
            raise _LowerProblem(f"cannot reshape {list(shapes[0])} ({total} values) to {target}",
                                "make the element counts agree", "shape")
        target[target.index(-1)] = total // known
    return Reshape(**b, target=tuple(target))


def _upsample(layer: m.UpsampleLayer, shapes, ctx, b):
    s = shapes[0]
    if len(s) != 3:
        raise _LowerProblem(f"upsample needs an input shaped [C, H, W], got {list(s)}", "", "inputs")
    if layer.like is not None:  # the last input only lends its size: it is not an input of the node
        like, b = shapes[-1], {**b, "inputs": b["inputs"][:-1]}
        if len(like) != 3:
            raise _LowerProblem(f"'like' names a layer shaped {list(like)}, not [C, H, W]", "", "like")
        size = (like[1], like[2])
    elif layer.size is not None:
        size = _pair(layer.size)
    else:
        size = (s[1] * layer.scale_factor, s[2] * layer.scale_factor)
    return Upsample(**b, size=size, mode=layer.mode, align_corners=layer.align_corners)


def resolve_neuron(model_wide: m.NeuronSpec, override: m.NeuronSpec | None = None) -> NeuronParams:
    """Merge a layer's neuron override into the model-wide section and resolve ``tau`` and ``if``.

    Returns:
        Fully resolved parameters (``beta = exp(-1/tau)`` when ``tau`` is given; ``beta = 1`` for ``if``).
    """
    merged: dict[str, Any] = {}
    for section in (model_wide, override or m.NeuronSpec()):
        values = section.model_dump(exclude_none=True)
        if "beta" in values or "tau" in values:
            merged.pop("beta", None)
            merged.pop("tau", None)
        merged.update(values)
    tau = merged.pop("tau", None)
    if tau is not None:
        merged["beta"] = math.exp(-1.0 / tau)
    if merged.get("model") == "if":
        merged["beta"] = 1.0
    return NeuronParams(**merged)


_SIMPLE: dict[str, Callable[[Any, list, dict, dict], Any]] = {
    "flatten": lambda layer, s, c, b: Flatten(**b),
    "identity": lambda layer, s, c, b: Identity(**b),
    "global_avgpool": lambda layer, s, c, b: GlobalAvgPool(**b),
    "dropout": lambda layer, s, c, b: Dropout(**b, p=layer.p),
    "add": lambda layer, s, c, b: Add(**b),
    "multiply": lambda layer, s, c, b: Multiply(**b),
    "concat": lambda layer, s, c, b: Concat(**b, dim=layer.dim),
    "activation": lambda layer, s, c, b: Activation(**b, function=layer.function, negative_slope=layer.negative_slope),
    "spike": lambda layer, s, c, b: Spike(**b, neuron=resolve_neuron(c["neuron"], layer.neuron)),
    "adaptive_avgpool2d": lambda layer, s, c, b: AdaptiveAvgPool2d(**b, output_size=_pair(layer.output_size)),
    "slice": lambda layer, s, c, b: Slice(**b, dim=layer.dim, start=layer.start, stop=layer.stop),
}

LOWER_LAYER: dict[str, Callable[[Any, list, dict, dict], Any]] = {
    "conv2d": _conv,
    "linear": _linear,
    "batchnorm": _batchnorm,
    "batchnorm1d": _batchnorm,
    "batchnorm2d": _batchnorm,
    "maxpool2d": _pool,
    "avgpool2d": _pool,
    "reshape": _reshape,
    "upsample": _upsample,
    **_SIMPLE,
}
"""Spec layer kind → function(layer, input shapes, context, base fields) building the IR node (shape not yet set)."""


# ----------------------------------------------------------------------------------------------------- entry


@dataclass
class FrontendResult:
    """The graph and where each node came from in the spec."""

    graph: Graph
    origins: dict[str, Origin]


def _order(items: list[_Item], input_name: str) -> tuple[list[_Item], list[str] | None]:
    """Stable topological order; returns (ordered, cycle or None)."""
    by_name = {it.name: it for it in items}
    edges = {it.name: tuple(i for i in it.inputs if i in by_name) for it in items}
    cycle = find_cycle(edges)
    if cycle:
        return items, cycle
    done: set[str] = {input_name}
    ordered: list[_Item] = []
    pending = list(items)
    while pending:
        rest = []
        for it in pending:
            if all(i in done for i in it.inputs):
                ordered.append(it)
                done.add(it.name)
            else:
                rest.append(it)
        if len(rest) == len(pending):  # unreachable given no cycle and resolved inputs
            raise InternalError("topological sort made no progress")
        pending = rest
    return ordered, None


def spec_to_graph(loaded: LoadedSpec, *, max_memory: int | None = None) -> FrontendResult:
    """Lower a validated spec to a verified, shape-annotated :class:`Graph`.

    Args:
        loaded: the result of :func:`snnc.compiler.spec.load.load_spec`.
        max_memory: limit in bytes for parameters and for one sample's activations (default
            ``SNNC_MAX_MEMORY`` or 8 GiB).

    Returns:
        The graph and the spec origin of each node.

    Raises:
        SpecError: every wiring, shape or size problem found, located in the spec.
    """
    spec, source = loaded.spec, loaded.source
    ex = _Expander(loaded)
    input_name = spec.input.name
    layers = [(layer, ("layers", i)) for i, layer in enumerate(spec.layers)]
    out = ex.scope(layers, "", input_name, input_name, loaded.params, (), "", None)
    if ex.problems:
        raise SpecError(ex.problems)
    outputs = list(spec.outputs) if spec.outputs else [out]
    names = {it.name for it in ex.items} | {input_name}
    for j, o in enumerate(spec.outputs or []):
        if o not in names:
            ex.problem(("outputs", j), f"output '{o}' is not a node.{did_you_mean(o, names)}")
    items, cycle = _order(ex.items, input_name)
    if cycle:
        first = next(it for it in ex.items if it.name == cycle[0])
        ex.problem(first.origin.path + ("inputs",), "the layers form a cycle: " + " → ".join(reversed(cycle)),
                   "a layer cannot depend (directly or indirectly) on itself; fix 'inputs'")
    if ex.problems:
        raise SpecError(ex.problems)

    ctx = {"neuron": spec.neuron}
    nodes: list[Any] = [Input(name=input_name, shape=tuple(spec.input.shape), value_range=spec.input.range)]
    shapes: dict[str, tuple] = {input_name: tuple(spec.input.shape)}
    origins: dict[str, Origin] = {input_name: Origin(("input", "shape"))}
    broken: set[str] = set()
    problems: list[Diagnostic] = []
    for it in items:
        if any(i in broken for i in it.inputs):
            broken.add(it.name)
            continue
        in_shapes = [shapes[i] for i in it.inputs]
        layer_data_fields = set(type(it.layer).model_fields)
        try:
            if it.slice_of is not None:
                dim, start, stop = it.slice_of
                node = Slice(name=it.name, inputs=tuple(it.inputs), dim=dim, start=start, stop=stop)
            else:
                node = LOWER_LAYER[it.layer.kind](it.layer, in_shapes, ctx, {"name": it.name, "inputs": tuple(it.inputs)})
            shape = infer_shape(node, [shapes[i] for i in node.inputs])
        except (ShapeProblem, _LowerProblem) as exc:
            broken.add(it.name)
            fld = exc.field if exc.field in layer_data_fields else ""
            if it.slice_of is not None and fld == "stop":
                fld = "sizes"
            path = it.origin.path + ((fld,) if fld else ())
            where = f"'{it.name}' ({it.layer.kind}): "
            hint = exc.hint + (f" (in block instance '{it.origin.via}')" if it.origin.via else "")
            problems.append(source.diagnostic(path, where + exc.message, hint))
            continue
        node = node.model_copy(update={"shape": shape})
        nodes.append(node)
        shapes[it.name] = shape
        origins[it.name] = it.origin
    if problems:
        raise SpecError(problems)

    graph = Graph(name=spec.name, nodes=tuple(nodes), outputs=tuple(outputs), timesteps=spec.timesteps,
                  encoding=Encoding(**spec.encoding.model_dump()), decoding=Decoding(kind=spec.decoding.kind),
                  task=Task(kind=spec.task.kind, classes=spec.task.classes))
    _check_memory(graph, origins, source, max_memory if max_memory is not None else max_memory_from_env())
    _check_task(graph, origins, source)
    internal = verify(graph)
    if internal:
        raise InternalError("the front end built an invalid graph: " + "; ".join(map(str, internal)))
    return FrontendResult(graph=graph, origins=origins)


def _check_task(graph: Graph, origins: dict[str, Origin], source) -> None:
    if graph.task.kind != "classification" or len(graph.outputs) != 1:
        return
    out = graph.node(graph.outputs[0])
    if tuple(out.shape) != (graph.task.classes,):
        raise SpecError([source.diagnostic(origins[out.name].path, f"the output '{out.name}' gives shape "
                                                                   f"{list(out.shape)}, but the task has "
                                                                   f"{graph.task.classes} classes",
                                           f"end with a layer of {graph.task.classes} outputs (e.g. linear "
                                           f"out_features: {graph.task.classes}) or fix task.classes")])


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def _check_memory(graph: Graph, origins: dict[str, Origin], source, limit: int) -> None:
    costs = graph_costs(graph)
    params = sum(c.params for c in costs.values()) * BYTES_PER_VALUE
    acts = sum(c.activations for c in costs.values()) * BYTES_PER_VALUE
    problems = []
    for what, total, key in (("parameters", params, "params"), ("activations of one sample", acts, "activations")):
        if total > limit:
            name, worst = max(costs.items(), key=lambda kv: getattr(kv[1], key))
            problems.append(source.diagnostic(
                origins[name].path, f"the model's {what} would need {_gib(total)} (float32), over the limit of "
                                    f"{_gib(limit)}; the largest is '{name}' with {getattr(worst, key):,} values",
                "check the sizes for a typo, or raise the limit with --max-memory / SNNC_MAX_MEMORY"))
    if problems:
        raise SpecError(problems)
