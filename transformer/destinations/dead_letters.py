"""Dead letters: events (or payloads) that were not delivered, kept as NDJSON with the reason.

Each line is `{"dead_letter": {...why...}, "event_id": <original payload id>, "event": {...}}`,
or with `"payload"` instead of `"event"` for a payload the mapping could not transform, or
`"payload_text"` for one that could not even be parsed (nested too deeply, not JSON), kept as
the text it was. The file is only ever appended to, one flushed line per record;
`transformer send FILE` resends it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from ..io.jsonio import dumps

__all__ = ["DeadLetter", "DeadLetterSink", "DeadLetterWriter", "is_dead_letter"]

DeadLetter = dict[str, Any]


class DeadLetterSink(Protocol):
    """Where a sender keeps what it could not deliver: a file (`DeadLetterWriter`), or a store.
    `ref` is the `Outgoing.ref` of the event, for stores that track their own rows."""

    def write(self, *, reason: str, kind: str, event_id: str | None, event: Any = None,
              payload: Any = None, attempts: int = 0, status: int | None = None,
              ref: Any = None) -> None:
        """Keep one record."""


def is_dead_letter(item: Any) -> bool:
    """Whether an input record is a dead letter (rather than a payload)."""
    return isinstance(item, dict) and isinstance(item.get("dead_letter"), dict) and \
        ("event" in item or "payload" in item or "payload_text" in item)


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
        parsed, as text."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
        info: dict[str, Any] = {"reason": reason, "kind": kind,
                                "at": datetime.now(UTC).isoformat(timespec="seconds")}
        if attempts:
            info["attempts"] = attempts
        if status is not None:
            info["status"] = status
        record: dict[str, Any] = {"dead_letter": info, "event_id": event_id}
        if payload_text is not None:
            record["payload_text"] = payload_text
        elif payload is not None:
            record["payload"] = payload
        else:
            record["event"] = event
        self._handle.write(dumps(record))
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
