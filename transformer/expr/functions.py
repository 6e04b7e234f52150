"""The functions expressions may call: JMESPath's built-ins plus a few of the spec language's.

Added functions:
- `exists(&path)`: whether the path is present in the payload, even with a null value (plain
  JMESPath cannot tell a missing key from null).
- `is_blank(value)`: true for null, `""`, whitespace-only strings, `[]` and `{}`.
- `matches_any(subject, patterns)`: whether a string matches any shell-style glob pattern
  (`*`, `?`, `[abc]`).
- `sha256(value)`: the hex SHA-256 of the value's canonical JSON (keys sorted, no spaces, UTF-8),
  so equal values hash alike however the input was spaced or its keys ordered.

Calls check argument types the way jmespath does, but with checks prepared once per call site.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jmespath import exceptions as jexc
from jmespath import functions as jfunctions
from jmespath import visitor as jvisitor

from ..errors import describe_value, python_types

__all__ = [
    "FUNCTIONS",
    "EvalError",
    "FunctionDef",
    "check_constant_argument",
    "is_blank",
    "make_value_call",
    "matches_everything",
    "path_exists",
    "sha256_of",
    "specialize",
]


class EvalError(Exception):
    """An expression that fails on this payload (a function given the wrong type of value)."""

class _Functions(jfunctions.Functions):  # type: ignore[misc]
    @jfunctions.signature({"types": ["expref"]})  # type: ignore[untyped-decorator]
    def _func_exists(self, ref: Any) -> bool:  # compiled specially; see path_exists
        raise NotImplementedError

    @jfunctions.signature({"types": []})  # type: ignore[untyped-decorator]
    def _func_is_blank(self, value: Any) -> bool:
        return is_blank(value)

    @jfunctions.signature({"types": ["string"]}, {"types": ["array-string"]})  # type: ignore[untyped-decorator]
    def _func_matches_any(self, subject: str, patterns: list[str]) -> bool:
        return bool(_glob(tuple(patterns))(subject) is not None)

    @jfunctions.signature({"types": []})  # type: ignore[untyped-decorator]
    def _func_sha256(self, value: Any) -> str:
        return sha256_of(value)


_INSTANCE = _Functions()


def sha256_of(value: Any) -> str:
    """Hex SHA-256 of `value` as canonical JSON: sorted keys, compact separators, UTF-8."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except RecursionError:
        raise EvalError("sha256(): the value is nested too deeply to hash") from None
    except (TypeError, ValueError) as exc:  # NaN or infinity: no JSON text for them
        raise EvalError(f"sha256(): {exc}") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_blank(value: Any) -> bool:
    """Null, empty string/array/object, or a string of only whitespace."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return bool(value == [] or value == {})


@lru_cache(maxsize=256)
def _glob(patterns: tuple[str, ...]) -> Callable[[str], Any]:
    if not patterns:
        return lambda subject: None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.S).match


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """A function's name and signature, as jmespath records it."""

    name: str
    signature: tuple[dict[str, Any], ...]
    impl: Callable[..., Any]

    @property
    def variadic(self) -> bool:
        return bool(self.signature) and bool(self.signature[-1].get("variadic"))

    @property
    def min_args(self) -> int:
        return len(self.signature)

    def arg_types(self, i: int) -> tuple[str, ...]:
        if not self.signature:
            return ()
        spec = self.signature[min(i, len(self.signature) - 1)]
        return tuple(spec.get("types") or ())


FUNCTIONS: dict[str, FunctionDef] = {
    name: FunctionDef(name, tuple(spec["signature"]), spec["function"])
    for name, spec in _Functions.FUNCTION_TABLE.items()
}


def check_constant_argument(fdef: FunctionDef, i: int, value: Any) -> str | None:
    """The problem with a literal argument's type, or None when it fits."""
    types = list(fdef.arg_types(i))
    if not types:
        return None
    try:
        _INSTANCE._type_check_single(value, types, fdef.name)
    except jexc.JMESPathTypeError:
        return _type_message(fdef, i, value)
    return None


