"""The YAML parser's part of `yaml_source`: compose a text with PyYAML (libyaml when built with
it) after `yaml_guard` has checked its limits, and build plain data and the index of where each
part stands from the node tree. Imported only when a text must be parsed."""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import Problem, SpecError, format_rule_path
from .located import Located, PathKey, Position, SourceIndex
from .yaml_guard import check_yaml
from .yaml_limits import YamlLimits

__all__ = ["build_located"]


def build_located(text: str, name: str, limits: YamlLimits, integers_as_text: bool) -> Located:
    """Compose YAML text into plain data and a `SourceIndex`; raises `SpecError`."""
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
