"""Built-in filters: a registry of `name -> factory(args, ctx) -> filter`.

A factory checks its arguments when the mapping loads (raising `FilterArgError`) and returns
the filter, a plain function of one value. A filter raises `FilterValueError` for a value it
cannot handle; returning None means "no value". Adding a filter is one decorated factory here
(and its arguments in `schemas/mapping.schema.json`, which a test keeps in step).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import describe_value, short_repr

__all__ = [
    "FILTERS",
    "Factory",
    "FilterArgError",
    "FilterContext",
    "FilterDef",
    "FilterFn",
    "FilterValueError",
    "register",
]

FilterFn = Callable[[Any], Any]


class FilterArgError(Exception):
    """Bad filter arguments in the spec; `path` is relative to the filter's arguments."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class FilterValueError(Exception):
    """A payload value the filter cannot handle."""


class FilterContext(Protocol):
    """What a factory may ask of the compiler: nested pipelines, with their own checks."""

    def pipeline(self, items: Any, path: tuple[str | int, ...]) -> Sequence[FilterFn]:
        """Compile a nested list of filters found at `path` under this filter's arguments."""
        ...


Factory = Callable[[Any, FilterContext], FilterFn]


@dataclass(frozen=True, slots=True)
class FilterDef:
    """A registered filter: `takes_args` is False for filters written as a bare name.

    `inline`, optional, is a Python expression template for generated code that handles the
    common case without a call: `{v}` is the value, `{f}` the filter function for the rest.
    `memo`: the filter is a pure function of its value (whatever its arguments), so generated
    code may remember its results on short strings (an event type, a platform name).
    """

    name: str
    factory: Factory
    takes_args: bool
    inline: str | None = None
    memo: bool = False


FILTERS: dict[str, FilterDef] = {}


def register(name: str, *, takes_args: bool = False, inline: str | None = None,
             memo: bool = False) -> Callable[[Factory], Factory]:
    """Add a filter factory to the registry (what it does for users is described in
    `schemas/mapping.schema.json`, which editors show, and in the README's table)."""
    def add(factory: Factory) -> Factory:
        FILTERS[name] = FilterDef(name, factory, takes_args, inline, memo)
        return factory
    return add


def _string_filter(fn: Callable[[str], str], what: str) -> FilterFn:
    def apply(value: Any) -> Any:
        if not isinstance(value, str):
            raise FilterValueError(f"{what} expects a string, got {describe_value(value)}")
        return fn(value)
    return apply


_WORD_BREAK = re.compile(r"[_\s]+")


@register("title", memo=True)
def _title(args: Any, ctx: FilterContext) -> FilterFn:
    """Split on '_' and spaces, capitalise each word, join with single spaces."""
    def title(text: str) -> str:
        return " ".join(word.capitalize() for word in _WORD_BREAK.split(text) if word)
    return _string_filter(title, "title")


@register("lower", memo=True)
def _lower(args: Any, ctx: FilterContext) -> FilterFn:
    """Lower-case a string."""
    return _string_filter(str.lower, "lower")


@register("upper", memo=True)
def _upper(args: Any, ctx: FilterContext) -> FilterFn:
    """Upper-case a string."""
    return _string_filter(str.upper, "upper")


@register("strip", memo=True)
def _strip(args: Any, ctx: FilterContext) -> FilterFn:
    """Remove leading and trailing whitespace."""
    return _string_filter(str.strip, "strip")


@register("upper_first", memo=True)
def _upper_first(args: Any, ctx: FilterContext) -> FilterFn:
    """Upper-case the first character, leave the rest as it is."""
    return _string_filter(lambda s: s[:1].upper() + s[1:], "upper_first")


@register("truncate", takes_args=True)
def _truncate(args: Any, ctx: FilterContext) -> FilterFn:
    """Keep the first N characters (code points)."""
    if isinstance(args, bool) or not isinstance(args, int) or args < 0:
        raise FilterArgError(f"truncate takes a whole number of characters >= 0, got {short_repr(args)}")
    limit = args

    def truncate(value: Any) -> Any:
        if not isinstance(value, str):
            raise FilterValueError(f"truncate expects a string, got {describe_value(value)}")
        return value if len(value) <= limit else value[:limit]
    return truncate


@register("seconds_to_ms", inline="({v} * 1000 if type({v}) is int else {f}({v}))")
def _seconds_to_ms(args: Any, ctx: FilterContext) -> FilterFn:
    """Unix seconds → integer milliseconds (rounded)."""
    def seconds_to_ms(value: Any) -> Any:
        if type(value) is int:
            return value * 1000
        if type(value) is float and math.isfinite(value * 1000):
            return round(value * 1000)
        raise FilterValueError(f"seconds_to_ms expects a number of seconds, got {describe_value(value)}")
    return seconds_to_ms


@register("to_string", inline="({v} if type({v}) is str else {f}({v}))")
def _to_string(args: Any, ctx: FilterContext) -> FilterFn:
    """Strings as they are, numbers as decimal text (42.0 → '42'); anything else is an error."""
    def to_string(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return value
        if kind is int:
            return str(value)
        if kind is float and math.isfinite(value):
            return str(int(value)) if value.is_integer() else repr(value)
        raise FilterValueError(f"to_string expects a string or a number, got {describe_value(value)}")
    return to_string


_LOOKUP_KEYS = ("table", "ignore_case", "default", "pass_through", "otherwise")


@register("lookup", takes_args=True, memo=True)
def _lookup(args: Any, ctx: FilterContext) -> FilterFn:
    """Replace a string by its entry in a table; unmatched values get a default, pass through,
    or go through the 'otherwise' filters."""
    if not isinstance(args, dict):
        raise FilterArgError("lookup takes an object with 'table' and one of 'default', "
                             "'pass_through' or 'otherwise'")
    table = args.get("table")
    if not isinstance(table, dict) or not table:
        raise FilterArgError("lookup needs a non-empty 'table' of string keys", ("table",))
    ignore_case = args.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise FilterArgError("'ignore_case' must be true or false", ("ignore_case",))
    modes = [k for k in ("default", "pass_through", "otherwise") if k in args]
    if len(modes) != 1:
        raise FilterArgError("lookup needs exactly one of 'default', 'pass_through' or 'otherwise'"
                             + (f" (found: {', '.join(modes)})" if modes else ""))
    if "pass_through" in args and args["pass_through"] is not True:
        raise FilterArgError("'pass_through' can only be true", ("pass_through",))
    entries = {(str(k).casefold() if ignore_case else str(k)): v for k, v in table.items()}
    if ignore_case and len(entries) < len(table):
        raise FilterArgError("with ignore_case, two table keys differ only by case", ("table",))
    mode = modes[0]
    default = args.get("default")
    otherwise = list(ctx.pipeline(args["otherwise"], ("otherwise",))) if mode == "otherwise" else []

    def lookup(value: Any) -> Any:
        if isinstance(value, str):
            found = entries.get(value.casefold() if ignore_case else value, _MISSING)
            if found is not _MISSING:
                return found
        if mode == "default":
            return default
        for step in otherwise:
            if value is None:
                break
            value = step(value)
        return value
    return lookup


_MISSING = object()
