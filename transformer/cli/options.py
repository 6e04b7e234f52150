"""Cheap conversion of command-line values, for the plain types our commands declare.

Typer (0.2x) converts every option through a pydantic `TypeAdapter`: importing pydantic and
building the adapters took about 0.2 s of CPU on each run of `transformer replay one.json`,
more than loading the mapping. Our options are only `str`, `int`, `float`, `bool`, `Path` and
lists of them, with at most a `min`/`max`; `install()` makes typer convert those here, as click
does (and with click's wording), and leaves any other annotation to typer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

import typer.core

__all__ = ["install", "plain_converter"]

_NAMES = {int: "integer", float: "float"}
_BOOLS = {"1": True, "true": True, "t": True, "yes": True, "y": True, "on": True,
          "0": False, "false": False, "f": False, "no": False, "n": False, "off": False}


def plain_converter(annotation: Any, low: Any = None, high: Any = None) -> Callable[[Any], Any] | None:
    """A function from a command-line value to `annotation` (raising `ValueError` with a
    message for people), or None when the annotation is not one of the plain ones."""
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (str,)
        one = plain_converter(item, low, high)
        return None if one is None else _each(one)
    if annotation is str:
        return str
    if annotation is Path:
        return Path
    if annotation is bool:
        return _bool
    if annotation in (int, float):
        return _number(annotation, low, high)
    return None


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def convert_all(value: Any) -> list[Any]:
        return [convert(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
    return convert_all


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    found = _BOOLS.get(str(value).strip().lower())
    if found is None:
        raise ValueError(f"{value!r} is not a valid boolean.")
    return found


def _number(kind: type, low: Any, high: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a valid {_NAMES[kind]}.") from None
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = (f"{low}<=x<={high}" if low is not None and high is not None
                      else f"x>={low}" if low is not None else f"x<={high}")
            raise ValueError(f"{number} is not in the range {bounds}.")
        return number
    return convert


class _Plain:
    """What typer's `RuntimeParam.coerce` does, with a plain converter."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        self.convert = convert

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        from typer._click.exceptions import BadParameter

        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if multi and isinstance(value, str):
            raise BadParameter("Value must be an iterable.", ctx=ctx, param=param)
        try:
            return self.convert(value)
        except ValueError as exc:
            raise BadParameter(str(exc), ctx=ctx, param=param) from None


def install() -> None:
    """Make typer convert plain values here (once; idempotent). Typer before 0.2x converts with
    click's own types and has no such hook: nothing to do there."""
    parameter: Any = vars(typer.core).get("_TyperParameter")
    original = getattr(parameter, "get_runtime_param", None)
    if original is None or getattr(original, "plain", False):
        return

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            info = self.type_descriptor.parameter_info
            convert = (plain_converter(self.type_descriptor.annotation, info.min, info.max)
                       if self.type_descriptor.file_annotation is None and info.parser is None else None)
            self._runtime_param = _Plain(convert) if convert is not None else original(self)
        return self._runtime_param

    get_runtime_param.plain = True  # type: ignore[attr-defined]
    parameter.get_runtime_param = get_runtime_param
