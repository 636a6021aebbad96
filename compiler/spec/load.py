"""Loading a spec: safe YAML → parameter substitution → pydantic validation, every problem located.

Pydantic's errors are turned into :class:`~snnc.compiler.errors.Diagnostic` objects with the spec path written
the user's way (``layers[3].kernel_size``), the file position, the source line, and a fix — including
did-you-mean suggestions for unknown keys and kinds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import Diagnostic, SpecError, did_you_mean
from . import models
from .models import LAYER_KINDS, Spec
from .templating import TemplateProblem, substitute
from .yaml_source import SpecSource, parse_yaml, read_spec_text

BUNDLED_SPECS_PACKAGE = "snnc.specs"
"""The package whose ``*.yaml`` files are the bundled model zoo (installed with snnc)."""

_BARE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A spec argument without a folder (``mnist_fc``, ``resnet18.yaml``): a bundled spec when no such file exists."""



@lru_cache(maxsize=1)
def _layer_adapter() -> TypeAdapter:
    """The validator of one layer, built on first use (only specs with blocks need it; building it at import
    would double the schema work of every ``snnc validate``)."""
    return TypeAdapter(models.Layer)


@dataclass
class LoadedSpec:
    """A validated spec with its source (for locating later problems, e.g. shape errors).

    Attributes:
        spec: the validated model.
        source: text, file name and positions.
        params: the spec-wide parameters after overrides.
        data: the substituted plain data (blocks still raw), as validated.
        raw: the data as written (merged with the specs it extends).
        overrides: the parameter values given over the spec's own (what rebuilds this spec from its text).
    """

    spec: Spec
    source: SpecSource
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def document_text(self) -> str:
        """Self-contained YAML of this spec: the file's text, or for a spec that ``extends`` another (or was
        given as data) the merged document, so that an artifact can be rebuilt without the other files."""
        if self.source.text and not self.source.delegates:
            return self.source.text
        import yaml

        header = f"# {self.source.file}, merged with the specs it extends\n" if self.source.delegates else ""
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        return header + yaml.dump(self.raw, Dumper=dumper, sort_keys=False, allow_unicode=True)


def _fields_of(data: Any, path: tuple, root: type[BaseModel]) -> list[str]:
    """Field names allowed at ``path`` inside ``data`` (for did-you-mean on unknown keys)."""
    model: Any = _layer_model(data.get("kind")) if isinstance(data, dict) and root is not Spec else root
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return []
        if isinstance(part, str) and model is not None:
            info = model.model_fields.get(part)
            lazy = models.LAZY_SECTIONS.get(part) if model is Spec else None
            model = lazy() if lazy else _model_in(info.annotation) if info else None
        if isinstance(node, dict) and "kind" in node and _layer_model(node["kind"]) is not None:
            model = _layer_model(node["kind"])
    return list(model.model_fields) if model is not None else []


_LAYER_MODELS = (models.Conv2dLayer, models.LinearLayer, models.BatchNormLayer, models.PoolLayer,
                 models.AdaptivePoolLayer, models.ActivationLayer, models.SpikeLayer, models.ReshapeLayer,
                 models.SliceLayer, models.SplitLayer, models.DropoutLayer, models.MergeLayer, models.UpsampleLayer,
                 models.SimpleLayer, models.BlockLayer)


def _layer_model(kind: Any) -> type[BaseModel] | None:
    """The layer model whose ``kind`` literal admits ``kind``."""
    for cls in _LAYER_MODELS:
        if kind in getattr(cls.model_fields["kind"].annotation, "__args__", ()):
            return cls
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``NeuronSpec | None`` or ``list[Layer]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _user_path(loc: tuple, data: Any) -> tuple:
    """Drop pydantic's union-branch labels from ``loc``, keeping only steps that exist in the data."""
    out: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in node and not out[-1:] == [part]:
            # a missing field or an extra key: keep the name if it is a real field, not a union label
            if part.startswith(("function-", "list[", "tuple[", "literal[", "int", "float", "str", "bool",
                                "dict[", "nullable[")) or part in LAYER_KINDS:
                continue
            out.append(part)
            node = None
        else:
            continue
    return tuple(out)


