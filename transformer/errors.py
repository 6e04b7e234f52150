"""The exception tree, and how problems are worded.

A spec problem carries the file, the 1-based line and column in the YAML, and the rule path
(`fields.platform.filters[0]`). `SpecError` is raised once with every problem found. A payload
problem carries the rule path and the JSON path into the payload, with a short repr of the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "PayloadError",
    "Problem",
    "SettingsError",
    "Severity",
    "SpecError",
    "TransformerError",
    "closest",
    "describe_value",
    "did_you_mean",
    "format_rule_path",
    "json_type",
    "python_types",
    "short_repr",
    "unknown_name",
]


class TransformerError(Exception):
    """Base class of every error this library raises on purpose."""


class Severity(StrEnum):
    """How bad a problem is: a spec error, or a lint warning (which `--strict` makes an error)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a spec, at a place in its YAML; `code` says what kind of thing
    (lint's `unknown-path`, `coverage`, …), None for a spec error."""

    file: str
    line: int
    column: int
    rule: str
    message: str
    severity: Severity = Severity.ERROR
    code: str | None = None

    def __str__(self) -> str:
        return self.render(label=self.severity != Severity.ERROR)

    def render(self, *, label: bool) -> str:
        """`file:line:column: [severity:] rule: message [code]`."""
        where = f"{self.file}:{self.line}:{self.column}"
        rule = f" {self.rule}:" if self.rule else ""
        shown = f" {self.severity}:" if label else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where}:{shown}{rule} {self.message}{code}"


class SpecError(TransformerError):
    """A mapping spec that cannot be loaded; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=_problem_order))
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # pickled as made, not from its text
        return type(self), (self.problems,)


def _problem_order(problem: Problem) -> tuple[str, int, int, str]:
    return (problem.file, problem.line, problem.column, problem.message)


class SettingsError(TransformerError):
    """A setting value that is unknown or of the wrong type; `messages` lists each."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = tuple(messages)
        super().__init__("\n".join(self.messages))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return type(self), (self.messages,)


class PayloadError(TransformerError):
    """A payload the mapping cannot handle: names the rule and the JSON path. Two are equal
    when their rule, path and message are (so are `Result`s that carry them)."""

    def __init__(self, rule: str, path: str, message: str) -> None:
        self.rule = rule
        self.path = path
        self.message = message
        super().__init__(f"{rule}: {message} (at {path})")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return type(self), (self.rule, self.path, self.message)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PayloadError):
            return NotImplemented
        return (self.rule, self.path, self.message) == (other.rule, other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.rule, self.path, self.message))


_MAX_TEXT = 40     # characters of a string shown
_MAX_ITEMS = 4     # elements of an array, keys of an object
_MAX_DEPTH = 2     # levels of nesting shown


def short_repr(value: object) -> str:
    """A payload value as short JSON, safe to print: `[null, "x"]`, `{"a": 1, …}`, `"abc…"`.

    Every message that shows a value of the user's (payload errors, schema violations, settings)
    renders it here, so that they read as JSON rather than as Python.
    """
    return _render(value, 0)


def _render(value: object, depth: int) -> str:
    import json  # only when a message shows a value: not at every command's start

    if isinstance(value, str):
        shown = value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "…"
        return json.dumps(shown, ensure_ascii=False)
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        if depth >= _MAX_DEPTH:
            return "[…]" if value else "[]"
        parts = [_render(v, depth + 1) for v in value[:_MAX_ITEMS]]
        return "[" + ", ".join(parts + (["…"] if len(value) > _MAX_ITEMS else [])) + "]"
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return "{…}" if value else "{}"
        items = list(value.items())
        parts = [f"{_render(str(k), depth + 1)}: {_render(v, depth + 1)}" for k, v in items[:_MAX_ITEMS]]
        return "{" + ", ".join(parts + (["…"] if len(items) > _MAX_ITEMS else [])) + "}"
    return _render(str(value), depth)


# The one table from Python types to JSON type names (a tuple is what a caller may give for an
# array). Messages, spec-schema problems and expression type checks all name types through it.
_JSON_TYPES: dict[type, str] = {bool: "boolean", int: "number", float: "number", str: "string",
                                list: "array", tuple: "array", dict: "object", type(None): "null"}


def json_type(value: object, *, integer: bool = False) -> str:
    """The JSON type name of a value: `string`, `number`, `array`, `object`, `boolean`, `null`
    (else its Python type's name). With `integer`, whole numbers are `integer` (JSON Schema's and
    the settings' word) rather than `number` (JSON's and JMESPath's)."""
    kind = type(value)
    if integer and kind is int:
        return "integer"
    return _JSON_TYPES.get(kind, kind.__name__)


def python_types(name: str) -> tuple[type, ...]:
    """The Python types whose values have a JSON type: `number` → (int, float)."""
    return tuple(kind for kind, found in _JSON_TYPES.items() if found == name)


def describe_value(value: object, *, integer: bool = False) -> str:
    """`string "abc"`, `array [null, null]`: the JSON type (see `json_type`) and the value."""
    return f"{json_type(value, integer=integer)} {short_repr(value)}"


def format_rule_path(parts: Iterable[str | int]) -> str:
    """`("fields", "platform", "filters", 0)` → `fields.platform.filters[0]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word closest to `word`, if any is close enough."""
    import difflib  # only for a name that is not known

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest known word, or `""`."""
    close = closest(word, known)
    return f" (did you mean '{close}'?)" if close else ""


def unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    """`"unknown destination 'htp' (did you mean 'http'?) (known: amplitude, http)"`."""
    names = sorted(known)
    return f"unknown {what} '{name}'{did_you_mean(name, names)} (known: {', '.join(names) or 'none'})"
