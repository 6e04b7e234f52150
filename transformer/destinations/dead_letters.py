"""Dead letters: the one record format, written by `transformer send`, kept by `transformer serve`.

A record is one JSON object (one NDJSON line in a file):

    {"dead_letter": {"id": 17, "reason": "...", "kind": "set_aside", "at": "2026-11-29T07:03:35+00:00",
                     "attempts": 2, "status": 400},
     "event_id": "<the original payload's id>",
     "event": {...}}

`id` is there only for a letter kept in a store (`transformer dead-letters list --json`);
`attempts` and `status` only when known. Instead of `"event"` a record holds `"payload"`, a
payload the mapping could not transform, or `"payload_text"`, one that could not even be parsed
(nested too deeply, not JSON), kept as the text it was. `transformer send FILE` resends records:
events as they are, payloads transformed again, texts parsed again first.

`DeadLetter` is that record: `to_json` writes it, `from_json` reads it back (any record written
by an earlier version too), `from_stored` projects a letter kept in a queue, whose event or
payload is the bytes received. `DeadLetterWriter` appends records to a file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

import orjson

from ..io.jsonio import DEFAULT_MAX_DEPTH, dumps, loads_payload

__all__ = ["DeadLetter", "DeadLetterKind", "DeadLetterSink", "DeadLetterWriter", "Holds", "StoredLetter",
           "is_dead_letter"]


class DeadLetterKind(StrEnum):
    """Why something is a dead letter."""

    PAYLOAD_ERROR = "payload_error"  # a payload the mapping could not transform, or parse
    SET_ASIDE = "set_aside"          # an event deliberately not sent, or refused on its own
    UNDELIVERED = "undelivered"      # an event not accepted in time, or when the run stopped


class Holds(StrEnum):
    """What a dead letter keeps: the key it is under in the record."""

    EVENT = "event"
    PAYLOAD = "payload"
    PAYLOAD_TEXT = "payload_text"


class DeadLetterSink(Protocol):
    """Where a sender keeps what it could not deliver: a file (`DeadLetterWriter`), or a store.
    `ref` is the `Outgoing.ref` of the event, for stores that track their own rows."""

    def write(self, *, reason: str, kind: str, event_id: str | None, event: Any = None,
              payload: Any = None, attempts: int = 0, status: int | None = None,
              ref: Any = None) -> None:
        """Keep one record."""


class StoredLetter(Protocol):
    """A dead letter as a store keeps it: the event or payload as the bytes it was."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def event_id(self) -> str | None: ...
    @property
    def event(self) -> bytes | None: ...
    @property
    def payload(self) -> bytes | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def status(self) -> int | None: ...
    @property
    def at(self) -> float: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-letter record; `value` is the event, the payload or the payload's text, as
    `holds` says. `at` is unix time; `id` is the letter's id in a store (None in a file)."""

    kind: str
    reason: str
    event_id: str | None
    holds: Holds
    value: Any
    at: float | None = None
    attempts: int = 0
    status: int | None = None
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (see the module docstring)."""
        info: dict[str, Any] = {} if self.id is None else {"id": self.id}
        info["reason"] = self.reason
        info["kind"] = str(self.kind)
        if self.at is not None:
            info["at"] = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds")
        if self.attempts:
            info["attempts"] = self.attempts
        if self.status is not None:
            info["status"] = self.status
        return {"dead_letter": info, "event_id": self.event_id, self.holds.value: self.value}

    @classmethod
    def from_json(cls, item: Any) -> DeadLetter | None:
        """The record `item` (a parsed JSON value), or None when it is not one (a payload).
        Lenient with what it does not need to resend: an unknown kind is kept as it is, a
        missing or unreadable `at` is None."""
        if not isinstance(item, dict):
            return None
        info = item.get("dead_letter")
        if not isinstance(info, dict):
            return None
        for holds in (Holds.EVENT, Holds.PAYLOAD_TEXT, Holds.PAYLOAD):
            if holds.value in item:
                break
        else:
            return None
        event_id = item.get("event_id")
        attempts, status, letter_id = info.get("attempts"), info.get("status"), info.get("id")
        return cls(kind=str(info.get("kind", "")), reason=str(info.get("reason", "")),
                   event_id=event_id if isinstance(event_id, str) else None, holds=holds,
                   value=item[holds.value], at=_timestamp(info.get("at")),
                   attempts=attempts if type(attempts) is int else 0,
                   status=status if type(status) is int else None,
                   id=letter_id if type(letter_id) is int else None)

    @classmethod
    def from_stored(cls, letter: StoredLetter) -> DeadLetter:
        """The record of a letter kept in a store: its event parsed (shown as text if the bytes
        are not JSON), its payload parsed within the default nesting limit, else kept as text
        (`payload_text`, which `transformer send --max-depth N` parses again)."""
        holds, value = Holds.EVENT, None
        if letter.payload is not None:
            try:
                holds, value = Holds.PAYLOAD, loads_payload(letter.payload, DEFAULT_MAX_DEPTH)
            except ValueError:  # nested too deeply, or not JSON: TooDeepError, JSONDecodeError
                holds, value = Holds.PAYLOAD_TEXT, letter.payload.decode("utf-8", "replace")
        elif letter.event is not None:
            try:
                value = orjson.loads(letter.event)
            except orjson.JSONDecodeError:  # a row damaged on disk: show it rather than fail
                value = letter.event.decode("utf-8", "replace")
        return cls(kind=str(letter.kind), reason=letter.reason, event_id=letter.event_id, holds=holds,
                   value=value, at=letter.at, attempts=letter.attempts, status=letter.status,
                   id=letter.id)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def is_dead_letter(item: Any) -> bool:
    """Whether an input record is a dead letter (rather than a payload)."""
    return DeadLetter.from_json(item) is not None


class DeadLetterWriter:
    """Appends dead letters to a file, created on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[bytes] | None = None
        self.count = 0

    def write(self, *, reason: str, kind: str, event_id: str | None, event: Any = None,
              payload: Any = None, attempts: int = 0, status: int | None = None,
              ref: Any = None, payload_text: str | None = None) -> None:
        """Append one record and flush it; `payload_text` keeps a payload that could not be
        parsed, as text. `kind` must be a `DeadLetterKind` (ValueError otherwise)."""
        if payload_text is not None:
            holds, value = Holds.PAYLOAD_TEXT, payload_text
        elif payload is not None:
            holds, value = Holds.PAYLOAD, payload
        else:
            holds, value = Holds.EVENT, event
        letter = DeadLetter(kind=DeadLetterKind(kind), reason=reason, event_id=event_id, holds=holds,
                            value=value, at=time.time(), attempts=attempts, status=status)
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
        self._handle.write(dumps(letter.to_json()))
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def __enter__(self) -> DeadLetterWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
