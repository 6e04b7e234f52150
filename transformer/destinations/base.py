"""What the generic sender needs from a destination, and what a destination answers it.

A `Destination` knows one service's protocol and nothing of batching, concurrency or retries:
what it would refuse before any request (`preflight`), which events must keep their order
(`keys`), how events become one request (`encode_event`, `framing`, `encode`), and what a
response or a failed request means for the batch (`classify`, `classify_error` → `Verdict`).
`transformer.destinations.sender.Sender` does the rest for every destination alike. A
`DestinationKind` is what the registry holds: the name, the settings the destination declares,
how to make one from resolved settings, and its fake for tests and trials.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..spec.settings import SettingDecl

if TYPE_CHECKING:
    from .fake import FakeServer

__all__ = [
    "Destination",
    "DestinationKind",
    "Framing",
    "Key",
    "Limits",
    "Request",
    "Response",
    "RetryPolicy",
    "UnencodableError",
    "Verdict",
    "VerdictKind",
    "decode_json",
    "encode_json",
    "retry_after",
    "snippet",
    "transport_failure",
]

Key = tuple[str, str]
"""An ordering key, (field, value) such as ("user_id", "42"): events sharing one keep their input
order, and pause together when the destination throttles it."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Most events, and most bytes of request body (as `framing` builds it, before any
    compression), that one request may carry."""

    max_events: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class Framing:
    """How encoded events become one request body: `head`, the events joined by `separator`,
    `tail`. The sender measures batches with it, so the limit holds on the body sent."""

    head: bytes
    separator: bytes
    tail: bytes

    def join(self, bodies: Sequence[bytes]) -> bytes:
        """The body carrying these encoded events."""
        return self.head + self.separator.join(bodies) + self.tail

    @property
    def fixed(self) -> int:
        """Bytes of a body besides its events and their separators."""
        return len(self.head) + len(self.tail)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, as `encode` builds it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response; `headers` look names up in any letter case (an `httpx.Headers`)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class VerdictKind(StrEnum):
    """What a response means for the batch that drew it."""

    ACCEPTED = "accepted"    # every event is delivered
    RETRY = "retry"          # send the batch again after a backoff (Retry-After honoured)
    THROTTLED = "throttled"  # pause the keys named, resend the batch (none named: as RETRY)
    SET_ASIDE = "set_aside"  # the events listed in `rejected` are refused; resend the others
    SPLIT = "split"          # halve the batch and resend; a single event is set aside
    FATAL = "fatal"          # the destination refuses every request (a bad key, a wrong URL): stop


@dataclass(slots=True)
class Verdict:
    """One response (or failed request), read by the destination."""

    kind: VerdictKind
    status: int | None = None        # None: no response (timeout, refused or dropped connection)
    message: str = ""                # for people; the sender scrubs secrets out of it
    retry_after: float | None = None  # seconds the destination asked us to wait (Retry-After)
    rejected: dict[int, str] = field(default_factory=dict)  # SET_ASIDE: batch index → reason
    throttled: set[Key] = field(default_factory=set)       # THROTTLED: paused for the throttle pause
    over_quota: set[Key] = field(default_factory=set)      # THROTTLED: paused for the quota pause
    quota_message: str = ""          # the last error of events over a quota
    hint: str = ""                   # FATAL: advice appended after the host


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before resending, and when to give up.

    A failed request waits `backoff_base` doubled per attempt, at most `backoff_max`, with
    jitter (a uniform pick from half that to all of it) so that retries do not arrive together,
    and never less than the destination's Retry-After. Keys named in a 429 wait `throttle_pause`
    (or Retry-After, if longer), keys over a quota `quota_pause`. An event not accepted within
    `deadline` seconds of being taken in is undelivered (`math.inf`: never)."""

    backoff_base: float = 0.5
    backoff_max: float = 30.0
    jitter: bool = True
    deadline: float = 600.0
    throttle_pause: float = 30.0
    quota_pause: float = 3600.0

    def backoff(self, attempts: int, retry_after: float | None = None,
                rng: random.Random | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        delay = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempts - 1))
        if self.jitter:
            delay = (rng or random).uniform(delay / 2, delay)
        return max(delay, retry_after or 0.0)

    def pause(self, retry_after: float | None) -> float:
        """Seconds a throttled key waits."""
        return max(self.throttle_pause, retry_after or 0.0)


