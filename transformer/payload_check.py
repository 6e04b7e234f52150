"""Check payloads and output events against the JSON Schemas a mapping names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import relevance

from .errors import PayloadError, short_repr

__all__ = ["SchemaCheck"]


class SchemaCheck:
    """A compiled validator for one schema; `errors` lists each violation as a `PayloadError`."""

    def __init__(self, path: Path, rule: str) -> None:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
        cls = jsonschema.validators.validator_for(schema)
        self.validator = cls(schema)
        self.rule = rule
        self.name = path.name

    def errors(self, instance: Any) -> list[PayloadError]:
        """Every violation, most relevant first."""
        found = sorted(self.validator.iter_errors(instance), key=relevance)
        return [PayloadError(self.rule, error.json_path,
                             f"does not match {self.name}: {_message(error)}") for error in found]


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        extra = sorted(set(error.instance) - allowed)
        return f"key{'s' if len(extra) > 1 else ''} not allowed: {', '.join(extra)}"
    if error.validator in ("type", "enum", "const", "not", "minLength", "pattern", "minimum"):
        return f"{short_repr(error.instance)}: {error.message.split(' is ', 1)[-1]}" \
            if " is " in error.message else error.message
    return error.message
