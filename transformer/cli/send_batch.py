"""What `send` makes of its input, payload by payload, in this process or, for NDJSON files
with `--workers N`, chunk by chunk in worker processes (`replay_batch`'s chunks and pool).

`Payloads` turns one payload (or one line that is not one) into records, in input order: an
event to send, or a `Failure` (a payload error: its message and what its dead letter keeps).
The command's one process hands each payload to it as the generic reader gives it; a worker
hands it every line of a chunk, and gives the chunk's records and counts back (`Sent`). The
parent writes the failures' messages and dead letters and gives the events to the sender in
that order, so that the summary, the messages, the dead letters and the requests are those of
one process. A worker that has the destination (forked: the parent's, as it is) also checks
and encodes each event (`Prepared`): the parent's sender then takes it without decoding,
checking or encoding it again; an event the check refuses goes as it is (`Outgoing`), for the
parent's sender to set aside with the reason, as it always does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from ..destinations.base import Destination
from ..destinations.dead_letters import DeadLetter, Holds
from ..destinations.report import Outgoing, Prepared
from ..errors import PayloadError
from ..io.jsonio import parse_item
from ..runtime.mapping import CompiledMapping
from .replay_batch import Chunk, Tally, in_order, line_item, mallopt, worker_state

if TYPE_CHECKING:
    from concurrent.futures import Executor

__all__ = ["Failure", "Payloads", "Record", "Sent", "one_malloc_arena", "sent_chunks"]


class Failure(NamedTuple):
    """A payload that gives no event: `message` follows its place (`events.ndjson:17`) on
    stderr; `reason`, `event_id` and the payload (parsed, or the text that could not be) go in
    its dead letter. `reason` None: nothing to keep (a broken array's rest, left in its file).
    `number` is the line in its chunk (0 outside a chunk)."""

    number: int
    message: str
    reason: str | None
    event_id: str | None = None
    payload: Any = None
    payload_text: str | None = None


Record = Prepared | Outgoing | Failure


@dataclass(slots=True)
class Sent:
    """What a chunk gave: its records in input order, its counts, and how many lines it had."""

    records: list[Record]
    tally: Tally
    lines: int


class Payloads:
    """Payloads → records, with one mapping and `send`'s options; with `destination`, events
    are checked and encoded for it (`Prepared`). Picklable, without the destination (a spawned
    worker sends the events as they are)."""

    def __init__(self, compiled: CompiledMapping, max_depth: int,
                 destination: Destination | None = None) -> None:
        self.compiled = compiled
        self.max_depth = max_depth
        self.destination = destination

    def __getstate__(self) -> dict[str, Any]:
        return {"compiled": self.compiled, "max_depth": self.max_depth}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def payload(self, payload: Any, number: int, tally: Tally, out: list[Record]) -> None:
        """One parsed payload: a dead letter is resent (an event as it is, a payload transformed
        again, a payload's text parsed again first), anything else is transformed."""
        letter = DeadLetter.from_json(payload)
        if letter is None:
            self.transform(payload, number, tally, out)
        elif letter.holds is Holds.EVENT:
            tally.events += 1
            out.append(self.event(letter.value, letter.event_id))
        elif letter.holds is Holds.PAYLOAD_TEXT:   # a payload that could not be parsed: try again
            text = str(letter.value).encode()
            again = parse_item("", text, self.max_depth)
            if again.error is not None:
                self.unreadable(number, again.error, text, "", tally, out)
            else:
                self.transform(again.payload, number, tally, out)
        else:
            self.transform(letter.value, number, tally, out)

    def unreadable(self, number: int, error: str, raw: bytes | None, source: str, tally: Tally,
                   out: list[Record]) -> None:
        """A payload that could not be parsed: kept as text in the dead letters when there is
        text to keep (a broken array's rest is left in its file, `source`)."""
        tally.errors += 1
        if raw is None:
            out.append(Failure(number, f": {error} (left in {source})", None))
        else:
            out.append(Failure(number, f": {error}", f"payload error: {error}",
                               payload_text=raw.decode("utf-8", "replace").rstrip("\r\n")))

    def transform(self, payload: Any, number: int, tally: Tally, out: list[Record]) -> None:
        compiled = self.compiled
        try:
            result = compiled.apply(payload)
        except PayloadError as exc:
            tally.errors += 1
            payload_id = compiled.payload_id(payload)
            out.append(Failure(number, f"{f' ({payload_id})' if payload_id else ''}: {exc.rule}: "
                                       f"{exc.message}, at {exc.path}",
                               f"payload error: {exc}", payload_id, payload))
            return
        if result.skip is not None:
            tally.skips[result.skip.rule] += 1
            return
        tally.events += len(result.events)
        event = self.event
        out.extend([event(item, result.id) for item in result.events])

    def event(self, event: Any, source_id: str | None) -> Prepared | Outgoing:
        """The event as the sender takes it: checked and encoded when this has the destination
        and the destination would take it, else as it is."""
        destination = self.destination
        if destination is None:
            return Outgoing(event, source_id)
        try:
            if destination.preflight(event) is None:
                return Prepared(destination.encode_event(event), destination.keys(event), source_id)
        except Exception:  # noqa: BLE001 - an event that cannot be checked or encoded: the sender says why
            pass
        return Outgoing(event, source_id)

    def run(self, chunk: Chunk) -> Sent:
        """Every line of the chunk, as the generic reader takes them (a byte order mark dropped,
        blank lines passed over); the common line is parsed here, any other by `parse_item`."""
        tally, out = Tally(), list[Record]()
        loads, limit, missing = orjson.loads, self.max_depth, _MISSING
        lines, ends = chunk.read()
        last = len(lines) - 1
        for i, line in enumerate(lines):
            payload = missing
            if line.count(b"[") + line.count(b"{") <= limit:
                try:  # noqa: SIM105 - contextlib.suppress costs more, once per line
                    payload = loads(line)
                except orjson.JSONDecodeError:
                    pass
            if payload is missing:
                item = line_item(line, i < last or ends, limit)
                if item is None:
                    continue
                if item.error is not None:
                    tally.read += 1
                    self.unreadable(i + 1, item.error, item.raw, chunk.name, tally, out)
                    continue
                payload = item.payload
            tally.read += 1
            self.payload(payload, i + 1, tally, out)
        return Sent(out, tally, len(lines))


_MISSING: Any = object()


_M_ARENA_MAX = -8   # glibc's mallopt parameter


def one_malloc_arena() -> None:
    """Have glibc's malloc use one arena for every thread of this process. The pool's thread
    that receives the workers' results unpickles the events' bodies, which then wait in the
    sender: in an arena of that thread's own they took 10 to 16 MB more at the peak (200,000
    payloads, --workers 2: 101 to 103 MB against 86 to 91; the CPU per event moved within the
    noise of a shared machine). Call it before any thread starts."""
    mallopt((_M_ARENA_MAX, 1))


def _run_in_worker(chunk: Chunk) -> Sent:
    payloads: Payloads = worker_state()
    return payloads.run(chunk)


def sent_chunks(pool: Executor, chunks: Iterator[Chunk], workers: int) -> Iterator[Sent]:
    """Each chunk's `Sent`, in input order, from the `workers` processes of `pool`
    (`replay_batch.process_pool`, given a `Payloads`)."""
    return in_order(pool, _run_in_worker, chunks, workers)
