"""The OpenAPI document says exactly what the server accepts (issue 8): the precision pass over ninja's output.

The strict input types (vanguard.api_support.schemas) carry their own JSON Schema; this pass fixes what
ninja and Pydantic write in general and would otherwise be wrong for every field alike:
- the `Money` component that every response amount refers to;
- query and header parameters are never nullable: an absent one is "no filter" or "no precondition", and
  neither a query string nor a header can carry null;
- `"default": null` is dropped from a property that does not accept null (an optional field that must be omitted,
  not sent as null);
- a request string without a pattern or format refuses NUL (the parser answers 422 for NUL anywhere, since
  PostgreSQL text cannot hold it);
- component schemas nothing refers to are removed.
"""

from __future__ import annotations

import json
from typing import Any

from vanguard.api_support.schemas import MONEY_COMPONENT, MONEY_MARKER, MONEY_REF, NO_NUL_PATTERN

_REF = "#/components/schemas/"


def _accepts_null(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "null" or (isinstance(schema.get("type"), list) and "null" in schema["type"]):
        return True
    return any(_accepts_null(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if "anyOf" not in schema or len(options) == len(schema["anyOf"]):
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**options[0], **rest} if len(options) == 1 else {**rest, "anyOf": options}


def _no_nul(schema: Any) -> None:
    """Add the NUL-free pattern to every free string in `schema` (in place)."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and not ({"pattern", "format", "enum", "const"} & schema.keys()):
            schema["pattern"] = NO_NUL_PATTERN
        for value in schema.values():
            _no_nul(value)
    elif isinstance(schema, list):
        for value in schema:
            _no_nul(value)


def _money_refs(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(MONEY_MARKER):
            return {"$ref": MONEY_REF}
        return {key: _money_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_money_refs(value) for value in node]
    return node


def _refs(node: Any) -> set[str]:
    return {part.split('"')[0] for part in json.dumps(node).split(f'"$ref": "{_REF}')[1:]}


def _closure(names: set[str], components: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in components:
            continue
        seen.add(name)
        todo.extend(_refs(components[name]))
    return seen


def refine(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _money_refs(schema)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Money"] = dict(MONEY_COMPONENT)
    request_components: set[str] = set()
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("query", "header"):
                    parameter["schema"] = _without_null(parameter.get("schema", {}))
                if parameter.get("in") in ("query", "path"):
                    _no_nul(parameter.get("schema"))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                request_components |= _refs(content)
                _no_nul(content.get("schema"))
    for name in _closure(request_components, components):
        _no_nul(components[name])
    for component in components.values():
        for prop in component.get("properties", {}).values():
            if "default" in prop and prop["default"] is None and not _accepts_null(prop):
                del prop["default"]
    used = _closure(_refs(schema.get("paths", {})), components)
    for name in list(components):
        if name not in used:
            del components[name]
    return schema
