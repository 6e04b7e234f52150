"""Compiled rules: their specs, and the helpers the generated code calls.

The compiler turns each value rule of the spec into a `RuleSpec`: plain and inspectable, what
`codegen` turns into the per-event function and what `explain` walks. `env[0]` is the payload
and the other slots hold variables, filled on first use. A rule with no value is `NOVALUE`;
the key is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .expr import CompiledExpr
from .expr.compile import is_false
from .filters import FilterFn

__all__ = [
    "NOVALUE",
    "NO_VALUE_SOURCES",
    "Exclusion",
    "FilterStep",
    "RestSpec",
    "RuleSpec",
    "copy_except",
    "deep_copy",
    "locate",
    "missing_message",
    "no_value_test",
    "rest_copier",
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
    line: int = 0
    column: int = 0


@dataclass(slots=True)
class Exclusion:
    """A path left out of a `rest` copy, always or when a condition holds."""

    keys: tuple[str, ...]
    when: CompiledExpr | None = None


@dataclass(slots=True)
class RestSpec:
    """A deep copy of an object, except some paths."""

    source: CompiledExpr
    exclusions: list[Exclusion]
    prune_empty: bool
    path: str


@dataclass(slots=True)
class RuleSpec:
    """One value rule, compiled: exactly one source kind is set (`rest` may join `fields`)."""

    path: str
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


_REMOVE: Any = object()
Trie = dict[str, Any]


def _trie(paths: list[tuple[str, ...]]) -> Trie:
    root: Trie = {}
    for keys in paths:
        node = root
        for key in keys[:-1]:
            child = node.get(key)
            if child is _REMOVE:
                break
            node = node.setdefault(key, {})
        else:
            node[keys[-1]] = _REMOVE
    return root


def rest_copier(rest: RestSpec) -> tuple[Any, list[Exclusion]]:
    """For a `rest` rule: the fixed trie when no exclusion has a condition, else a function of
    (object, flags) that copies with the exclusions whose flags are on, and the conditional ones."""
    fixed = [e.keys for e in rest.exclusions if e.when is None]
    conditional = [e for e in rest.exclusions if e.when is not None]
    if not conditional:
        return _trie(fixed), []
    prune = rest.prune_empty
    tries: dict[tuple[bool, ...], Trie] = {}

    def copy_with(obj: dict[str, Any], flags: tuple[bool, ...]) -> dict[str, Any]:
        found = tries.get(flags)
        if found is None:
            chosen = fixed + [e.keys for e, on in zip(conditional, flags, strict=True) if on]
            found = tries[flags] = _trie(chosen)
        return copy_except(obj, found, prune)
    return copy_with, conditional


def copy_except(obj: dict[str, Any], trie: Trie, prune: bool) -> dict[str, Any]:
    """A deep copy of `obj` without the paths in `trie`, keys in their order; with `prune`,
    objects that lost every key to the exclusions are left out too."""
    get = trie.get
    out = {key: (value if type(value) in _ATOMS else deep_copy(value)) if key not in trie
           else _copy_nested(value, trie[key], prune)
           for key, value in obj.items() if get(key) is not _REMOVE}
    if prune:
        for key in trie:
            if out.get(key) is _PRUNED:
                del out[key]
    return out


_PRUNED: Any = object()


def _copy_nested(value: Any, sub: Trie, prune: bool) -> Any:
    if not isinstance(value, dict):
        return deep_copy(value)
    copied = copy_except(value, sub, prune)
    return _PRUNED if prune and value and not copied else copied


_ATOMS = frozenset({str, int, float, bool, type(None)})


def deep_copy(value: Any) -> Any:
    """A copy of a JSON value: new dicts and lists, shared immutable scalars."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or isinstance(value, dict):
        return {k: v if type(v) in _ATOMS else deep_copy(v) for k, v in value.items()}
    if kind is list or isinstance(value, list):
        return [v if type(v) in _ATOMS else deep_copy(v) for v in value]
    return value


def missing_message(path: str) -> str:
    """What a required rule with no value says: the JSON path it reads, `$.object_type is missing`."""
    return f"{path} is missing" if path.startswith("$") else "required value is missing"


def locate(spec: RuleSpec, env: list[Any]) -> str:
    """The JSON path the rule's value came from (for error messages); the slow path."""
    if spec.source is not None:
        return spec.source.json_path()
    if spec.rest is not None:
        return spec.rest.source.json_path()
    empty = no_value_test(spec.no_value)
    for candidate in spec.first:
        try:
            if candidate.when is not None and is_false(candidate.when.fn(env[0], env)):
                continue
            if candidate.source is not None and empty(candidate.source.fn(env[0], env)):
                continue
        except Exception:  # noqa: BLE001 - only locating; the real error is being raised
            continue
        return locate(candidate, env)
    return locate(spec.first[0], env) if spec.first else "$"
