"""Which values of a mapping can grow beyond the payload: static analysis, when a mapping loads.

A rule's value is made of parts of the payload (a path copies its subtree), constants, and what
functions build from them. Following every expression, let and rule, the analysis counts how
many copies of each part of the payload (and of each constant) a value can hold: `[$a, $a]`
holds two of whatever `$a` holds, a let that doubles a let that doubles holds four, and so on.
A value that can hold at most `UNCHECKED_COPIES` copies of anything is bounded by the
payload's own size, so it is never measured while applying: mappings that cannot grow pay
nothing. Only the others are measured against the output budget, where they are built:

- a `let` whose value can hold more copies (so that a chain of doubling lets stops at the
  first let past the budget, before the next one doubles it again);
- the event(s), when the output can hold more copies, or when `each` repeats the event;
- `join` and `to_string` calls on such values (they build a string of the whole value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..expr.parse import Node, parse_expression

__all__ = ["UNCHECKED_COPIES", "Flow", "Growth"]

UNCHECKED_COPIES = 8
"""Values that can hold at most this many copies of any part of a payload are not measured."""

_Keys = tuple[str, ...]
_CAP = 1 << 62
_ELEMENT = "*"  # a path step standing for any element of a list


@dataclass(frozen=True, slots=True)
class Flow:
    """What a value can be made of: payload paths (and constants, as paths of their own) with
    how many copies of each; `exact` when the value is the payload's subtree at that path."""

    paths: Mapping[_Keys, int]
    exact: _Keys | None = None

    @property
    def copies(self) -> int:
        """The most copies of any one part of the payload the value can hold: a path counts
        with every path above it (a copy of `data` holds a copy of `data.x`)."""
        return max((sum(self.paths.get(p[:cut], 0) for cut in range(len(p) + 1)) for p in self.paths),
                   default=0)

    def at(self, step: str) -> Flow:
        """A part of this value: a narrower path when it is exact, else the same parts."""
        if self.exact is None:
            return Flow(self.paths)
        path = (*self.exact, step)
        return Flow({path: 1}, path)


_EMPTY = Flow({})
_ROOT = Flow({(): 1}, ())


def _sum(flows: Iterable[Flow], times: int = 1) -> Flow:
    out: dict[_Keys, int] = {}
    for flow in flows:
        for path, n in flow.paths.items():
            out[path] = min(out.get(path, 0) + n * times, _CAP)
    return Flow(out)


def _either(flows: Iterable[Flow]) -> Flow:
    """One of several values (`first`, `||`, `not_null`): the most of each part."""
    out: dict[_Keys, int] = {}
    for flow in flows:
        for path, n in flow.paths.items():
            out[path] = max(out.get(path, 0), n)
    return Flow(out)


# functions whose result is a number, a boolean or a short fixed string
_SMALL = {"abs", "avg", "ceil", "contains", "ends_with", "exists", "floor", "is_blank", "length",
          "matches_any", "starts_with", "sum", "to_number", "type"}
# functions whose result is (a part of) their arguments, as they are
_PART = {"keys", "max", "max_by", "merge", "min", "min_by", "not_null", "reverse", "sort", "sort_by",
         "to_array", "values"}
_BUILDERS = {"join", "to_string"}
"""Functions that build a string of their whole argument: guarded when it may be large."""
_ESCAPED = 6  # to_string: a character may take six (\u0001)


