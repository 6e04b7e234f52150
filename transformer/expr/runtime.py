"""Helpers that generated expression code calls: the parts of JMESPath's semantics that do not
fit in one Python expression. `RUNTIME` is the base of every generated namespace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jmespath import visitor as jvisitor

__all__ = ["RUNTIME", "UNSET", "Expression"]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""The marker in an `env` slot whose variable has not been computed yet for this event."""


class Expression(jvisitor._Expression):  # type: ignore[misc]
    """An `&expr` argument; jmespath's functions call `visit` (and type-check by class name)."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.expression = fn

    def visit(self, node: Any, value: Any) -> Any:
        return self.expression(value)


Expression.__name__ = "_Expression"


def _getf(value: Any, key: str) -> Any:
    """A field of something that is not a plain dict: any mapping with `get`, else null."""
    try:
        return value.get(key)
    except AttributeError:
        return None


def _index(value: Any, i: int) -> Any:
    if type(value) is not list:
        return None
    try:
        return value[i]
    except IndexError:
        return None


def _values_or_none(value: Any) -> Any:
    """`*` over something that is not a dict: its values if it has any, else null."""
    try:
        values = value.values()
    except AttributeError:
        return None
    return [v for v in values if v is not None]


def _flatten(value: Any) -> Any:
    if type(value) is not list:
        return None
    out: list[Any] = []
    for item in value:
        if type(item) is list:
            out.extend(item)
        else:
            out.append(item)
    return out


def _eq(a: Any, b: Any) -> bool:
    """JMESPath equality: like Python's, except that true and false are not 1 and 0."""
    if (type(a) is bool) is not (type(b) is bool) and (type(a) in (int, float) or type(b) in (int, float)):
        return False
    return bool(a == b)


def _comparable(value: Any) -> bool:
    return type(value) in (int, float, str)


def _order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        if not (_comparable(a) and _comparable(b)):
            return None
        try:
            return op(a, b)
        except TypeError:  # a string against a number
            return None
    return compare


RUNTIME: dict[str, Any] = {
    "__builtins__": {"type": type, "dict": dict, "list": list, "int": int, "float": float,
                     "str": str, "bool": bool, "len": len, "isinstance": isinstance},
    "_U": UNSET,
    "_getf": _getf,
    "_index": _index,
    "_values_or_none": _values_or_none,
    "_flatten": _flatten,
    "_eq": _eq,
    "_order_lt": _order(lambda a, b: a < b),
    "_order_lte": _order(lambda a, b: a <= b),
    "_order_gt": _order(lambda a, b: a > b),
    "_order_gte": _order(lambda a, b: a >= b),
    "_Expression": Expression,
}
