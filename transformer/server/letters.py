"""Dead letters in the store: shown in the dead-letter file's record format, and resent.

Resending puts a letter back in the queue that `transformer serve` drains: an event as it is
(its `insert_id` is unchanged, so Amplitude drops it if it already has it), a payload parsed
again (with the nesting limit given now) and transformed by the mapping as it is configured
now. A payload the mapping now skips is dropped; one it still cannot handle stays, with the new
reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import PayloadError
from ..io.jsonio import DEFAULT_MAX_DEPTH, dumps, loads_payload
from ..runtime.mapping import CompiledMapping
from .queue.sqlite import DeadLetterRow, Store

__all__ = ["ResendReport", "record", "resend"]


def record(row: DeadLetterRow) -> dict[str, Any]:
    """The letter as `transformer send` writes dead letters (and can read them back)."""
    info: dict[str, Any] = {"id": row.id, "reason": row.reason, "kind": row.kind,
                            "at": datetime.fromtimestamp(row.at, UTC).isoformat(timespec="seconds")}
    if row.attempts:
        info["attempts"] = row.attempts
    if row.status is not None:
        info["status"] = row.status
    out: dict[str, Any] = {"dead_letter": info, "event_id": row.event_id}
    if row.payload is not None:
        out["payload"] = _parse(row.payload)
    else:
        out["event"] = _parse(row.event or b"null")
    return out


def _parse(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # kept as received; show it as text rather than fail
        return data.decode("utf-8", "replace")


@dataclass(slots=True)
class ResendReport:
    """What `resend` did, letter by letter."""

    requeued: list[int] = field(default_factory=list)
    events: int = 0
    events_as_they_were: int = 0  # events of set-aside letters, requeued unchanged
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


def resend(store: Store, ids: Iterable[int], mapping: Callable[[], CompiledMapping], *,
           max_depth: int = DEFAULT_MAX_DEPTH) -> ResendReport:
    """Requeue the letters `ids`; `mapping()` is called once, if a payload must be transformed."""
    report = ResendReport()
    compiled: CompiledMapping | None = None
    for letter_id in ids:
        row = store.letter(letter_id)
        if row is None:
            report.missing.append(letter_id)
            continue
        if row.payload is None:
            requeued = store.requeue(letter_id)
            report.events += requeued
            report.events_as_they_were += requeued
            report.requeued.append(letter_id)
            continue
        compiled = compiled or mapping()
        try:
            result = compiled.apply(loads_payload(row.payload, max_depth))
            events = [dumps(e)[:-1] for e in result.events]
        except (PayloadError, ValueError) as exc:  # TooDeepError and JSONDecodeError are ValueErrors
            _failed(store, report, letter_id, f"payload error: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one letter failing does not stop the others
            _failed(store, report, letter_id, f"cannot be transformed: {type(exc).__name__}: {exc}")
            continue
        if result.skip is not None:
            store.drop_letter(letter_id)
            report.skipped.append((letter_id, result.skip.rule))
            continue
        report.events += store.requeue(letter_id, events)
        report.requeued.append(letter_id)
    return report


def _failed(store: Store, report: ResendReport, letter_id: int, reason: str) -> None:
    store.update_letter(letter_id, reason)
    report.failed.append((letter_id, reason))
