"""The spec's JSON Schema, for editors (``snnc schema``; kept current in ``specs/schema.json`` by a test).

Why the post-processing: inside blocks and with spec ``params``, any number or boolean may be written as a
``${expr}`` string, so the schema admits such strings wherever it admits a number or a boolean.
"""

from __future__ import annotations

import json
from typing import Any

from .models import LAZY_SECTIONS, Spec

TEMPLATE = {"type": "string", "pattern": r"^\$\{.+\}$", "description": "a ${parameter expression}"}


def _allow_templates(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _allow_templates(v) for k, v in node.items()}
        if node.get("type") in ("integer", "number", "boolean"):
            scalar = dict(node)
            keep = {k: scalar.pop(k) for k in ("title", "description", "default") if k in scalar}
            return {**keep, "anyOf": [scalar, TEMPLATE]}
        return node
    if isinstance(node, list):
        return [_allow_templates(v) for v in node]
    return node


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file."""
    schema = Spec.model_json_schema()
    for name, loader in LAZY_SECTIONS.items():  # their fields are typed Any: put the real schemas in
        section = loader().model_json_schema(ref_template="#/$defs/{model}")
        schema.setdefault("$defs", {}).update(section.pop("$defs", {}))
        schema["$defs"][section["title"]] = section
        field = schema["properties"][name]
        field["anyOf"] = [{"$ref": f"#/$defs/{section['title']}"}, {"type": "null"}]
        field.pop("title", None)
    schema = _allow_templates(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "snnc spec"
    return schema


def spec_json_schema_text() -> str:
    """The schema as stable, pretty-printed JSON text (what ``specs/schema.json`` holds)."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