def _message(err: dict, path: tuple, data: Any, root: type[BaseModel]) -> tuple[str, str, bool]:
    """(message, hint, point-at-key) for one pydantic error."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _fields_of(data, path[:-1], root)
        return (f"unknown key '{path[-1]}'.{did_you_mean(path[-1], allowed)}",
                "allowed keys here: " + ", ".join(allowed) if allowed else "remove it", True)
    if kind == "union_tag_invalid":
        tag = ctx.get("tag", "?")
        return (f"unknown layer kind '{tag}'.{did_you_mean(tag, LAYER_KINDS)}",
                "layer kinds: " + ", ".join(LAYER_KINDS), False)
    if kind == "union_tag_not_found":
        return ("this layer has no 'kind'", "add e.g. 'kind: conv2d' (kinds: " + ", ".join(LAYER_KINDS) + ")", False)
    if kind == "missing":
        return (f"missing required key '{path[-1]}'", f"add '{path[-1]}: ...'", False)
    if kind in ("greater_than", "greater_than_equal") and ctx:
        bound = ctx.get("gt", ctx.get("ge"))
        return (f"{err['msg'].lower()} (got {err.get('input')!r})", f"use a value {'>' if 'gt' in ctx else '≥'} {bound}",
                False)
    if kind == "literal_error":
        return (f"{err['msg']} (got {err.get('input')!r})", "use one of the listed values", False)
    if kind == "string_pattern_mismatch":
        return (f"'{err.get('input')}' is not a valid name", "names are letters, digits and '_' and do not start "
                "with a digit (dots only in references to nested names, e.g. layer1.0)", False)
    if kind == "value_error":
        return (err["msg"].removeprefix("Value error, "), "", False)
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    return (err["msg"] + shown, "", False)


def validation_diagnostics(exc: ValidationError, data: Any, source: SpecSource, prefix: tuple = (),
                           root: type[BaseModel] = Spec) -> list[Diagnostic]:
    """Turn a pydantic ``ValidationError`` on ``data`` into located diagnostics (one per path)."""
    seen: set[tuple] = set()
    out: list[Diagnostic] = []
    errors = [(err, _user_path(tuple(err["loc"]), data)) for err in exc.errors()]
    paths = [p for _, p in errors]
    for err, path in errors:
        if any(len(q) > len(path) and q[:len(path)] == path for q in paths) and err["type"] not in (
                "extra_forbidden", "missing"):
            continue  # one union branch failed shallowly, another pinpointed the value: keep the precise one
        if path in seen:
            continue  # several union branches failing on one value: report it once
        seen.add(path)
        message, hint, key = _message(err, path, data, root)
        out.append(source.diagnostic(prefix + path, message, hint, key=key))
    return out


def validate_layer(raw: dict, source: SpecSource, path: tuple) -> Any:
    """Validate one layer mapping (used when a block is instantiated). Raises SpecError located at ``path``."""
    try:
        return _layer_adapter().validate_python(raw)
    except ValidationError as exc:
        raise SpecError(validation_diagnostics(exc, raw, source, path, root=Spec)) from None


def _substitute_layers(layers: Any, scope: dict[str, Any]) -> Any:
    """Substitute spec parameters into top-level layers, leaving block instances' ``args`` for instantiation
    (where the repeat index ``i`` is defined)."""
    if not isinstance(layers, list):
        return substitute(layers, scope, ("layers",))
    out = []
    for j, layer in enumerate(layers):
        if isinstance(layer, dict) and layer.get("kind") == "block":
            out.append({k: (v if k == "args" else substitute(v, scope, ("layers", j, k))) for k, v in layer.items()})
        else:
            out.append(substitute(layer, scope, ("layers", j)))
    return out


MAX_EXTENDS_DEPTH = 8
MERGED_SECTIONS = ("params", "blocks")
"""Sections merged entry by entry when a spec extends another; every other key replaces the base's."""