class Destination(Protocol):
    """One destination service, configured (see the module docstring)."""

    @property
    def name(self) -> str:
        """Its registry name: "amplitude"."""

    @property
    def title(self) -> str:
        """For people: "Amplitude" ("refused by Amplitude")."""

    @property
    def url(self) -> str:
        """Where requests go."""

    @property
    def host(self) -> str:
        """scheme://host[:port], for messages (never anything secret)."""

    @property
    def host_label(self) -> str:
        """The host for people, with what it is: "https://api.eu.amplitude.com (EU)"."""

    @property
    def limits(self) -> Limits:
        """Most events and bytes per request."""

    @property
    def framing(self) -> Framing:
        """How encoded events make a request body."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Scrubbed out of every message and dead-letter reason."""

    def preflight(self, event: Any) -> tuple[str, str] | None:
        """None for an event the destination should take, else why not: (category, detail).
        May raise: the sender sets such an event aside as "cannot be checked"."""

    def keys(self, event: Any) -> tuple[Key, ...]:
        """The event's ordering keys (none: it may overtake and be overtaken)."""

    def encode_event(self, event: Any) -> bytes:
        """The event as it goes in a request body; raises `UnencodableError` when it cannot be."""

    # Optional: `decode_event(body) -> event`, the inverse of `encode_event` (see `Sender`).

    def encode(self, bodies: Sequence[bytes]) -> Request:
        """The request carrying these encoded events (`framing.join(bodies)`, compressed
        where configured)."""

    def classify(self, response: Response, count: int) -> Verdict:
        """What a response to a request of `count` events means."""

    def classify_error(self, exc: Exception) -> Verdict:
        """What a request that got no response means (timeout, refused or dropped connection)."""

    def warning(self) -> str | None:
        """A hint for the end of a run, once (e.g. many events set aside for one cause)."""


@dataclass(frozen=True, slots=True)
class DestinationKind:
    """What the registry knows of a destination: its name, the settings it declares, `create`
    (one from resolved settings; raises `ValueError`, a message for people, when a setting it
    needs is missing), and `fake` (its fake service on loopback, for tests and trials:
    `fake(host, port, key=…, faults=…)`)."""

    name: str
    settings: tuple[SettingDecl, ...]
    create: Callable[[Mapping[str, Any]], Destination]
    fake: Callable[..., FakeServer]


class UnencodableError(ValueError):
    """An event that cannot be written in a request body: `category` and `detail` say why."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail


def encode_json(event: Any) -> bytes:
    """An event as compact JSON (orjson: stops at 255 levels of nesting and 64-bit integers)."""
    try:
        body = orjson.dumps(event)
    except TypeError as exc:
        raise UnencodableError("cannot be encoded as JSON", str(exc)) from None
    # orjson's bytes keep the buffer they were written in (several KB for a 700-byte event);
    # a sender holds thousands of bodies, so it keeps a copy of the exact size (about 0.1 µs).
    return _join((body, b""))


_join = b"".join


def decode_json(body: bytes) -> Any:
    """An event again from what `encode_json` made of it."""
    return orjson.loads(body)


def transport_failure(exc: Exception) -> Verdict:
    """A request that got no response: retried (its message names the exception)."""
    name = type(exc).__name__
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return Verdict(VerdictKind.RETRY, None, f"{name}: {detail}" if detail else name)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The `Retry-After` header in seconds (from seconds or an HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # an HTTP date: rare, and the import is not free

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def snippet(body: bytes) -> str:
    """The start of a response body, on one line, for messages."""
    text = body[:120].decode("utf-8", "replace").strip()
    return " ".join(text.split())
