"""What lint can say: the code of each kind of warning, and a warning found in an expression."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Finding", "LintCode"]


class LintCode(StrEnum):
    """The kinds of lint warning, shown after each as `[code]` (`Problem.code`)."""

    UNKNOWN_PATH = "unknown-path"
    """A payload path the input schema does not describe (a typo), with a suggestion."""
    OUTPUT_KEY = "output-key"
    """An output key the output schema does not allow."""
    OR_FALLBACK = "or-fallback"
    """`a || b` where `a` can be false or 0, which `||` treats as missing."""
    BARE_LITERAL = "bare-literal"
    """`null`, `true` or `false` written without backquotes (a field of that name)."""
    COVERAGE = "coverage"
    """An input combination that yields no named event and no skip, or a name given to several."""
    UNUSED_SETTING = "unused-setting"
    """A setting no expression reads (unless its `used_by` says who does)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A warning about an expression, `offset` characters into its text."""

    code: LintCode
    offset: int
    message: str
