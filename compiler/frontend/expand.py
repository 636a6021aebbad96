"""Expansion: the spec's layers become a flat list of items with full names and resolved inputs.

Block instances become their layers (``repeat`` copies named ``<name>.<k>``), names get their scope prefix
(``layer1.0.conv1``), ``when: false`` layers become aliases of their input and ``split`` becomes slices. Every
problem is collected (dangling references get a did-you-mean) so that one run reports them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, SpecError, did_you_mean
from ..spec import models as m
from ..spec.load import LoadedSpec, validate_layer
from ..spec.templating import TemplateProblem, substitute

MAX_NODES = 50_000
"""Largest number of IR nodes a spec may expand to."""


@dataclass
class Origin:
    """Where a node came from: its layer's spec path and, for block contents, the instance that made it."""

    path: tuple
    via: str = ""


@dataclass
class Item:
    """One node to be: its full name, its layer, its inputs (as written, then resolved) and where it came from."""

    name: str
    layer: Any
    local_inputs: list[str]
    scope: dict
    origin: Origin
    slice_of: tuple[int, int, int] | None = None  # (dim, start, stop) for split parts
    inputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Alias:
    """A name that stands for another (a ``when: false`` layer passes its input through)."""

    target: str


@dataclass
class Scope:
    """One list of layers being expanded: its name prefix, its name table and the items it made so far.

    Why: the layers of a scope share these, and each step of :meth:`Expander.scope` reads or extends them.
    """

    prefix: str
    input_name: str
    params: dict
    stack: tuple[str, ...]
    via: str
    local: dict[str, Any]
    items: list[Item] = field(default_factory=list)


class Expander:
    """Expands the spec's layers into a flat list of items with full names and resolved inputs."""

    def __init__(self, loaded: LoadedSpec):
        self.loaded = loaded
        self.spec = loaded.spec
        self.source = loaded.source
        self.items: list[Item] = []
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
        sc = Scope(prefix, input_name, params, stack, via, {input_name: input_ref, **(extra_inputs or {})})
        problems_before = len(self.problems)
        prev: str | None = input_name
        for idx, (layer, path) in enumerate(layers):
            if len(self.items) > MAX_NODES:
                self.problem(path, f"the spec expands to more than {MAX_NODES:,} nodes", "reduce 'repeat' counts",
                             via)
                return None
            prev = self.layer(sc, layers, idx, prev)
        self.resolve_inputs(sc)
        out_local = output_name if output_name is not None else prev
        if out_local is None:
            if len(self.problems) > problems_before:
                return None  # already explained by the layer that broke the chain
            self.problem(output_path or layers[-1][1], "the last layer is a split: say which part is the output",
                         "set 'output' to one of its parts, e.g. name.0", via)
            return None
        out = self.resolve(out_local, sc.local)
        if out is None:
            self.problem(output_path, f"output '{out_local}' is not defined.{did_you_mean(out_local, sc.local)}", "",
                         via)
        return out

    def layer(self, sc: Scope, layers: list[tuple[Any, tuple]], idx: int, prev: str | None) -> str | None:
        """Expand the layer ``layers[idx]`` into ``sc``; returns the local name the next layer takes by default
        (``prev`` unchanged when the layer is broken, None after a split)."""
        layer, path = layers[idx]
        via, local = sc.via, sc.local
        lname = layer.name or (f"{layer.block}_{idx}" if layer.kind == "block" else f"{layer.kind}_{idx}")
        if lname in local:
            self.problem(path + ("name",), f"duplicate name '{lname}'",
                         "give each layer a unique name" + (" (the input is called "
                                                            f"'{sc.input_name}')" if lname == sc.input_name else ""),
                         via)
            return prev
        if layer.inputs is None and prev is None:
            self.problem(path, "the previous layer is a split, so this layer must say which part it takes",
                         f"add 'inputs: [{layers[idx - 1][0].name}.0]' (or .1, ...)", via)
            return prev
        ins = list(layer.inputs) if layer.inputs is not None else [prev]
        full = f"{sc.prefix}.{lname}" if sc.prefix else lname
        if not layer.when:
            if not ins:
                self.problem(path + ("inputs",), "a layer with 'when: false' needs an input to pass through", "",
                             via)
                return prev
            local[lname] = Alias(ins[0])
        elif layer.kind == "block":
            if not self.instance(sc, layer, path, lname, full, ins):
                return prev
        elif layer.kind == "split":
            self.split(sc, layer, path, lname, full, ins)
            return None
        else:
            size_ref = [layer.like] if getattr(layer, "like", None) else []  # lends only its size
            sc.items.append(Item(full, layer, ins + size_ref, local, Origin(path, via)))
            self.items.append(sc.items[-1])  # in spec order, a nested block's nodes where its instance stands
            local[lname] = full
        return lname

    def instance(self, sc: Scope, layer: m.BlockLayer, path: tuple, lname: str, full: str, ins: list) -> bool:
        """Expand a block instance fed by its one input; names ``lname`` (its last copy) and ``lname.<k>`` (each
        copy) in ``sc``. Returns False when broken (the problem is recorded)."""
        src = self.resolve(ins[0], sc.local) if len(ins) == 1 else None
        if len(ins) != 1:
            self.problem(path + ("inputs",), f"a block instance takes exactly one input, got {len(ins)}",
                         "give one name in 'inputs'", sc.via)
            return False
        if src is None:
            self.problem(path + ("inputs",), f"unknown input '{ins[0]}' (a block's input must be defined "
                                             f"above it).{did_you_mean(ins[0], sc.local)}", "", sc.via)
            return False
        outs = self.block(layer, path, full, src, sc.params, sc.stack, sc.local)
        if outs is None:
            return False
        sc.local.update({f"{lname}.{k}": out for k, out in enumerate(outs)})
        sc.local[lname] = outs[-1]
        return True

    def split(self, sc: Scope, layer: m.SplitLayer, path: tuple, lname: str, full: str, ins: list) -> None:
        """A split becomes one slice item per part, each named ``lname.<k>`` in ``sc``."""
        offset = 0
        for k, size in enumerate(layer.sizes):
            part = Item(f"{full}.{k}", layer, ins, sc.local, Origin(path, sc.via),
                        slice_of=(layer.dim, offset, offset + size))
            sc.items.append(part)
            self.items.append(part)
            sc.local[f"{lname}.{k}"] = part.name
            offset += size

    def resolve_inputs(self, sc: Scope) -> None:
        """Resolve the inputs of the scope's items now that every name in it is known (a layer may take one
        defined below it); a dangling reference is located at the ``inputs`` entry (or ``like``) naming it."""
        local, via = sc.local, sc.via
        for item in sc.items:
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

    @staticmethod
    def resolve(ref: str, local: dict) -> str | None:
        """The full name ``ref`` stands for in ``local``, following aliases (None if undefined or circular)."""
        seen = set()
        while True:
            if ref in seen or ref not in local:
                return None
            seen.add(ref)
            target = local[ref]
            if isinstance(target, Alias):
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
