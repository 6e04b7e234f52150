"""YAML text → plain data, plus an index from rule path to line and column.

`yaml.compose` keeps every node's `start_mark`; building the data ourselves from the node tree
lets us refuse duplicate keys (PyYAML silently keeps the last) and remember where each key and
value stands, so that later checks can point at the exact place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem, SpecError, format_rule_path

__all__ = ["Located", "Position", "SourceIndex", "load_yaml_file", "load_yaml_text"]

PathKey = tuple[str | int, ...]


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
                offset: int | None = None, severity: str = "error") -> Problem:
        """A `Problem` located at `path`, `offset` characters into a one-line scalar."""
        pos = self.key_at(path) if at_key else self.value_at(path)
        column = pos.column
        if offset is not None and pos.single_line:
            column += offset + (1 if pos.style in ("'", '"') else 0)
        return Problem(self.file, pos.line, column, rule, message, severity)


@dataclass(frozen=True, slots=True)
class Located:
    """Plain data and the index of where each part came from."""

    data: Any
    index: SourceIndex


def load_yaml_file(path: str | Path) -> Located:
    """Read and compose one YAML file; raises `SpecError` with line and column on bad YAML."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"file is not UTF-8 text: {exc.reason}")]) from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, name: str = "<string>") -> Located:
    """Compose YAML text into plain data and a `SourceIndex`."""
    index = SourceIndex(name)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Problem(name, line, column, "", f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"YAML error: {exc}")]) from None
    if node is None:
        return Located(None, index)
    problems: list[Problem] = []
    data = _build(node, (), index, problems)
    if problems:
        raise SpecError(problems)
    return Located(data, index)


_scalars = yaml.constructor.SafeConstructor()


def _build(node: yaml.Node, path: PathKey, index: SourceIndex, problems: list[Problem]) -> Any:
    mark = node.start_mark
    single = node.start_mark.line == node.end_mark.line
    index.values[path] = Position(mark.line + 1, mark.column + 1, getattr(node, "style", None), single)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*path, "<key>"), index, problems)
            key = key if isinstance(key, str) else str(key)
            child = (*path, key)
            key_pos = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key == "<<" or key in out:
                what = "merge keys ('<<') are not supported" if key == "<<" else f"duplicate key '{key}'"
                problems.append(Problem(index.file, key_pos.line, key_pos.column,
                                        format_rule_path(child), what))
                continue
            index.keys[child] = key_pos
            out[key] = _build(value_node, child, index, problems)
        index.values.pop((*path, "<key>"), None)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), index, problems) for i, item in enumerate(node.value)]
    return _scalars.construct_object(node, deep=True)
