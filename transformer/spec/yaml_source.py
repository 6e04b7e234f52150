"""YAML text → plain data, plus an index from rule path to line and column.

`yaml.compose` keeps every node's `start_mark`; building the data ourselves from the node tree
lets us refuse duplicate keys (PyYAML silently keeps the last) and remember where each key and
value stands, so that later checks can point at the exact place. Before that, `yaml_guard`
checks the document against its limits (size, expanded nodes, nesting, tags), so that a
hostile document is refused, located, before anything is built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, Severity, SpecError, format_rule_path
from .yaml_guard import DEFAULT_LIMITS, YamlLimits, check_yaml

__all__ = ["Located", "PathKey", "Position", "SourceIndex", "load_yaml_file", "load_yaml_text"]

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


def load_yaml_file(path: str | Path, limits: YamlLimits = DEFAULT_LIMITS, *,
                   integers_as_text: bool = False) -> Located:
    """Read and compose one YAML file; raises `SpecError` with line and column on bad YAML or
    on a document beyond `limits`. A UTF-8 byte order mark is accepted. With `integers_as_text`,
    integers keep their source text (`0123` stays "0123")."""
    name = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)   # never more than the limit, whatever the size
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"file is not UTF-8 text: {exc.reason}")]) from None
    return load_yaml_text(text, name, limits, integers_as_text=integers_as_text)


def load_yaml_text(text: str, name: str = "<string>", limits: YamlLimits = DEFAULT_LIMITS, *,
                   integers_as_text: bool = False) -> Located:
    """Compose YAML text into plain data and a `SourceIndex`."""
    index = SourceIndex(name)
    beyond = check_yaml(text, name, limits)
    if beyond is not None:
        raise SpecError([beyond])
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Problem(name, line, column, "", f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"YAML error: {exc}")]) from None
    except RecursionError:  # the limits keep nesting far below this; a last guard
        raise SpecError([Problem(name, 1, 1, "", "YAML nested too deeply")]) from None
    if node is None:
        return Located(None, index, text)
    problems: list[Problem] = []
    constructed = _CONSTRUCTED - {_CORE + "int"} if integers_as_text else _CONSTRUCTED
    data = _build(node, (), index, problems, set(), constructed)
    if problems:
        raise SpecError(problems)
    return Located(data, index, text)


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # libyaml's, when PyYAML was built with it


def _compose(text: str) -> yaml.Node | None:
    """The node tree: composed by libyaml (about 30 times faster), and by PyYAML's own parser
    when libyaml is missing or refuses the text, so that a syntax error is worded as PyYAML
    words it. Both give the same nodes, marks and styles (`tests/test_yaml_source.py`)."""
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


_scalars = yaml.constructor.SafeConstructor()
_CORE = "tag:yaml.org,2002:"
_CONSTRUCTED = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null"))


def _build(node: yaml.Node, path: PathKey, index: SourceIndex, problems: list[Problem],
           within: set[int], constructed: frozenset[str]) -> Any:
    mark = node.start_mark
    single = node.start_mark.line == node.end_mark.line
    style = getattr(node, "style", None) or None  # libyaml says '' for plain where PyYAML says None
    index.values[path] = Position(mark.line + 1, mark.column + 1, style, single)
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, path, index, problems, constructed)
    if id(node) in within:  # an alias of a collection that contains it (the guard reports these first)
        problems.append(Problem(index.file, mark.line + 1, mark.column + 1, format_rule_path(path),
                                "recursive alias"))
        return None
    within.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode):
            return _mapping(node, path, index, problems, within, constructed)
        return [_build(item, (*path, i), index, problems, within, constructed)
                for i, item in enumerate(node.value)]
    finally:
        within.discard(id(node))


def _mapping(node: yaml.MappingNode, path: PathKey, index: SourceIndex, problems: list[Problem],
             within: set[int], constructed: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _build(key_node, (*path, "<key>"), index, problems, within, constructed)
        key = key if isinstance(key, str) else str(key)
        child = (*path, key)
        key_pos = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        if key == "<<" or key in out:
            what = "merge keys ('<<') are not supported" if key == "<<" else f"duplicate key '{key}'"
            problems.append(Problem(index.file, key_pos.line, key_pos.column,
                                    format_rule_path(child), what))
            continue
        index.keys[child] = key_pos
        out[key] = _build(value_node, child, index, problems, within, constructed)
    index.values.pop((*path, "<key>"), None)
    return out


def _scalar(node: yaml.ScalarNode, path: PathKey, index: SourceIndex, problems: list[Problem],
            constructed: frozenset[str]) -> Any:
    """A core-schema value; what YAML 1.1 would also read as a date or the like stays text."""
    if node.tag not in constructed:
        return node.value
    try:
        return _scalars.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as exc:
        mark = node.start_mark
        problems.append(Problem(index.file, mark.line + 1, mark.column + 1, format_rule_path(path),
                                f"cannot read {node.value!r} as !!{node.tag.removeprefix(_CORE)}: {exc}"))
        return None
