"""Compiled rules and their evaluation: the per-event path.

The compiler turns each value rule of the spec into a `RuleSpec` (plain, inspectable: what
`explain` walks) and `build` turns a `RuleSpec` into a closure `evaluate(env) -> value`, where
`env[0]` is the payload and the other slots hold variables, filled on first use. A rule with no
value returns `NOVALUE`; the caller leaves the key out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jmespath.exceptions import JMESPathError

from .errors import PayloadError, short_repr
from .expr import CompiledExpr
from .expr.compile import is_false
from .expr.functions import EvalError
from .filters import FilterFn, FilterValueError

__all__ = [
    "NOVALUE",
    "Exclusion",
    "FilterStep",
    "RestSpec",
    "RuleSpec",
    "build",
    "deep_copy",
    "evaluate_expr",
    "no_value_test",
]


class _NoValue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


NOVALUE: Any = _NoValue()

Evaluate = Callable[[list[Any]], Any]


def _is_null(value: Any) -> bool:
    return value is None


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _is_blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


NO_VALUE_LEVELS: dict[str, Callable[[Any], bool]] = {
    "null": _is_null, "empty": _is_empty, "blank": _is_blank,
}


def no_value_test(level: str) -> Callable[[Any], bool]:
    """The test for 'no value' at a level: null, empty or blank."""
    return NO_VALUE_LEVELS[level]


@dataclass(slots=True)
class FilterStep:
    """One filter in a pipeline, with the label it shows in errors and traces."""

    name: str
    fn: FilterFn
    path: str


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


def evaluate_expr(expr: CompiledExpr, env: list[Any], rule: str) -> Any:
    """Evaluate an expression on the payload, turning its failures into `PayloadError`."""
    try:
        return expr.fn(env[0], env)
    except PayloadError:
        raise
    except (EvalError, JMESPathError) as exc:
        raise PayloadError(rule, expr.json_path(), str(exc)) from None
    except RecursionError:
        raise PayloadError(rule, expr.json_path(), "value nested too deeply") from None


def build(spec: RuleSpec) -> Evaluate:
    """The closure that evaluates a rule for one event."""
    source = _build_source(spec)
    when = spec.when
    if when is not None and when.const:  # decided by settings alone, once
        if is_false(when.value):
            return lambda env: NOVALUE
        when = None
    when_rule = spec.path + ".when"
    steps = [(step.fn, step.path) for step in spec.filters]
    empty = no_value_test(spec.no_value)
    required = spec.required
    rule_path = spec.path

    def missing(env: list[Any]) -> Any:
        if required:
            raise PayloadError(rule_path, locate(spec, env), "required value is missing")
        return NOVALUE

    if when is None and not steps and not required:
        return source

    def evaluate(env: list[Any]) -> Any:
        if when is not None and is_false(evaluate_expr(when, env, when_rule)):
            return NOVALUE
        value = source(env)
        if value is NOVALUE:
            return missing(env)
        for fn, path in steps:
            try:
                value = fn(value)
            except FilterValueError as exc:
                raise PayloadError(path, locate(spec, env), str(exc)) from None
            if value is None:
                return missing(env)
        if empty(value):
            return missing(env)
        return value
    return evaluate


def _build_source(spec: RuleSpec) -> Evaluate:
    if spec.source is not None:
        return _build_from(spec.source, spec.path + ".from", no_value_test(spec.no_value))
    if spec.first:
        return _build_first([build(candidate) for candidate in spec.first])
    if spec.fields is not None or spec.rest is not None:
        return _build_object(spec)
    return _build_const(spec.const)


def _build_from(expr: CompiledExpr, rule: str, empty: Callable[[Any], bool]) -> Evaluate:
    fn = expr.fn

    def from_(env: list[Any]) -> Any:
        try:
            value = fn(env[0], env)
        except PayloadError:
            raise
        except (EvalError, JMESPathError, RecursionError):
            value = evaluate_expr(expr, env, rule)  # raises the worded error
        return NOVALUE if empty(value) else value
    return from_


def _build_first(candidates: list[Evaluate]) -> Evaluate:
    def first(env: list[Any]) -> Any:
        for candidate in candidates:
            value = candidate(env)
            if value is not NOVALUE:
                return value
        return NOVALUE
    return first


def _build_const(value: Any) -> Evaluate:
    if isinstance(value, (dict, list)):
        return lambda env: deep_copy(value)
    return lambda env: value


def _build_object(spec: RuleSpec) -> Evaluate:
    fields = [(key, build(rule)) for key, rule in (spec.fields or [])]
    rest = _build_rest(spec.rest) if spec.rest is not None else None

    def object_(env: list[Any]) -> Any:
        if rest is not None:
            out = rest(env)
            if out is NOVALUE:
                out = {}
                base = False
            else:
                base = True
        else:
            out, base = {}, False
        for key, evaluate in fields:
            value = evaluate(env)
            if value is not NOVALUE:
                out[key] = value
        return out if (out or base) else NOVALUE
    return object_


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


def _build_rest(rest: RestSpec) -> Evaluate:
    source = rest.source
    rule = rest.path + ".from"
    fixed = [e.keys for e in rest.exclusions if e.when is None]
    conditional = [e for e in rest.exclusions if e.when is not None]
    prune = rest.prune_empty
    tries: dict[tuple[bool, ...], Trie] = {}
    static_trie = _trie(fixed)

    def pick_trie(env: list[Any]) -> Trie:
        if not conditional:
            return static_trie
        flags = tuple(not is_false(evaluate_expr(e.when, env, f"{rest.path}.except"))
                      for e in conditional if e.when is not None)
        found = tries.get(flags)
        if found is None:
            chosen = fixed + [e.keys for e, on in zip(conditional, flags, strict=True) if on]
            found = tries[flags] = _trie(chosen)
        return found

    def rest_(env: list[Any]) -> Any:
        value = evaluate_expr(source, env, rule)
        if value is None:
            return NOVALUE
        if not isinstance(value, dict):
            raise PayloadError(rule, source.json_path(),
                               f"rest expects an object, got {short_repr(value)}")
        try:
            return _copy_except(value, pick_trie(env), prune)
        except RecursionError:
            raise PayloadError(rule, source.json_path(), "value nested too deeply") from None
    return rest_


def _copy_except(obj: dict[str, Any], trie: Trie, prune: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        sub = trie.get(key)
        if sub is None:
            out[key] = deep_copy(value)
        elif sub is _REMOVE:
            continue
        elif isinstance(value, dict):
            copied = _copy_except(value, sub, prune)
            if prune and value and not copied:
                continue
            out[key] = copied
        else:
            out[key] = deep_copy(value)
    return out


def deep_copy(value: Any) -> Any:
    """A copy of a JSON value: new dicts and lists, shared immutable scalars."""
    if isinstance(value, dict):
        return {k: (deep_copy(v) if isinstance(v, (dict, list)) else v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


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
    return "$"