def _type_message(fdef: FunctionDef, i: int, value: Any) -> str:
    wanted = " or ".join(t.replace("array-", "array of ") + ("s" if t.startswith("array-") else "")
                         for t in fdef.arg_types(i))
    return f"argument {i + 1} of {fdef.name}() must be {wanted}, got {describe_value(value)}"


_PYTHON_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


def _raise_type_error(fdef: FunctionDef, values: list[Any]) -> Any:
    """Find the argument jmespath rejects and raise `EvalError` naming it."""
    for i, value in enumerate(values):
        if check_constant_argument(fdef, i, value):
            raise EvalError(_type_message(fdef, i, value))
    try:
        return _INSTANCE.call_function(fdef.name, values)
    except jexc.JMESPathError as exc:
        raise EvalError(f"{fdef.name}(): {exc}") from None


def _checker(types: Sequence[str]) -> Callable[[Any], bool] | None:
    """A fast test of one argument against jmespath type names (None: anything goes)."""
    if not types:
        return None
    tests: list[Callable[[Any], bool]] = []
    for name in types:
        kind, _, sub = name.partition("-")
        pytypes = _pytypes(kind)
        tests.append(_array_test(pytypes, _pytypes(sub)) if sub else _type_test(pytypes))
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _type_test(pytypes: tuple[type, ...]) -> Callable[[Any], bool]:
    return lambda value: type(value) in pytypes


def _array_test(pytypes: tuple[type, ...], subtypes: tuple[type, ...]) -> Callable[[Any], bool]:
    return lambda value: type(value) in pytypes and all(type(x) in subtypes for x in value)


def _pytypes(name: str) -> tuple[type, ...]:
    """The Python types of a JMESPath type name: a JSON type's, or an `expref`'s."""
    return (jvisitor._Expression,) if name == "expref" else python_types(name)


def make_value_call(fdef: FunctionDef) -> Callable[..., Any]:
    """The function as generated code calls it: with values, types checked, failures worded."""
    impl = fdef.impl
    name = fdef.name
    count = fdef.min_args
    checks = [_checker(fdef.arg_types(i)) for i in range(count)]
    plain = [(i, c) for i, c in enumerate(checks) if c is not None and fdef.arg_types(i) != ("expref",)]

    def call(*values: Any) -> Any:
        for i, check in plain:
            if i < len(values) and not check(values[i]):
                return _raise_type_error(fdef, list(values))
        try:
            return impl(_INSTANCE, *values)
        except jexc.JMESPathError:
            return _raise_type_error(fdef, list(values))
        except _PYTHON_ERRORS as exc:  # jmespath checks only some variadic arguments
            raise EvalError(f"{name}(): {exc}") from None
    return call


def specialize(fdef: FunctionDef, consts: list[Any], is_const: list[bool]) -> Callable[..., Any] | None:
    """A faster function for a call with constant arguments (it takes only the others), or None."""
    if fdef.name == "join" and is_const == [True, False]:
        separator = consts[0]
        checked = make_value_call(fdef)

        def join(items: Any) -> Any:
            if type(items) is list:
                try:
                    return separator.join(items)  # str.join itself refuses non-strings
                except TypeError:
                    pass
            return checked(separator, items)  # raises the worded type error
        return join
    if fdef.name == "matches_any" and is_const == [False, True]:
        match = _glob(tuple(consts[1]))
        generic = make_value_call(fdef)
        patterns = consts[1]

        def matches(subject: Any) -> Any:
            if type(subject) is not str:
                return generic(subject, patterns)  # raises the worded type error
            return match(subject) is not None
        return matches
    return None


def matches_everything(patterns: Any) -> bool:
    """Whether a list of glob patterns matches every string (one of them is only `*`s)."""
    return type(patterns) is list and any(type(p) is str and p and not p.strip("*") for p in patterns)


def path_exists(steps: tuple[str | int, ...]) -> Callable[[Any], bool]:
    """`exists(&a.b[0])`: every step is present, the last one possibly with a null value."""
    def exists(value: Any) -> bool:
        for step in steps:
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    return False
                value = value[step]
            else:
                if not isinstance(value, dict) or step not in value:
                    return False
                value = value[step]
        return True
    return exists
