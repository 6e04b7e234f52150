"""What goes in and out of the receiver's store: the ops its writer commits, and its rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DeadLetterRow", "Delete", "Intake", "Op", "Outcome", "PendingRow", "Probe", "Prune", "SetAside"]


class Outcome:
    """What became of one intake: the string constants below."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Intake:
    """One accepted webhook: its payload id, its events as JSON, or a payload error to keep."""

    event_id: str | None
    events: Sequence[bytes] = ()
    error: str | None = None
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Pending rows Amplitude accepted."""

    ids: Sequence[int]


@dataclass(frozen=True, slots=True)
class SetAside:
    """Move one pending row to the dead letters."""

    id: int
    kind: str
    reason: str
    attempts: int = 0
    status: int | None = None


@dataclass(frozen=True, slots=True)
class Prune:
    """Forget `seen` ids older than `before` (unix time), at most `limit` rows in one go."""

    before: float
    limit: int = 5000


@dataclass(frozen=True, slots=True)
class Probe:
    """A one-row write that shows the store still takes commits (readiness)."""


Op = Intake | Delete | SetAside | Prune | Probe


@dataclass(frozen=True, slots=True)
class PendingRow:
    """An event waiting for Amplitude."""

    id: int
    event_id: str | None
    event: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A dead letter: an event (set aside or undelivered) or a payload (payload error)."""

    id: int
    kind: str
    reason: str
    event_id: str | None
    event: bytes | None
    payload: bytes | None
    attempts: int
    status: int | None
    at: float
