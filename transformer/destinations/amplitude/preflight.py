"""Check each event before any request: what Amplitude would refuse is set aside, with why.

The checks: `schemas/amplitude-event.schema.json` (event_type present and not reserved, user_id
or device_id present, blocked id values, types such as an integer `time`), and the id length
against `min_id_length` (Amplitude's default is 5). The schema is compiled once, two ways: a
quick check (`quick_check.py`) accepts the usual event in a fraction of the time, and
fastjsonschema decides every event the quick check does not accept, so that a refused event
gets its message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema

from ...errors import short_repr
from ...io.jsonio import read_json_file
from .quick_check import compile_quick_check

__all__ = ["AMPLITUDE_MIN_ID_LENGTH", "Preflight"]

AMPLITUDE_MIN_ID_LENGTH = 5


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any]:
    # The schema uses only keywords that draft-07 shares with 2020-12, the draft
    # fastjsonschema compiles; jsonschema checks it as 2020-12 elsewhere.
    return fastjsonschema.compile({**schema, "$schema": "http://json-schema.org/draft-07/schema#"})


def _compile_quick(schema: Any, minimum: int) -> Callable[[Any], bool] | None:
    """The quick check of the schema with the id length folded in (user_id and device_id at
    least `minimum` characters), so that what it accepts passes every check of `reason`; None
    when the schema cannot have one."""
    schema = copy.deepcopy(schema)
    properties = schema.get("properties") if isinstance(schema, dict) else None
    for key in ("user_id", "device_id"):
        rule = properties.get(key) if isinstance(properties, dict) else None
        if not isinstance(rule, dict) or rule.get("type") != "string":
            return None  # the id check would need a type the schema does not promise
        rule["minLength"] = max(rule.get("minLength", 0), minimum)
    return compile_quick_check(schema)


class Preflight:
    """`reason(event)` is None for an event Amplitude should accept, else why it would not."""

    def __init__(self, schema_path: Path, min_id_length: int | None) -> None:
        schema = read_json_file(schema_path)
        self._validate = _compile(schema)
        self.min_id_length = min_id_length if min_id_length is not None else AMPLITUDE_MIN_ID_LENGTH
        self._quick = _compile_quick(schema, self.min_id_length)
        self.explicit_min = min_id_length is not None
        self.short_user_ids = 0
        self.example_short_id: str | None = None

    def reason(self, event: Any) -> tuple[str, str] | None:
        """Why Amplitude would reject this event, as (category, detail), or None."""
        quick = self._quick
        if quick is not None and quick(event):
            return None
        try:
            self._validate(event)
        except fastjsonschema.JsonSchemaValueException as exc:
            return "does not match the Amplitude event schema", _schema_message(exc)
        minimum = self.min_id_length
        user_id = event.get("user_id")
        if user_id is not None and len(user_id) < minimum:
            if not self.explicit_min:
                self.short_user_ids += 1
                self.example_short_id = self.example_short_id or user_id
            return ("id shorter than min_id_length",
                    f"user_id {short_repr(user_id)} has fewer than {minimum} characters")
        device_id = event.get("device_id")
        if device_id is not None and len(device_id) < minimum:
            return ("id shorter than min_id_length",
                    f"device_id {short_repr(device_id)} has fewer than {minimum} characters")
        return None

    def warning(self) -> str | None:
        """The once-per-run hint about short user ids, when some were seen."""
        if not self.short_user_ids:
            return None
        return (f"{self.short_user_ids} event(s) have user ids shorter than {AMPLITUDE_MIN_ID_LENGTH} "
                f"characters (e.g. {self.example_short_id!r}), which Amplitude rejects by default; "
                "they were set aside. If such ids are real, set min_id_length (for example "
                "--set min_id_length=1) to send them.")


def _schema_message(exc: fastjsonschema.JsonSchemaValueException) -> str:
    where = exc.name.replace("data", "$", 1) if exc.name else "$"
    message = exc.message.replace(exc.name, "", 1).strip() if exc.name else exc.message
    return f"{where} {message}"
