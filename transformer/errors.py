"""The exception tree, and how problems are worded.

A spec problem carries the file, the 1-based line and column in the YAML, and the rule path
(`fields.platform.filters[0]`). `SpecError` is raised once with every problem found. A payload
problem carries the rule path and the JSON path into the payload, with a short repr of the value.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "PayloadError",
    "Problem",
    "SettingsError",
    "SpecError",
    "TransformerError",
    "did_you_mean",
    "format_rule_path",
    "short_repr",
]


class TransformerError(Exception):
    """Base class of every error this library raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a spec, at a place in its YAML."""

    file: str
    line: int
    column: int
    rule: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return self.render(label=self.severity != "error")

    def render(self, *, label: bool) -> str:
        """`file:line:column: [severity:] rule: message`."""
        where = f"{self.file}:{self.line}:{self.column}"
        rule = f" {self.rule}:" if self.rule else ""
        shown = f" {self.severity}:" if label else ""
        return f"{where}:{shown}{rule} {self.message}"


class SpecError(TransformerError):
    """A mapping spec that cannot be loaded; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=_problem_order))
        super().__init__("\n".join(str(p) for p in self.problems))


def _problem_order(problem: Problem) -> tuple[str, int, int, str]:
    return (problem.file, problem.line, problem.column, problem.message)


class SettingsError(TransformerError):
    """A setting value that is unknown or of the wrong type; `messages` lists each."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = tuple(messages)
        super().__init__("\n".join(self.messages))


class PayloadError(TransformerError):
    """A payload the mapping cannot handle: names the rule and the JSON path."""

    def __init__(self, rule: str, path: str, message: str) -> None:
        self.rule = rule
        self.path = path
        self.message = message
        super().__init__(f"{rule}: {message} (at {path})")


_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40
_repr.maxlist = 4
_repr.maxdict = 4
_repr.maxlevel = 2


def short_repr(value: object) -> str:
    """A short, truncated repr of a payload value, safe to print."""
    return _repr.repr(value)


def format_rule_path(parts: Iterable[str | int]) -> str:
    """`("fields", "platform", "filters", 0)` → `fields.platform.filters[0]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`" (did you mean 'x'?)"` for the closest known word, or `""`."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
