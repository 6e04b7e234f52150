"""Compiled rules: what the compiler makes of each value rule of a spec.

A `RuleSpec` is plain and inspectable: what `runtime.codegen` turns into the per-event function
and what `authoring.explain` and `authoring.lint` walk. Each part keeps its place in the spec as a
key of the `SourceIndex` (`("fields", "time", "from")`). A rule with no value is `NOVALUE`; its
key is left out. What counts as "no value" is defined here once, per level (`null`, `empty`,
`blank`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..expr import CompiledExpr
from ..filters import FilterFn
from .yaml_source import PathKey

__all__ = [
    "NOVALUE",
    "NO_VALUE_SOURCES",
    "Exclusion",
    "FilterStep",
    "RestSpec",
    "RuleSpec",
    "missing_message",
    "no_value_test",
]


class _NoValue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


NOVALUE: Any = _NoValue()

# What counts as "no value" at each level, as a Python expression over `{v}`: generated code
# inlines it, `no_value_test` compiles it once for the slow paths (explain, error locations).
NO_VALUE_SOURCES: dict[str, str] = {
    "null": "{v} is None",
    "empty": "{v} is None or {v} == ''",
    "blank": "{v} is None or (type({v}) is str and not {v}.strip())",
}
_NO_VALUE_TESTS: dict[str, Callable[[Any], bool]] = {
    level: eval(f"lambda v: {source.format(v='v')}")  # our own constant source
    for level, source in NO_VALUE_SOURCES.items()
}


def no_value_test(level: str) -> Callable[[Any], bool]:
    """The test for 'no value' at a level: null, empty or blank."""
    return _NO_VALUE_TESTS[level]


@dataclass(slots=True)
class FilterStep:
    """One filter in a pipeline, with the label it shows in errors and traces."""

    name: str
    fn: FilterFn
    path: str
    inline: str | None = None
    memo: bool = False   # its results on short strings are remembered (`FilterDef.memo`)


@dataclass(slots=True)
class Exclusion:
    """A path left out of a `rest` copy, always or when a condition holds. `text` is the path
    as written, at `key` in the spec; a condition is at `(*key[:-1], "when")`."""

    keys: tuple[str, ...]
    when: CompiledExpr | None = None
    text: str = ""
    key: PathKey = ()


@dataclass(slots=True)
class RestSpec:
    """A deep copy of an object, except some paths."""

    source: CompiledExpr
    exclusions: list[Exclusion]
    prune_empty: bool
    path: str
    key: PathKey = ()


@dataclass(slots=True)
class RuleSpec:
    """One value rule, compiled: exactly one source kind is set (`rest` may join `fields`).
    `key` is the rule's place in the spec, `source_key` its `from` expression's (the rule's own
    for the shorthand `name: expression`); a `when` is at `(*key, "when")`."""

    path: str
    key: PathKey = ()
    source_key: PathKey = ()
    line: int = 0
    column: int = 0
    description: str = ""
    when: CompiledExpr | None = None
    source: CompiledExpr | None = None
    const: Any = NOVALUE
    first: list[RuleSpec] = field(default_factory=list)
    rest: RestSpec | None = None
    fields: list[tuple[str, RuleSpec]] | None = None
    filters: list[FilterStep] = field(default_factory=list)
    no_value: str = "null"
    required: bool = False


def missing_message(path: str) -> str:
    """What a required rule with no value says: the JSON path it reads, `$.object_type is missing`."""
    return f"{path} is missing" if path.startswith("$") else "required value is missing"
