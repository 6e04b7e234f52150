"""`transformer replay`'s command line read without typer, for the plain ones.

Importing typer (and the click it carries) is about a third of `transformer replay one.json`'s
time. `parse` reads the command lines people type — inputs, and each option of `replay.py`
at most once, as `--name VALUE`, `--name=VALUE` or `-x VALUE`, the flags alone — into the
arguments typer would give `replay`; for anything else (`--help`, an unknown or repeated
option, a value that looks like an option, a number out of range, no input) it returns None
and the typer application reads the line, with its own messages. `tests/test_replay_args.py`
holds `parse` to typer's reading of the same lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .basics import DEFAULT_MAPPING, DEFAULT_MAX_DEPTH, DEFAULT_OUTPUT_BUDGET

__all__ = ["DEFAULTS", "parse"]

DEFAULTS: dict[str, Any] = {
    "mapping": DEFAULT_MAPPING, "assignments": None, "settings_file": None, "output": None,
    "include_skips": False, "check": False, "max_depth": DEFAULT_MAX_DEPTH,
    "output_budget": DEFAULT_OUTPUT_BUDGET, "workers": None}
"""`replay`'s parameters when their option is not given (a test holds them to `replay.py`'s)."""

_VALUED: dict[str, tuple[str, Any]] = {
    # option: (parameter, conversion: a type, or the (low, high) bounds of an integer)
    "--mapping": ("mapping", str), "-m": ("mapping", str),
    "--set": ("assignments", list), "-s": ("assignments", list),
    "--settings": ("settings_file", Path),
    "--output": ("output", Path), "-o": ("output", Path),
    "--max-depth": ("max_depth", (1, 1000)),
    "--output-budget": ("output_budget", (1, None)),
    "--workers": ("workers", (1, None)), "-w": ("workers", (1, None)),
}
_FLAGS = {"--include-skips": "include_skips", "--check": "check"}


def parse(args: list[str]) -> dict[str, Any] | None:
    """`replay`'s keyword arguments for the command line `args` (what follows `replay`), or
    None when typer should read it."""
    found: dict[str, Any] = {}
    inputs: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            inputs.extend(rest)
            break
        if arg == "-" or not arg.startswith("-"):
            inputs.append(arg)
            continue
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not equals and _FLAGS[name] not in found:
            found[_FLAGS[name]] = True
            continue
        if name not in _VALUED:
            return None
        if not equals:
            given = next(rest, None)
            if given is None or (given.startswith("-") and given != "-"):
                return None
            value = given
        parameter, kind = _VALUED[name]
        converted = _convert(kind, value)
        if converted is None:
            return None
        if kind is list:
            found.setdefault(parameter, []).extend(converted)
        elif parameter in found:
            return None
        else:
            found[parameter] = converted
    if not inputs:
        return None
    return {"inputs": inputs, **DEFAULTS, **found}


def _convert(kind: Any, value: str) -> Any:
    if kind is list:
        return [value]
    if kind is str or kind is Path:
        return kind(value)
    low, high = kind
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if low <= number and (high is None or number <= high) else None
