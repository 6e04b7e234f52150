"""What a JSON Schema says can be where: the declared keys, item shapes and types of each node.

Every branch (`allOf`, `anyOf`, `oneOf`, `if`/`then`/`else`, `$ref`) is merged, so a key is
"known" when any branch declares it. Lint uses this to tell a typo (`data.identifers`) from a
real path, and a closed object (`additionalProperties: false`) from an open one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Shape", "shape_of"]


@dataclass(slots=True)
class Shape:
    """The merged description of one place in a document."""

    properties: dict[str, Shape] = field(default_factory=dict)
    items: Shape | None = None
    types: set[str] = field(default_factory=set)
    closed: bool = False
    values: list[Any] = field(default_factory=list)

    def may_be(self, *kinds: str) -> bool:
        """Whether the schema allows any of these JSON types here (no types: anything)."""
        return not self.types or any(k in self.types for k in kinds)


def shape_of(schema: Any) -> Shape:
    """The shape of a whole document described by `schema`."""
    return _Builder(schema).build(schema, ())


class _Builder:
    def __init__(self, root: Any) -> None:
        self.root = root

    def resolve(self, ref: str) -> Any:
        node = self.root
        for part in ref.lstrip("#").strip("/").split("/") if ref not in ("#", "") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node

    def build(self, schema: Any, seen: tuple[int, ...]) -> Shape:
        shape = Shape()
        self.merge(shape, schema, seen)
        return shape

    def merge(self, shape: Shape, schema: Any, seen: tuple[int, ...]) -> None:
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen = (*seen, id(schema))
        if isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#"):
            self.merge(shape, self.resolve(schema["$ref"]), seen)
        kinds = schema.get("type")
        if isinstance(kinds, str):
            shape.types.add(kinds)
        elif isinstance(kinds, list):
            shape.types.update(k for k in kinds if isinstance(k, str))
        if "const" in schema:
            shape.values.append(schema["const"])
        if isinstance(schema.get("enum"), list):
            shape.values.extend(schema["enum"])
        if schema.get("additionalProperties") is False:
            shape.closed = True
        for key, sub in (schema.get("properties") or {}).items():
            child = shape.properties.setdefault(key, Shape())
            self.merge(child, sub, seen)
        items = schema.get("items")
        if isinstance(items, dict):
            shape.items = shape.items or Shape()
            self.merge(shape.items, items, seen)
        for keyword in ("allOf", "anyOf", "oneOf"):
            for branch in schema.get(keyword) or []:
                self.merge(shape, branch, seen)
        for keyword in ("then", "else"):
            self.merge(shape, schema.get(keyword), seen)
