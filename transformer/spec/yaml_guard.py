"""Limits on a YAML document, checked on its parse events before anything is built from it.

A few hundred bytes of YAML can describe billions of nodes through aliases ("billion laughs"),
an alias can name the collection it sits in, a tag can ask for an arbitrary Python object, and
deep nesting exhausts the composer's recursion. Here the events are read once, in time and
memory linear in the text, counting what the document would expand to without expanding it;
the first limit crossed is a located `Problem`. Only YAML's core tags are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from ..errors import Problem
from .yaml_limits import DEFAULT_LIMITS, YamlLimits

__all__ = ["COLLECTION_TAGS", "DEFAULT_LIMITS", "SCALAR_TAGS", "YamlLimits", "check_yaml"]

_CORE = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null")) | {"!"}
COLLECTION_TAGS = {yaml.MappingStartEvent: _CORE + "map", yaml.SequenceStartEvent: _CORE + "seq"}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed: fast




@dataclass(slots=True)
class _Frame:
    anchor: str | None
    nodes: int = 1


@dataclass(slots=True)
class _Count:
    file: str
    limits: YamlLimits
    total: int = 0                                   # nodes so far, aliases expanded
    anchors: dict[str, int] = field(default_factory=dict)   # anchor -> nodes it stands for
    open: list[_Frame] = field(default_factory=list)

    def problem(self, event: yaml.Event, message: str) -> Problem:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return Problem(self.file, line, column, "", message)

    def add(self, event: yaml.Event, nodes: int, *, to_parent: bool = True) -> Problem | None:
        """Count `nodes` more (in the enclosing collection's size too, unless it is a
        collection just opened: its size goes up when it closes)."""
        self.total += nodes
        if self.open and to_parent:
            self.open[-1].nodes += nodes
        if self.total > self.limits.max_nodes:
            what = "with its aliases expanded, the document" if isinstance(event, yaml.AliasEvent) \
                else "the document"
            return self.problem(event, f"{what} holds more than {self.limits.max_nodes:,} nodes "
                                       "(the limit for a YAML document)")
        return None


def check_yaml(text: str, file: str, limits: YamlLimits = DEFAULT_LIMITS) -> Problem | None:
    """The first limit `text` crosses, or None. Syntax errors are left to the composer,
    which words them. PyYAML's parser, like libyaml's, keeps no stack per level: only the
    composer recurses, and it runs after this check."""
    if len(text) > limits.max_bytes or len(text.encode()) > limits.max_bytes:
        return Problem(file, 1, 1, "", f"the file is larger than {limits.max_bytes:,} bytes "
                                       "(the limit for a YAML document)")
    for loader in dict.fromkeys((_Loader, yaml.SafeLoader)):
        count = _Count(file, limits)
        try:
            for event in yaml.parse(text, Loader=loader):
                found = _step(count, event)
                if found is not None:
                    return found
        except yaml.YAMLError:
            continue  # libyaml's own limits (nesting beyond 1,000): once more with PyYAML's parser
        return None
    return None


def _step(count: _Count, event: yaml.Event) -> Problem | None:
    if isinstance(event, yaml.ScalarEvent):
        if event.tag is not None and event.tag not in SCALAR_TAGS:
            return count.problem(event, _unknown_tag(event.tag, "a scalar"))
        found = count.add(event, 1)
        if event.anchor is not None:
            count.anchors[event.anchor] = 1
        return found
    if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
        if event.tag is not None and event.tag != COLLECTION_TAGS[type(event)]:
            kind = "a mapping" if isinstance(event, yaml.MappingStartEvent) else "a sequence"
            return count.problem(event, _unknown_tag(event.tag, kind))
        if len(count.open) >= count.limits.max_depth:
            return count.problem(event, f"nested deeper than {count.limits.max_depth} levels "
                                        "(the limit for a YAML document)")
        found = count.add(event, 1, to_parent=False)
        count.open.append(_Frame(event.anchor))
        return found
    if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
        frame = count.open.pop()
        if count.open:
            count.open[-1].nodes += frame.nodes
        if frame.anchor is not None:
            count.anchors[frame.anchor] = frame.nodes
        return None
    if isinstance(event, yaml.AliasEvent):
        if any(frame.anchor == event.anchor for frame in count.open):
            return count.problem(event, f"recursive alias *{event.anchor}: it stands for a "
                                        f"collection that contains it")
        nodes = count.anchors.get(event.anchor or "")
        if nodes is None:
            return None  # undefined: the composer says so
        return count.add(event, nodes)
    return None


def _unknown_tag(tag: str, kind: str) -> str:
    shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return (f"tag {shown} is not allowed on {kind} (only YAML's core tags are: !!str, !!int, "
            "!!float, !!bool, !!null, !!map, !!seq)")