@dataclass(slots=True)
class Growth:
    """The analysis of one mapping, fed in compile order: expressions as they are compiled,
    each let once its rule is, so that later expressions see the lets before them."""

    constants: frozenset[str] = frozenset()
    lets: dict[str, Flow] = field(default_factory=dict)
    item: tuple[str, Flow] | None = None
    expressions: dict[str, Flow] = field(default_factory=dict)
    guarded: set[tuple[str, int]] = field(default_factory=set)
    """(expression text, position) of `join` / `to_string` calls to measure."""

    def expression(self, text: str) -> Flow:
        """The flow of one expression (evaluated on the payload), remembered by its text."""
        try:
            ast = parse_expression(text)
        except Exception:  # noqa: BLE001 - the compiler reports a bad expression
            return _EMPTY
        flow = self._node(ast, _ROOT, text)
        self.expressions[text] = flow
        return flow

    def let(self, name: str, rule: Any) -> Flow:
        flow = self.lets[name] = self.rule(rule)
        return flow

    def each(self, name: str, source: str) -> None:
        self.item = (name, self.expressions.get(source, _EMPTY).at(_ELEMENT))

    def rule(self, spec: Any) -> Flow:
        """The flow of a compiled `RuleSpec` (its expressions analysed already)."""
        if spec.source is not None:
            flow = self.expressions.get(spec.source.text, _EMPTY)
        elif spec.first:
            flow = _either(self.rule(candidate) for candidate in spec.first)
        elif spec.fields is not None or spec.rest is not None:
            parts = [self.rule(sub) for _, sub in spec.fields or []]
            if spec.rest is not None:
                parts.append(self.expressions.get(spec.rest.source.text, _EMPTY))
            flow = _sum(parts)
        else:
            flow = Flow({("#const", str(id(spec))): 1})
        if spec.filters:  # a lookup's table values are constants; no filter copies its value
            flow = _sum([flow, *(Flow({("#filter", str(id(step))): 1}) for step in spec.filters)])
        return flow

    # expressions --------------------------------------------------------------------------

    def _node(self, node: Node, cur: Flow, text: str) -> Flow:
        kind = node["type"]
        children: list[Any] = node.get("children", [])
        if kind in ("current", "identity"):
            return cur
        if kind == "field":
            return cur.at(node["value"])
        if kind == "index":
            return cur.at(_ELEMENT)
        if kind in ("slice", "flatten"):
            base = self._node(children[0], cur, text) if kind == "flatten" else cur
            return Flow(base.paths)
        if kind in ("subexpression", "index_expression", "pipe"):
            for child in children:
                cur = self._node(child, cur, text)
            return cur
        if kind in ("projection", "filter_projection"):
            base = self._node(children[0], cur, text)
            return Flow(self._node(children[1], base.at(_ELEMENT), text).paths)
        if kind == "value_projection":
            base = self._node(children[0], cur, text)
            return Flow(self._node(children[1], Flow(base.paths), text).paths)
        if kind == "multi_select_list":
            return _sum(self._node(child, cur, text) for child in children)
        if kind == "multi_select_dict":
            return _sum(self._node(pair["children"][0], cur, text) for pair in children)
        if kind in ("and_expression", "or_expression"):
            return _either(self._node(child, cur, text) for child in children)
        if kind in ("comparator", "not_expression", "expref"):
            return _EMPTY
        if kind == "literal":
            return Flow({("#literal", text, str(node.get("pos", id(node)))): 1})
        if kind == "variable":
            return self._variable(node["value"])
        if kind == "function_expression":
            return self._function(node, cur, text)
        return Flow(cur.paths)  # pragma: no cover - every node type is handled above

    def _variable(self, name: str) -> Flow:
        if name in self.lets:
            return self.lets[name]
        if self.item is not None and self.item[0] == name:
            return self.item[1]
        return Flow({("#setting", name): 1})

    def _function(self, node: Node, cur: Flow, text: str) -> Flow:
        name: str = node["value"]
        children: list[Node] = node["children"]
        if name in _SMALL:
            return _EMPTY
        if name == "map" and len(children) == 2:
            items = self._node(children[1], cur, text)
            return Flow(self._node(children[0]["children"][0], items.at(_ELEMENT), text).paths)
        args = [self._node(child, cur, text) for child in children if child["type"] != "expref"]
        if name == "join" and len(args) == 2:
            separator = children[0]
            times = 1 + len(separator["value"]) if separator["type"] == "literal" and \
                isinstance(separator["value"], str) else _CAP
            flow = _sum([_sum([args[1]], times), args[0]])
        elif name == "to_string":
            flow = _sum(args, _ESCAPED)
        else:
            flow = _either(args) if name in _PART and name != "merge" else _sum(args)
        if name in _BUILDERS and flow.copies > UNCHECKED_COPIES:
            self.guarded.add((text, node.get("pos", 0)))
        return flow
