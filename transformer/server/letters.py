"""Resending the dead letters a queue keeps (`transformer dead-letters resend`).

Resending puts a letter back in the queue that `transformer serve` drains: an event as it is
(its `insert_id` is unchanged, so Amplitude drops it if it already has it), a payload parsed
again (with the nesting limit given now) and transformed by the mapping as it is configured
now. A payload the mapping now skips is dropped; one it still cannot handle stays, with the new
reason. How a letter is shown is the dead-letter record's business
(`transformer.destinations.dead_letters.DeadLetter.from_stored`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..io.jsonio import DEFAULT_MAX_DEPTH, dumps, loads_payload
from ..runtime.mapping import CompiledMapping
from .queue.base import Queue

__all__ = ["ResendReport", "resend"]


@dataclass(slots=True)
class ResendReport:
    """What `resend` did, letter by letter."""

    requeued: list[int] = field(default_factory=list)
    events: int = 0
    events_as_they_were: int = 0  # events of set-aside letters, requeued unchanged
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


def resend(queue: Queue, ids: Iterable[int], mapping: Callable[[], CompiledMapping], *,
           max_depth: int = DEFAULT_MAX_DEPTH) -> ResendReport:
    """Requeue the letters `ids`; `mapping()` is called once, if a payload must be transformed."""
    report = ResendReport()
    compiled: CompiledMapping | None = None
    for letter_id in ids:
        letter = queue.letter(letter_id)
        if letter is None:
            report.missing.append(letter_id)
            continue
        if letter.payload is None:
            requeued = queue.requeue([letter_id])
            report.events += requeued
            report.events_as_they_were += requeued
            report.requeued.append(letter_id)
            continue
        compiled = compiled or mapping()
        try:
            result = compiled.result(loads_payload(letter.payload, max_depth))
        except ValueError as exc:  # TooDeepError and JSONDecodeError are ValueErrors
            _failed(queue, report, letter_id, f"payload error: {exc}")
            continue
        if result.error is not None:
            _failed(queue, report, letter_id, f"payload error: {result.error}")
            continue
        if result.skip is not None:
            queue.drop(letter_id)
            report.skipped.append((letter_id, result.skip.rule))
            continue
        try:
            events = [dumps(event)[:-1] for event in result.events]
        except (RecursionError, ValueError) as exc:  # nested beyond what JSON writers take
            _failed(queue, report, letter_id, f"cannot be encoded as JSON: {exc}")
            continue
        report.events += queue.requeue([letter_id], {letter_id: events})
        report.requeued.append(letter_id)
    return report


def _failed(queue: Queue, report: ResendReport, letter_id: int, reason: str) -> None:
    queue.note_failure(letter_id, reason)
    report.failed.append((letter_id, reason))
