"""What applying a mapping to one payload gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import PayloadError

__all__ = ["Result", "Skip"]


@dataclass(frozen=True, slots=True)
class Skip:
    """A payload deliberately not turned into events: the skip rule's id and reason."""

    rule: str
    reason: str


class Result(NamedTuple):
    """What became of one payload: its events, or a skip, or (from `apply_many`) an error."""

    events: list[dict[str, Any]]
    skip: Skip | None = None
    error: PayloadError | None = None
    id: str | None = None
