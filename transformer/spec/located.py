"""Plain data read from a YAML text, and where each part of it stands (line, column, style), so
that later checks can point at the exact place. Built by `yaml_build`, read back from a stored
parse by `yaml_source`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, Severity

__all__ = ["Located", "PathKey", "Position", "SourceIndex"]

PathKey = tuple[str | int, ...]
"""A place in a spec, as the index keys it: `("fields", "event_properties", "rest")`."""


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column; `style` is the scalar style for expression offsets."""

    line: int
    column: int
    style: str | None = None
    single_line: bool = True


@dataclass(slots=True)
class SourceIndex:
    """Where each rule path stands in a YAML file."""

    file: str
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def value_at(self, path: PathKey) -> Position:
        """The position of the value at `path`, or of its nearest ancestor."""
        for cut in range(len(path), -1, -1):
            found = self.values.get(path[:cut])
            if found is not None:
                return found
        return Position(1, 1)

    def key_at(self, path: PathKey) -> Position:
        """The position of the key naming `path` (falls back to the value)."""
        return self.keys.get(path) or self.value_at(path)

    def problem(self, path: PathKey, rule: str, message: str, *, at_key: bool = False,
                offset: int | None = None, severity: Severity = Severity.ERROR,
                code: str | None = None) -> Problem:
        """A `Problem` located at `path`, `offset` characters into a one-line scalar."""
        pos = self.key_at(path) if at_key else self.value_at(path)
        column = pos.column
        if offset is not None and pos.single_line:
            column += offset + (1 if pos.style in ("'", '"') else 0)
        return Problem(self.file, pos.line, column, rule, message, severity, code)


@dataclass(frozen=True, slots=True)
class Located:
    """Plain data, the index of where each part came from, and the text it was read from."""

    data: Any
    index: SourceIndex
    text: str = ""
