"""What applying a mapping to one payload gives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from ..errors import PayloadError

__all__ = ["Result", "ResultKind", "Skip", "summary_line"]


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


def summary_line(read: int, written: int, skips: Mapping[str, int], errors: int) -> str:
    """What a run of payloads did, as `replay` and `backfill` say it: `read 3 payloads, wrote 2
    events, skipped 1 (no_identity: 1), 0 payload errors`."""
    by_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(skips.items()))
    return (f"read {read} payload{'s' if read != 1 else ''}, "
            f"wrote {written} event{'s' if written != 1 else ''}, "
            f"skipped {sum(skips.values())}{f' ({by_rule})' if by_rule else ''}, "
            f"{errors} payload error{'s' if errors != 1 else ''}")
