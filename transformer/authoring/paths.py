"""Walk an expression against the input schema's shapes: which payload paths it reads, which of
them the schema does not describe (typos), and `||` fallbacks over values that can be false or 0."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..expr.parse import Node
from .lint_codes import Finding, LintCode
from .shapes import Shape

__all__ = ["PathWalker", "Place"]


@dataclass(frozen=True, slots=True)
class Place:
    """A shape and how to name it: `data.identifiers`, `$device`, `data.recipients[]`."""

    shape: Shape
    name: str


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


class PathWalker:
    """Follows one expression; `variables` gives the place of each `$name` (None: unknown)."""

    def __init__(self, schema_name: str, variables: Callable[[str], Place | None],
                 boolean_settings: set[str]) -> None:
        self.schema_name = schema_name
        self.variables = variables
        self.boolean_settings = boolean_settings
        self.findings: list[Finding] = []

    def walk(self, node: Node, here: Place | None) -> Place | None:
        """The place the node's value comes from, when the schema describes it."""
        kind = node["type"]
        children: list[Any] = node.get("children", [])
        if kind in ("current", "identity"):
            return here
        if kind == "field":
            return self.field(node, here)
        if kind == "variable":
            return self.variables(node["value"])
        if kind in ("subexpression", "index_expression", "pipe"):
            for child in children:
                here = self.walk(child, here)
            return here
        if kind == "index":
            return _items(here)
        if kind == "slice":
            return here
        if kind in ("projection", "filter_projection"):
            base = self.walk(children[0], here)
            element = _items(base)
            if kind == "filter_projection":
                self.walk(children[2], element)
            result = self.walk(children[1], element)
            if result is None or base is None:
                return None
            return Place(Shape(types={"array"}, items=result.shape), base.name)
        if kind == "value_projection":
            self.walk(children[0], here)
            self.walk(children[1], None)
            return None
        if kind == "flatten":
            return _items(self.walk(children[0], here))
        if kind == "or_expression":
            left = self.walk(children[0], here)
            self.check_or(node, children[0], left)
            self.walk(children[1], here)
            return None
        if kind == "function_expression":
            arrays = [self.walk(c, here) for c in children if c["type"] != "expref"]
            element = next((_items(a) for a in arrays if a is not None and a.shape.items), None)
            for child in children:
                if child["type"] == "expref":
                    self.walk(child["children"][0], here if node["value"] == "exists" else element)
            return None
        if kind == "key_val_pair":
            return self.walk(children[0], here)
        for child in children:
            if isinstance(child, dict):
                self.walk(child, here)
        return None

    def field(self, node: Node, here: Place | None) -> Place | None:
        key: str = node["value"]
        if key in ("null", "true", "false") and node.get("pos") is not None:
            self.findings.append(Finding(
                LintCode.BARE_LITERAL, node["pos"],
                f"'{key}' here is a field called \"{key}\", not the literal: write `{key}` (in backquotes)"))
            return None
        if here is None:
            return None
        shape = here.shape
        if shape.types and "object" not in shape.types:
            kinds = " or ".join(sorted(shape.types))
            self._unknown(node, f"'{here.name}' is {_article(kinds)} {kinds} in {self.schema_name}: "
                                f"it has no key '{key}'")
            return None
        found = shape.properties.get(key)
        if found is not None:
            return Place(found, _join(here.name, key))
        if shape.properties or shape.closed:
            close = difflib.get_close_matches(key, list(shape.properties), n=1, cutoff=0.6)
            hint = f" (did you mean '{_join(here.name, close[0])}'?)" if close else ""
            self._unknown(node, f"path '{_join(here.name, key)}' is not in {self.schema_name}{hint}")
        return None

    def _unknown(self, node: Node, message: str) -> None:
        self.findings.append(Finding(LintCode.UNKNOWN_PATH, node.get("pos", 0), message))

    def check_or(self, node: Node, left: Node, place: Place | None) -> None:
        falsy_values = place is not None and place.shape.may_be("boolean", "integer", "number") \
            and bool(place.shape.types)
        setting = left["type"] == "variable" and left["value"] in self.boolean_settings
        if falsy_values or setting:
            what = f"'{place.name}'" if place is not None else f"${left['value']}"
            self.findings.append(Finding(
                LintCode.OR_FALLBACK, node.get("pos", 0),
                f"`||` treats false and 0 as missing, and {what} can be false or 0: "
                "use `first:` fallbacks, which move on only when there is no value"))


def _items(place: Place | None) -> Place | None:
    if place is None or place.shape.items is None:
        return None
    return Place(place.shape.items, place.name + "[]")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
