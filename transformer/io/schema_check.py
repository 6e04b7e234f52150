"""The JSON Schemas a mapping names: read and checked once per content, and payloads and output
events checked against them.

Checking a schema against its metaschema is the costly part of loading a mapping (about a
fifth of a second for the 2,300-line Customer.io schema), so each distinct text is checked once
(`checked.py`: in this process, and across runs of the command line). jsonschema is imported
only when something is checked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PayloadError, describe_value, short_repr
from .checked import checked_key, is_checked, remember_checked

if TYPE_CHECKING:
    import jsonschema

__all__ = ["SchemaCheck", "SchemaFile", "SchemaFileError", "read_schema_file", "trust_schema_digests"]


class SchemaFileError(ValueError):
    """A schema file that is not JSON, or not a valid JSON Schema: `str()` says which, to follow
    the file's name (`x.json is not readable JSON: …`)."""


@dataclass(frozen=True, slots=True, eq=False)
class SchemaFile:
    """A JSON Schema read from a file: where, its text, that text's SHA-256, the document."""

    path: Path
    raw: bytes
    digest: str
    document: Any

    @property
    def name(self) -> str:
        return self.path.name


def read_schema_file(path: Path, raw: bytes | None = None) -> SchemaFile:
    """Parse a schema (from `raw` when given, else from `path`) and check it against its
    metaschema, unless a text with the same SHA-256 was found valid before in this process.
    A UTF-8 byte order mark is accepted. Raises `OSError`, or `SchemaFileError` saying what
    is wrong."""
    raw = path.read_bytes() if raw is None else raw
    digest = hashlib.sha256(raw).hexdigest()
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except ValueError as exc:  # UnicodeDecodeError is one
        raise SchemaFileError(f"not readable JSON: {exc}") from None
    if not is_checked(_schema_key(digest)):
        import jsonschema

        try:
            jsonschema.validators.validator_for(document).check_schema(document)
        except jsonschema.SchemaError as exc:
            raise SchemaFileError(f"not a valid JSON Schema: {exc.message}") from None
        remember_checked(_schema_key(digest))
    return SchemaFile(path, raw, digest, document)


def trust_schema_digests(digests: list[str]) -> None:
    """Remember texts as valid schemas without checking them, in this process only (one that
    receives a mapping compiled and checked elsewhere)."""
    for digest in digests:
        remember_checked(_schema_key(digest), persist=False)


def _schema_key(digest: str) -> str:
    return checked_key("schema", digest.encode())


class SchemaCheck:
    """A compiled validator for one schema; `errors` lists each violation as a `PayloadError`."""

    def __init__(self, schema: SchemaFile, rule: str) -> None:
        import jsonschema

        document = schema.document
        self.validator = jsonschema.validators.validator_for(document)(document)
        self.rule = rule
        self.name = schema.name

    def errors(self, instance: Any) -> list[PayloadError]:
        """Every violation, most relevant first; a missing required key is reported at its own
        path (`$.data.subject`), so that every error names the field to look at."""
        from jsonschema.exceptions import relevance

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
        from jsonschema.exceptions import relevance

        first = [sub for sub in error.context or [] if sub.relative_schema_path[0] == 0]
        found = [v for sub in sorted(first, key=relevance) for v in _violations(sub)]
        return found or [(here, f"matches none of the allowed shapes: {got}")]
    return [(here, error.message)]


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
