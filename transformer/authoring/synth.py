"""Build a plausible document for a JSON Schema, with some fields fixed: lint's coverage check
makes one payload per combination of discriminator values (object_type x metric) this way and
keeps the combinations whose payload the schema accepts.

Every declared property is filled (not only the required ones), so that a payload carries ids,
devices and the like; `if`/`then`/`else` branches are applied as the document takes shape.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import jsonschema

from ..spec.patterns import candidate_values

__all__ = ["allowed_combinations", "synthesize"]

_PREFERENCE = ("object", "string", "integer", "number", "boolean", "array")


class _Synth:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.validator = jsonschema.validators.validator_for(root)(root)

    def resolve(self, schema: Any) -> Any:
        depth = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < 20:
            node: Any = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) and part else node
            schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
            depth += 1
        return schema

    def holds(self, schema: Any, instance: Any) -> bool:
        """Whether `instance` fits a subschema (its `$ref`s resolved against the root)."""
        return isinstance(schema, dict) and bool(self.validator.evolve(schema=schema).is_valid(instance))

    def value(self, schema: Any, depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or depth > 12:
            return "lint-sample"
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
        for keyword in ("anyOf", "oneOf"):
            branches = schema.get(keyword)
            if isinstance(branches, list) and branches and "type" not in schema:
                usable = [b for b in branches if self.resolve(b).get("type") != "null"] or branches
                return self.value(usable[0], depth + 1)
        kinds = schema.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
        looks_like_object = any(k in schema for k in ("properties", "required", "allOf", "if"))
        kind = next((k for k in _PREFERENCE if k in kinds),
                    "object" if looks_like_object else ("string" if not kinds else kinds[0]))
        if kind == "object":
            return self.fill({}, schema, depth + 1)
        if kind == "array":
            items = schema.get("items")
            return [self.value(items, depth + 1)] if isinstance(items, dict) else []
        if kind == "integer":
            return int(schema.get("minimum", 1_700_000_000))
        if kind == "number":
            return float(schema.get("minimum", 1.5))
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return "lint-sample"

    def fill(self, instance: dict[str, Any], schema: Any, depth: int = 0) -> dict[str, Any]:
        """Add every property `schema` declares (applying branches that hold) to `instance`."""
        for _ in range(4):
            before = repr(instance)
            for branch in self.branches(schema, instance):
                for key, sub in (branch.get("properties") or {}).items():
                    if key not in instance:
                        instance[key] = self.value(sub, depth)
                    elif isinstance(instance[key], dict):
                        resolved = self.resolve(sub)
                        if isinstance(resolved, dict):
                            self.fill(instance[key], resolved, depth + 1)
            if repr(instance) == before:
                break
        return instance

    def branches(self, schema: Any, instance: Any) -> Iterator[dict[str, Any]]:
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return
        yield schema
        for branch in schema.get("allOf") or []:
            yield from self.branches(branch, instance)
        for keyword in ("anyOf", "oneOf"):
            choices = schema.get(keyword)
            if isinstance(choices, list) and choices:  # the first branch that fits, else the first
                fitting = [c for c in choices if self.holds(c, instance)]
                yield from self.branches((fitting or choices)[0], instance)
        if isinstance(schema.get("if"), dict):
            chosen = schema.get("then") if self.holds(schema["if"], instance) else schema.get("else")
            if chosen is not None:
                yield from self.branches(chosen, instance)


def synthesize(schema: dict[str, Any], fixed: dict[str, Any]) -> Any:
    """A document for `schema` with the `fixed` top-level values, every declared key filled."""
    return _Synth(schema).fill(dict(fixed), schema)


def allowed_combinations(schema: dict[str, Any], names: Sequence[str]) -> list[tuple[tuple[Any, ...], Any]]:
    """Each combination of the named fields' values that the schema accepts, with its payload."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    values = [candidate_values(schema, name) for name in names]
    out = []
    for combo in itertools.product(*values):
        payload = synthesize(schema, dict(zip(names, combo, strict=True)))
        if validator.is_valid(payload):
            out.append((combo, payload))
    return out
