"""What applying a mapping to one payload gives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from ..errors import PayloadError

__all__ = ["Result", "ResultKind", "Skip"]


@dataclass(frozen=True, slots=True)
class Skip:
    """A payload deliberately not turned into events: the skip rule's id and reason."""

    rule: str
    reason: str


class ResultKind(StrEnum):
    """What became of one payload."""

    EVENTS = "events"
    SKIP = "skip"
    ERROR = "error"


class Result(NamedTuple):
    """What became of one payload: its events, or a skip, or (from `result` and `apply_many`)
    an error."""

    events: list[dict[str, Any]]
    skip: Skip | None = None
    error: PayloadError | None = None
    id: str | None = None

    @property
    def kind(self) -> ResultKind:
        """`error`, `skip` or `events` (possibly none: an `each` over an empty list)."""
        if self.error is not None:
            return ResultKind.ERROR
        return ResultKind.EVENTS if self.skip is None else ResultKind.SKIP
