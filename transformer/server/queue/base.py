"""The receiver's queue: the lease/ack protocol every implementation (SQLite, PostgreSQL, …) keeps.

A queue holds the events of acknowledged webhooks until a forwarder settles them, remembers the
payload ids it took in (dedupe), and keeps dead letters. Its life cycle for one event:

    intake ──► pending ──claim──► leased ──ack──────► gone (delivered)
                  ▲                  │  └─set_aside─► dead letter ──requeue──► pending
                  └──release/expiry──┘

- `intake(items)` takes a group of webhooks in ONE transaction: for each, its payload id is
  checked and remembered atomically with the enqueue (`Outcome.DUPLICATE` when seen before,
  in this group too), then its events are enqueued (`STORED`), or its payload is kept as a
  `payload_error` dead letter (`DEAD_LETTER`). All or nothing: on any failure it raises
  `QueueError` with nothing written. A webhook is answered only after this returns.
- `claim(limit, lease)` leases up to `limit` claimable events, oldest first, for `lease`
  seconds to this queue's `owner`. Claimable: not under an unexpired lease, and past the
  `release` delay. Two claims never get the same event while its lease runs; once it expires
  the event is claimable again (by anyone) and the old lease's handles are stale.
- Settling (`ack`, `set_aside`, `release`) takes the `Handle`s of a claim and acts only on
  events still under that claim: a handle whose event was claimed again by someone else (after
  its lease expired), or already settled, changes nothing. A settle after expiry but before
  anyone claimed again still counts (the work was done). Each returns how many events it
  settled. `set_aside` moves events to the dead letters in the same transaction.
  `release(handles, after)` makes them claimable again `after` seconds from now, at their old
  place in the order (oldest first).
- Times the protocol takes are durations from now by the queue's own clock (`lease`, `after`,
  `older_than`), so several receivers sharing one queue need not agree on the time; the times
  it returns are unix seconds of that clock.
- `prune(older_than, limit)` forgets payload ids remembered more than `older_than` seconds ago,
  at most `limit` in one go (call again while it returns `limit`); it never touches events.
- Pauses shared by every receiver on the queue: `pause(keys)` records that the users or devices
  `keys` (the sender's ordering keys as "NAME:VALUE", e.g. "user_id:ID") are paused for the
  seconds given (a 429 named them; a pause already running longer is kept), and `pauses()`
  returns those still paused, with the seconds left. `prune` also forgets pauses that ended.
- Dead letters: `letters`, `letter`, `requeue` (back to pending: the letter's own event, or for
  a payload letter the events given for it), `drop`, `note_failure` (a resend failed again).
- Health: `problem()` says, without writing, why nothing can be taken in now (a SQLite file
  deleted or replaced); `probe()` makes a small write that shows the queue takes commits;
  `stats()` gives depth, oldest pending age, leased events and dead letters for /metrics (it
  may count every row); `oldest_age()` is the cheap part readiness needs, often.
  `prepare()` readies a queue for a server (SQLite: the single-instance lock, a damage check).
- Every failure is a `QueueError` whose message says what is wrong; `UnreachableError` when the
  queue's server cannot be reached at all.

`tests/queue_conformance.py` checks all of this against every implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from ...destinations.dead_letters import DeadLetterKind

__all__ = ["Claim", "Claimed", "Handle", "Intake", "Letter", "Outcome", "Queue", "QueueError", "Reason",
           "Stats", "UnreachableError"]


class QueueError(Exception):
    """The queue cannot do what was asked (unreachable, full, damaged, closed, …); the message
    says what and, where it can, what to do."""


class UnreachableError(QueueError):
    """The queue's server cannot be reached (down, restarting, a network cut): every call fails
    alike until it is back, so retrying a group item by item is pointless."""


class Outcome(StrEnum):
    """What became of one webhook taken in (also the `status` of its 200 answer)."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Intake:
    """One accepted webhook: its payload id (None: never a duplicate), its events as JSON, or
    a payload error to keep with the payload as received."""

    event_id: str | None
    events: Sequence[bytes] = ()
    error: str | None = None
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class Handle:
    """One claimed event as the queue that leased it knows it; opaque to everyone else.
    `ref` is the implementation's own (a row id, a receipt), `lease` the claim's token."""

    ref: int | str
    lease: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """A leased event: its handle, the payload id it came from, the event as JSON, when it was
    received (unix time), and how many claims took it before this one."""

    handle: Handle
    event_id: str | None
    event: bytes
    received_at: float
    claims: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """What one `claim` leased (possibly nothing): to `owner`, under the token `lease`, until
    `expires_at` (unix time), oldest first."""

    owner: str
    lease: str
    expires_at: float
    events: list[Claimed] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an event is set aside: the text, and the delivery attempts and last HTTP status."""

    text: str
    attempts: int = 0
    status: int | None = None
    kind: DeadLetterKind = DeadLetterKind.SET_ASIDE


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter: an event (set aside) or a payload (payload error), as the bytes kept;
    `at` is when it became one (unix time)."""

    id: int
    kind: DeadLetterKind
    reason: str
    event_id: str | None
    event: bytes | None
    payload: bytes | None
    attempts: int
    status: int | None
    at: float