def _extend(data: dict, source: SpecSource, chain: tuple[str, ...] = ()) -> dict:
    """Merge ``data`` over the spec its ``extends`` key names (recursively), recording where values came from.

    The base is found relative to the extending file's folder. ``params`` and ``blocks`` are merged entry by
    entry (the extending file wins); any other key replaces the base's.

    Raises:
        SpecError: a missing base, an absolute path, a cycle or a chain deeper than :data:`MAX_EXTENDS_DEPTH`.
    """
    target = data.get("extends")
    if target is None:
        return data
    if not isinstance(target, str) or not target.endswith((".yaml", ".yml")) or Path(target).is_absolute():
        raise SpecError([source.diagnostic(("extends",), f"'extends' takes a relative path to a .yaml spec, got "
                                                         f"{target!r}", "e.g. 'extends: resnet50.yaml'")])
    folder = Path(source.file).parent if source.file not in ("<string>", "<dict>") else Path.cwd()
    path = (folder / target).resolve()
    if str(path) in chain or len(chain) >= MAX_EXTENDS_DEPTH:
        raise SpecError([source.diagnostic(("extends",), "'extends' forms a cycle or is nested more than "
                                                         f"{MAX_EXTENDS_DEPTH} deep: " + " → ".join(chain + (str(path),)),
                                           "make the chain of extended specs end")])
    if not path.is_file():
        raise SpecError([source.diagnostic(("extends",), f"the extended spec '{target}' does not exist "
                                                         f"(looked for {path})", "check the file name")])
    base_source = read_spec_text(path)
    base_source.file = str(Path(source.file).parent / target) if source.file not in ("<string>", "<dict>") else str(path)
    base = parse_yaml(base_source)
    if not isinstance(base, dict):
        raise SpecError([base_source.diagnostic((), "an extended spec must be a mapping of keys")])
    base = _extend(base, base_source, chain + (str(path),))
    merged: dict[str, Any] = {}
    for key, value in base.items():
        if key == "extends":
            continue
        merged[key] = value
        if key not in data:
            source.delegates[(key,)] = base_source
    for key, value in data.items():
        if key == "extends":
            continue
        if key in MERGED_SECTIONS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            for name in merged[key]:
                if name not in value:
                    source.delegates[(key, name)] = base_source
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def bundled_specs() -> dict[str, Path]:
    """The bundled spec files by name (file stem), sorted: ``{"colored_mnist_cnn": Path(...), ...}``.

    Empty when the ``snnc.specs`` package is not installed (the spec layer used on its own).
    """
    from importlib.resources import files

    try:
        folder = files(BUNDLED_SPECS_PACKAGE)
    except ModuleNotFoundError:
        return {}
    found = sorted((f for f in folder.iterdir() if f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name)
    return {f.name.rsplit(".", 1)[0]: Path(str(f)) for f in found}


def resolve_spec_path(spec: str | Path) -> Path:
    """Where a spec given by path or by bundled name lives: a file that exists always wins; a bare name
    (no folder; ``mnist_fc`` or ``mnist_fc.yaml``) that is not a file is the bundled spec of that name.

    Args:
        spec: a path, or the name of a bundled spec.

    Returns:
        The path to read.

    Raises:
        SpecError: no such file and no bundled spec of that name, with did-you-mean over the bundled names
            (or, for a missing path whose file name is a bundled spec, how to use the bundled one).
    """
    path = Path(spec)
    if path.is_file():
        return path
    text = str(spec)
    stem = path.name.rsplit(".", 1)[0] if path.name.endswith((".yaml", ".yml")) else path.name
    zoo = bundled_specs()
    if _BARE_NAME.match(text):
        if stem in zoo:
            return zoo[stem]
        listing = f" Bundled specs: {', '.join(zoo)}." if zoo else ""
        raise SpecError([Diagnostic(f"no spec file at '{text}' and no bundled spec named '{stem}'."
                                    f"{did_you_mean(stem, zoo)}",
                                    hint="give the path of a .yaml spec, or the name of a bundled spec"
                                         f" (snnc zoo lists them).{listing}", file=text)])
    if stem in zoo:
        raise SpecError([Diagnostic(f"no spec file at '{text}'",
                                    hint=f"check the path, or use the bundled spec by its name: '{stem}'",
                                    file=text)])
    return path  # read_spec_text reports the missing file


def _is_spec_reference(spec: str | Path) -> bool:
    """A :class:`Path`, or a one-line string that names a ``.yaml`` file or a bundled spec (not YAML text)."""
    if isinstance(spec, Path):
        return True
    if "\n" in spec:
        return False
    return spec.endswith((".yaml", ".yml")) or bool(_BARE_NAME.match(spec)) or Path(spec).is_file()


def load_spec(spec: str | Path | dict, params: dict[str, Any] | None = None, *, file: str | None = None) -> LoadedSpec:
    """Read and validate a spec.

    Args:
        spec: a path to a YAML file, the name of a bundled spec (``"mnist_fc"``; a file of that name wins),
            YAML text (a string containing a newline), or already-parsed data.
        params: overrides of the spec's ``params`` (unknown names are errors).
        file: the name to show in diagnostics for text input.

    Returns:
        The validated spec with its source.

    Raises:
        SpecError: every problem found, located.
    """
    if isinstance(spec, dict):
        source, data = SpecSource(text="", file=file or "<dict>"), spec
    else:
        if _is_spec_reference(spec):
            source = read_spec_text(resolve_spec_path(spec))
        else:
            source = SpecSource(text=str(spec), file=file or "<string>")
        data = parse_yaml(source)
    if isinstance(data, dict) and "extends" in data:
        data = _extend(data, source)
    if not isinstance(data, dict):
        raise SpecError([source.diagnostic((), f"a spec is a mapping of keys (name, input, layers, ...), not a "
                                               f"{type(data).__name__}", "start the file with 'name: my_model'")])
    declared = data.get("params") if isinstance(data.get("params"), dict) else {}
    overrides = dict(params or {})
    unknown = [k for k in overrides if k not in declared]
    if unknown:
        raise SpecError([source.diagnostic(("params",), f"unknown parameter '{k}'.{did_you_mean(k, declared)}",
                                           "parameters of this spec: " + (", ".join(declared) or "none"))
                         for k in unknown])
    scope = {**declared, **overrides}
    try:
        scope = {k: substitute(v, scope, ("params", k)) for k, v in scope.items()}
        resolved = {k: (v if k in ("blocks", "params") else substitute(v, scope, (k,))) for k, v in data.items()
                    if k != "layers"}
        if "layers" in data:
            resolved["layers"] = _substitute_layers(data["layers"], scope)
    except TemplateProblem as exc:
        raise SpecError([source.diagnostic(exc.path, exc.message, exc.hint)]) from None
    resolved["params"] = scope
    try:
        model = Spec.model_validate(resolved)
    except ValidationError as exc:
        raise SpecError(validation_diagnostics(exc, resolved, source)) from None
    return LoadedSpec(spec=model, source=source, params=scope, data=resolved, raw=data, overrides=overrides)
