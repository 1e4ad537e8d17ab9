"""A small structural JSON Schema checker for the keywords schemas/decision-record.schema.json uses
(type, const, enum, required, properties, additionalProperties: false, items, pattern, minimum, maximum,
minLength, maxLength, local $ref, oneOf). `jsonschema` is not a project dependency; this is enough to hold
the records to their published schema, and its own tests prove it rejects what it should."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "decision-record.schema.json"

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def load_schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text("utf-8")))


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return type(value) is int
    if name == "number":
        return type(value) in (int, float)
    return type(value) is _TYPES[name]


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of `schema` by `value` (empty = valid)."""
    out: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        out += errors(value, target, root, path)
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not errors(value, s, root, path)]
        if len(ok) != 1:
            out.append(f"{path}: matches {len(ok)} of oneOf, need exactly 1")
    if "type" in schema and not _is_type(value, schema["type"]):
        out.append(f"{path}: {value!r} is not of type {schema['type']}")
        return out
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: {value!r} != const {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1 << 60):
            out.append(f"{path}: length {len(value)} out of bounds")
    if type(value) is int:
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}: missing required {key!r}")
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                out += errors(sub, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{path}: unexpected property {key!r}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += errors(item, schema["items"], root, f"{path}[{i}]")
    return out


def validate(value: Any, definition: str | None = None) -> None:
    """Assert `value` is a valid decision record (or a valid `$defs/<definition>`)."""
    root = load_schema()
    schema = root if definition is None else root["$defs"][definition]
    problems = errors(value, schema, root)
    assert not problems, "\n".join(problems)
