"""Check payloads and output events against the JSON Schemas a mapping names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import relevance

from ..errors import PayloadError, describe_value, short_repr
from .jsonio import read_json_file

__all__ = ["SchemaCheck"]


class SchemaCheck:
    """A compiled validator for one schema; `errors` lists each violation as a `PayloadError`."""

    def __init__(self, path: Path, rule: str) -> None:
        schema = read_json_file(path)
        cls = jsonschema.validators.validator_for(schema)
        self.validator = cls(schema)
        self.rule = rule
        self.name = path.name

    def errors(self, instance: Any) -> list[PayloadError]:
        """Every violation, most relevant first; a missing required key is reported at its own
        path (`$.data.subject`), so that every error names the field to look at."""
        found = sorted(self.validator.iter_errors(instance), key=relevance)
        seen: dict[tuple[str, str], PayloadError] = {}
        for error in found:
            for path, message in _violations(error):
                seen.setdefault((path, message), PayloadError(
                    self.rule, path, f"does not match {self.name}: {message}"))
        return list(seen.values())


def _violations(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    kind, instance = error.validator, error.instance
    wanted: Any = error.validator_value
    here = error.json_path
    if kind == "required" and isinstance(instance, dict):
        return [(_child(here, key), "required key is missing")
                for key in wanted if key not in instance]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        extra = sorted(set(instance) - allowed)
        return [(here, f"key{'s' if len(extra) > 1 else ''} not allowed: {', '.join(extra)}")]
    got = describe_value(instance)
    if kind == "type":
        types = [wanted] if isinstance(wanted, str) else list(wanted)
        return [(here, f"expected {' or '.join(types)}, got {got}")]
    if kind == "enum":
        return [(here, f"expected one of {', '.join(short_repr(v) for v in wanted)}, got {got}")]
    if kind == "const":
        return [(here, f"expected {short_repr(wanted)}, got {got}")]
    if kind in ("minLength", "minimum"):
        unit = " characters" if kind == "minLength" else ""
        return [(here, f"expected at least {wanted}{unit}, got {got}")]
    if kind in ("oneOf", "anyOf"):
        # name what the first allowed shape lacks (`$.object_type` missing) rather than the
        # whole value; the first shape is the usual one in a schema that lists alternatives
        first = [sub for sub in error.context or [] if sub.relative_schema_path[0] == 0]
        found = [v for sub in sorted(first, key=relevance) for v in _violations(sub)]
        return found or [(here, f"matches none of the allowed shapes: {got}")]
    return [(here, error.message)]


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