@dataclass(frozen=True, slots=True)
class Stats:
    """A queue's gauges: events not yet settled (claimable, leased or waiting out a release
    delay), the age in seconds of the oldest of them (0 when none), those under an unexpired
    lease, and the dead letters kept."""

    depth: int
    oldest_age: float
    leased: int
    letters: int


class Queue(Protocol):
    """The lease/ack queue; see the module docstring for the semantics of each method."""

    @property
    def owner(self) -> str:
        """Who this queue object claims as (unique per object: host, process, random)."""

    @property
    def location(self) -> str:
        """Where the queue is, for logs and messages (a path; a URL without its password)."""

    def intake(self, items: Sequence[Intake]) -> list[Outcome]:
        """Take in a group of webhooks in one transaction; one outcome each, in order."""

    def claim(self, limit: int, lease: float) -> Claim:
        """Lease up to `limit` claimable events, oldest first, for `lease` seconds."""

    def ack(self, handles: Sequence[Handle]) -> int:
        """Delete delivered events still under these handles' claims; how many."""

    def set_aside(self, handles: Sequence[Handle], reasons: Sequence[Reason]) -> int:
        """Move events still under these handles' claims to the dead letters, one reason each."""

    def release(self, handles: Sequence[Handle], after: float = 0.0) -> int:
        """Give events still under these handles' claims back, claimable in `after` seconds."""

    def prune(self, older_than: float, limit: int = 5000) -> int:
        """Forget at most `limit` payload ids remembered more than `older_than` seconds ago."""

    def pause(self, keys: Mapping[str, float]) -> None:
        """Pause these users or devices for the seconds given, unless paused longer already."""

    def pauses(self) -> dict[str, float]:
        """Users and devices still paused, with the seconds left."""

    def letters(self, *, kind: DeadLetterKind | None = None, limit: int | None = None) -> list[Letter]:
        """Dead letters, oldest first, optionally of one kind, at most `limit`."""

    def letter(self, letter_id: int) -> Letter | None:
        """One dead letter, or None."""

    def requeue(self, ids: Sequence[int], events: Mapping[int, Sequence[bytes]] | None = None) -> int:
        """Put letters back in the queue in one transaction and remove them: each letter's own
        event, or the events given for it in `events` (a payload transformed again). A payload
        letter without events given raises `QueueError`, nothing changed. Ids not found are
        passed over. Returns the events enqueued."""

    def drop(self, letter_id: int) -> bool:
        """Remove a dead letter; whether it was there."""

    def note_failure(self, letter_id: int, reason: str) -> bool:
        """A letter failed again when resent: record the new reason, one attempt more."""

    def stats(self) -> Stats:
        """Depth, oldest pending age, leased events, dead letters."""

    def oldest_age(self) -> float:
        """Seconds since the oldest event not yet settled was received (0 when none); cheap."""

    def problem(self) -> str | None:
        """Why nothing can be taken in now, found without writing; None when nothing is known."""

    def probe(self) -> None:
        """A small write that shows the queue takes commits; raises `QueueError` with why not."""

    def prepare(self) -> None:
        """Ready the queue for a server, once, before it serves; raises `QueueError` saying
        what to do when it cannot be used."""

    def close(self) -> None:
        """Release connections (and locks); later calls raise `QueueError`."""
