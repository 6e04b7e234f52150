"""The functions expressions may call: JMESPath's built-ins plus a few of the spec language's.

Added functions:
- `exists(&path)`: whether the path is present in the payload, even with a null value (plain
  JMESPath cannot tell a missing key from null).
- `is_blank(value)`: true for null, `""`, whitespace-only strings, `[]` and `{}`.
- `matches_any(subject, patterns)`: whether a string matches any shell-style glob pattern
  (`*`, `?`, `[abc]`).

Calls check argument types the way jmespath does, but with checks prepared once per call site.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jmespath import exceptions as jexc
from jmespath import functions as jfunctions
from jmespath import visitor as jvisitor

__all__ = [
    "FUNCTIONS",
    "EvalError",
    "FunctionDef",
    "check_constant_argument",
    "make_call",
    "path_exists",
]


class EvalError(Exception):
    """An expression that fails on this payload (a function given the wrong type of value)."""

Fn = Callable[[Any, list[Any]], Any]


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


_INSTANCE = _Functions()


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


_JSON_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}


def _type_message(fdef: FunctionDef, i: int, value: Any) -> str:
    from ..errors import short_repr

    wanted = " or ".join(t.replace("array-", "array of ") + ("s" if t.startswith("array-") else "")
                         for t in fdef.arg_types(i))
    got = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"argument {i + 1} of {fdef.name}() must be {wanted}, got {got} {short_repr(value)}"


def _raise_type_error(fdef: FunctionDef, values: list[Any]) -> Any:
    """Find the argument jmespath rejects and raise `EvalError` naming it."""
    for i, value in enumerate(values):
        if check_constant_argument(fdef, i, value):
            raise EvalError(_type_message(fdef, i, value))
    try:
        return _INSTANCE.call_function(fdef.name, values)
    except jexc.JMESPathError as exc:
        raise EvalError(f"{fdef.name}(): {exc}") from None


class _Expression(jvisitor._Expression):  # type: ignore[misc]
    """An `&expr` argument bound to the event's variables (jmespath type-checks by this name)."""

    def __init__(self, fn: Fn, env: list[Any]) -> None:
        self.expression = fn
        self.env = env

    def visit(self, node: Any, value: Any) -> Any:
        return self.expression(value, self.env)


def _checker(types: Sequence[str]) -> Callable[[Any], bool] | None:
    if not types:
        return None
    allowed, subtypes = _INSTANCE._get_allowed_pytypes(list(types))
    names = frozenset(allowed)
    if subtypes:
        return lambda value: False  # arrays of a given type: let jmespath check the elements
    return lambda value: type(value).__name__ in names


_PYTHON_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError)


def make_call(fdef: FunctionDef, args: list[Fn], exprefs: list[bool]) -> Fn:
    """A closure that evaluates the arguments, checks their types and calls the function."""
    impl = fdef.impl
    name = fdef.name
    checks = [(i, c) for i, c in ((i, _checker(fdef.arg_types(i))) for i in range(len(args)))
              if c is not None and not exprefs[i]]

    def call_checked(name: str, values: list[Any]) -> Any:
        try:
            return _INSTANCE.call_function(name, values)
        except jexc.JMESPathError:
            return _raise_type_error(fdef, values)
        except _PYTHON_ERRORS as exc:  # jmespath checks only some variadic arguments
            raise EvalError(f"{name}(): {exc}") from None

    if any(exprefs):
        def call_with_refs(current: Any, env: list[Any]) -> Any:
            values = [_Expression(fn, env) if ref else fn(current, env)
                      for fn, ref in zip(args, exprefs, strict=True)]
            return call_checked(name, values)
        return call_with_refs

    if len(args) == 1 and not fdef.variadic:
        (a0,) = args
        check0 = checks[0][1] if checks else None

        def call1(current: Any, env: list[Any]) -> Any:
            v0 = a0(current, env)
            if check0 is not None and not check0(v0):
                return call_checked(name, [v0])
            try:
                return impl(_INSTANCE, v0)
            except _PYTHON_ERRORS as exc:
                raise EvalError(f"{name}(): {exc}") from None
        return call1

    if len(args) == 2 and not fdef.variadic:
        a0, a1 = args

        def call2(current: Any, env: list[Any]) -> Any:
            values = [a0(current, env), a1(current, env)]
            for i, check in checks:
                if not check(values[i]):
                    return call_checked(name, values)
            try:
                return impl(_INSTANCE, *values)
            except _PYTHON_ERRORS as exc:
                raise EvalError(f"{name}(): {exc}") from None
        return call2

    def call(current: Any, env: list[Any]) -> Any:
        return call_checked(name, [fn(current, env) for fn in args])
    return call


def path_exists(steps: tuple[str | int, ...], base: Fn | None) -> Fn:
    """`exists(&a.b[0])`: every step is present, the last one possibly with a null value."""
    def exists(current: Any, env: list[Any]) -> Any:
        value = base(current, env) if base is not None else current
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
