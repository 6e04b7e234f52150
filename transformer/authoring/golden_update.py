"""`transformer test --update`: rewrite only the expected values that changed, in place.

The case file is composed with PyYAML, which gives every node's place in the text; the old
expectation is compared with the new one node by node, and only the text of nodes whose value
changed is replaced (keys added to or removed from a block mapping become inserted or deleted
lines). Comments, key order, quoting and layout elsewhere stay byte for byte, so `git diff`
shows exactly the behaviour change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

__all__ = ["update_expectations"]

_Edit = tuple[int, int, str]  # replace text[start:end] with the string


def update_expectations(text: str, updates: Mapping[str, dict[str, Any]]) -> str:
    """The case file `text` with the `expect` of each case named in `updates` set to its value."""
    root = yaml.compose(text)
    edits: list[_Edit] = []
    cases = _get(root, "cases") if isinstance(root, yaml.MappingNode) else None
    for case in cases.value if isinstance(cases, yaml.SequenceNode) else []:
        name = _get(case, "name")
        if not isinstance(name, yaml.ScalarNode) or name.value not in updates:
            continue
        new = updates[name.value]
        expect = _get(case, "expect")
        if expect is None:
            edits.append(_insert_key(text, case, "expect", new))
        else:
            edits.extend(_changes(text, expect, new))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                found: yaml.Node = v
                return found
    return None


def _value(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: `true` is not `1`, key order does not matter."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _changes(text: str, node: yaml.Node, new: Any) -> Iterator[_Edit]:
    """Edits that turn `node`'s value into `new`, touching as little text as they can."""
    if _same(_value(node), new):
        return
    block = not getattr(node, "flow_style", True)
    if isinstance(node, yaml.MappingNode) and isinstance(new, dict) and block and node.value:
        old_keys = [k.value for k, _ in node.value]
        for k, v in node.value:
            if k.value in new:
                yield from _changes(text, v, new[k.value])
            else:
                yield _delete_pair(text, k, v)
        added = {key: value for key, value in new.items() if key not in old_keys}
        if added:
            at = _line_after(text, _content_end(node))
            column = node.value[0][0].start_mark.column
            yield at, at, " " * column + _block(added, column) + "\n"
        return
    if isinstance(node, yaml.SequenceNode) and isinstance(new, list) and len(new) == len(node.value):
        for item, value in zip(node.value, new, strict=True):
            yield from _changes(text, item, value)
        return
    start, end = node.start_mark.index, _content_end(node)
    if block and isinstance(new, (dict, list)) and new:
        yield start, end, _block(new, node.start_mark.column)
    else:
        yield start, end, _flow(new)


def _content_end(node: yaml.Node) -> int:
    """Where the node's own text ends (a block collection's end mark lies past the comments
    and indentation that follow it)."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(last[1] if isinstance(node, yaml.MappingNode) else last)
    return int(node.end_mark.index)


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def _line_after(text: str, at: int) -> int:
    newline = text.find("\n", at)
    return len(text) if newline < 0 else newline + 1


def _delete_pair(text: str, key: yaml.Node, value: yaml.Node) -> _Edit:
    return _line_start(text, key.start_mark.index), _line_after(text, _content_end(value)), ""


def _insert_key(text: str, mapping: yaml.Node, key: str, value: Any) -> _Edit:
    assert isinstance(mapping, yaml.MappingNode) and mapping.value
    at = _line_after(text, _content_end(mapping))
    column = mapping.value[0][0].start_mark.column
    return at, at, " " * column + _block({key: value}, column) + "\n"


def _scalar(value: Any, *, in_flow: bool = False) -> str:
    """A scalar as plain YAML when that reads back the same, else double-quoted (JSON) text."""
    if isinstance(value, str):
        probe = f"[{value}]" if in_flow else f"k: {value}"
        try:
            plain = bool(value) and value.strip() == value and "\n" not in value and \
                yaml.safe_load(probe) == ([value] if in_flow else {"k": value})
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(str(k), in_flow=True)}: {_flow_item(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow_item(v) for v in value) + "]"
    return _scalar(value)


def _flow_item(value: Any) -> str:
    return _flow(value) if isinstance(value, (dict, list)) else _scalar(value, in_flow=True)


def _block(value: Any, column: int) -> str:
    """Block-style YAML for a non-empty collection whose first line starts at `column`; no
    trailing newline. Nested collections are written in block style too, scalars plainly."""
    pad = " " * column
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{_scalar(str(key))}:"
            if isinstance(item, (dict, list)) and item:
                nested = column + 2
                lines.append(f"{head}\n{' ' * nested}{_block(item, nested)}")
            else:
                lines.append(f"{head} {_flow(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                lines.append(f"- {_block(item, column + 2)}")
            else:
                lines.append(f"- {_flow(item)}")
    return f"\n{pad}".join(lines)
