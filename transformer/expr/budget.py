"""The per-payload output budget: how large what one payload produces may be.

A valid mapping can make a payload's output grow exponentially (lets that double lets). The
budget (`DEFAULT_OUTPUT_BUDGET`, about 1 MB as JSON) turns that into a payload error naming
the rule, in time and memory bounded by the budget. `growth` decides, when the mapping loads,
which values can grow at all; only those are measured, with `json_size`, which stops counting
as soon as the budget is passed (shared parts count each time they appear, as they would be
written, but are never expanded beyond the budget).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import PayloadError

__all__ = ["DEFAULT_OUTPUT_BUDGET", "OverBudgetError", "bounded", "events_error", "json_size", "over_budget"]

DEFAULT_OUTPUT_BUDGET = 1_000_000
"""Bytes of JSON (about) that the events of one payload may take."""


class OverBudgetError(Exception):
    """A value larger than the output budget."""


def over_budget(budget: int) -> str:
    return f"output budget exceeded: larger than {budget:,} bytes as JSON"


def json_size(value: Any, limit: int) -> int:
    """About the size of `value` written as compact JSON, or `limit + 1` as soon as it is
    larger than `limit`: each part counts at least one, so at most `limit` parts are visited."""
    size = 0
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            size += len(item) + 2
        elif kind is dict or isinstance(item, dict):
            size += 1 + len(item)
            for key, sub in item.items():
                size += len(key) + 3 if type(key) is str else 8
                stack.append(sub)
                if size > limit:
                    return limit + 1
        elif kind is list or isinstance(item, list):
            size += 1 + len(item)
            if size > limit:
                return limit + 1
            extend(item)
        else:
            size += 5  # a number, true, false or null
        if size > limit:
            return limit + 1
    return size


def bounded(name: str, call: Callable[..., Any], budget: int) -> Callable[..., Any]:
    """`join` or `to_string` as generated code calls it, refusing to build a string larger
    than the budget (for call sites whose argument can grow, only)."""
    if name == "join":
        def join(*values: Any) -> Any:
            separator, items = (*values, None, None)[:2]
            if type(separator) is str and type(items) is list:
                size = len(separator) * max(len(items) - 1, 0)
                for item in items:
                    size += len(item) if type(item) is str else 0
                    if size > budget:
                        raise OverBudgetError(over_budget(budget))
            return call(*values)
        return join

    def to_string(*values: Any) -> Any:
        if values and json_size(values[0], budget) > budget:
            raise OverBudgetError(over_budget(budget))
        return call(*values)
    return to_string


def events_error(events: Any, budget: int) -> PayloadError:
    """The payload error for output over the budget, naming the output field that is largest."""
    largest, size = "", -1
    for event in events if isinstance(events, list) else [events]:
        for key, value in event.items() if isinstance(event, dict) else ():
            found = json_size(value, budget)
            if found > size:
                largest, size = key, found
    rule = f"fields.{largest}" if largest else "fields"
    return PayloadError(rule, "$", f"{over_budget(budget)} (the events of this payload)")
