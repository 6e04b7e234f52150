"""Check a spec against `schemas/mapping.schema.json`, worded for people, located in the YAML.

jsonschema's own messages ("Additional properties are not allowed ('fromm' was unexpected)")
become "unknown key 'fromm' (did you mean 'from'?) (known: …)", at the key's line and column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..data import data_file
from ..errors import Problem, did_you_mean, format_rule_path, json_type
from ..io.checked import checked_key, is_checked, remember_checked
from .yaml_source import SourceIndex

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

__all__ = ["check_spec_schema", "spec_validator"]

_YAML_NAMES = {"object": "mapping", "array": "list"}  # what a spec author calls them


@lru_cache(maxsize=1)
def spec_validator() -> jsonschema.protocols.Validator:
    """The validator for mapping specs (the schema ships with the package; a test checks it
    against its metaschema, so that loading a mapping does not have to)."""
    import jsonschema

    schema = json.loads(_spec_schema_text())
    return jsonschema.validators.validator_for(schema)(schema)


@lru_cache(maxsize=1)
def _spec_schema_text() -> bytes:
    return data_file("schemas", "mapping.schema.json").read_bytes()


def check_spec_schema(data: Any, index: SourceIndex, text: str = "") -> list[Problem]:
    """Every schema problem in `data`, located and worded. `text`, the YAML `data` was read
    from: a text that passed before (`io/checked.py`) is not checked again."""
    key = checked_key("spec", _spec_schema_text(), text.encode()) if text else None
    if key is not None and is_checked(key):
        return []
    problems: list[Problem] = []
    for error in spec_validator().iter_errors(data):
        for problem in _translate(_deepest(error), index):
            if problem not in problems:
                problems.append(problem)
    if key is not None and not problems:
        remember_checked(key)
    return problems


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the branch error that says most."""
    from jsonschema.exceptions import best_match

    while error.context:
        error = best_match(error.context)
    return error


def _translate(error: ValidationError, index: SourceIndex) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    rule = format_rule_path(path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        for key in sorted(set(instance) - set(known)):
            if schema.get("x-kind") == "filter":
                message = _unknown_filter(key, known)
            else:
                listed = f" (known: {', '.join(known)})" if known else ""
                message = f"unknown key '{key}'{did_you_mean(key, known)}{listed}"
            yield index.problem((*path, key), format_rule_path((*path, key)), message, at_key=True)
        return
    if kind == "enum" and schema.get("x-kind") == "filter":
        yield index.problem(path, rule, _unknown_filter(str(instance), list(schema["enum"])))
        return
    yield index.problem(path, rule, _message(error))


def _unknown_filter(name: str, known: list[str]) -> str:
    return f"unknown filter '{name}'{did_you_mean(name, known)} (known: {', '.join(sorted(known))})"


def _message(error: ValidationError) -> str:
    kind, instance = error.validator, error.instance
    value: Any = error.validator_value
    schema: Any = error.schema
    got = json_type(instance, integer=True)
    got = _YAML_NAMES.get(got, got)
    if kind == "type":
        wanted = [value] if isinstance(value, str) else list(value)
        words = " or ".join({"object": "a mapping", "array": "a list", "string": "a string",
                             "integer": "a whole number", "number": "a number",
                             "boolean": "true or false", "null": "nothing"}.get(w, w) for w in wanted)
        return f"expected {words}, got {got}"
    if kind == "required":
        missing = [k for k in value if k not in instance] if isinstance(instance, dict) else value
        return f"missing required key{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
    if kind == "enum":
        return f"{json.dumps(instance)} is not one of: {', '.join(json.dumps(v) for v in value)}"
    if kind == "const":
        return f"must be {json.dumps(value)}, got {json.dumps(instance)}"
    if kind == "pattern":
        return (f"{json.dumps(instance)} is not a valid name"
                " (letters, digits and '_', not starting with a digit)")
    if kind in ("minProperties", "maxProperties") and schema.get("x-kind") == "filter":
        return "a filter is a bare name or a mapping with one key: {name: arguments}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "minItems":
        return f"needs at least {value} item{'s' if value != 1 else ''}"
    return str(error.message)
