"""`transformer send INPUT...`: transform like `replay`, and deliver to the mapping's destination."""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from ..destinations import DeadLetterWriter, Outgoing, Prepared, Sender, SendInterrupted, SendReport
from ..destinations.dead_letters import DeadLetterKind
from ..io.jsonio import InputError, is_ndjson, read_items
from .basics import (
    DEFAULT_MAPPING,
    DEFAULT_MAX_DEPTH,
    DEFAULT_OUTPUT_BUDGET,
    check_writable_file,
    err,
    load_from_options,
    make_destination,
)
from .common import DestinationOpt, MappingOpt, MaxDepthOpt, OutputBudgetOpt, SetOpt, SettingsOpt
from .progress import RunProgress
from .replay_batch import (
    Chunk,
    Tally,
    WorkerDiedError,
    auto_workers,
    ndjson_chunks,
    process_pool,
    worker_died,
)
from .send_batch import Failure, Payloads, Record, one_malloc_arena, sent_chunks
from .signals import Stop

if TYPE_CHECKING:
    from concurrent.futures import Executor

__all__ = ["DEFAULT_DEAD_LETTERS", "send"]

DEFAULT_DEAD_LETTERS = "dead-letters.ndjson"


def send(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...",
        help="Payload files (.json, .ndjson, - for stdin); dead-letter files are resent as they are.")],
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    dead_letters: Annotated[Path, typer.Option(
        "--dead-letters", metavar="PATH", help="Where events that are not delivered are kept (appended).")
    ] = Path(DEFAULT_DEAD_LETTERS),
    deadline: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds an event may take to be accepted, retries included, before it is dead-lettered.")
    ] = 600.0,
    concurrency: Annotated[int, typer.Option(metavar="N", help="Requests in flight at once.")] = 4,
    throttle_pause: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds a user or device named in a 429 is paused.")] = 30.0,
    max_depth: MaxDepthOpt = DEFAULT_MAX_DEPTH,
    output_budget: OutputBudgetOpt = DEFAULT_OUTPUT_BUDGET,
    destination: DestinationOpt = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", metavar="N", min=1,
        help="Processes transforming NDJSON files (events sent in input order, as with one). "
             "Default: one per core for 64 MiB of NDJSON or more, else 1.")] = None,
) -> None:
    """Transform payloads and deliver the events to the mapping's destination (Amplitude for
    mappings/amplitude.yaml); summary on stderr."""
    with Stop() as stop, contextlib.ExitStack() as stack:
        compiled = load_from_options(mapping, assignments, settings_file, output_budget,
                                     destination=destination)
        target = make_destination(compiled)
        check_writable_file(dead_letters, "--dead-letters")
        sources = [_set_aside_if_resent(name, dead_letters) for name in inputs]
        stdin = stop.stdin() if "-" in sources else None
        counts = _Counts()
        writer = DeadLetterWriter(dead_letters)
        read = _Reader(Payloads(compiled, max_depth), writer, counts, stdin)
        if workers is None:
            workers = auto_workers(sources)
        if workers > 1 and any(is_ndjson(source) for source in sources):
            # started before any thread of this process (the progress line's, the sender's):
            # forked, the workers have the destination, and check and encode the events for it
            one_malloc_arena()
            read.pool = stack.enter_context(process_pool(workers, Payloads(compiled, max_depth, target)))
            read.workers = workers
        progress = RunProgress(sys.stderr, "sending", sources)
        counts.tick = progress.tick
        warned: list[str] = []

        def on_progress(report: SendReport) -> None:
            progress.send_report(report)
            if report.unreachable and not warned and not report.accepted:
                warned.append(report.unreachable)
                err(f"warning: cannot connect to {report.unreachable}; nothing has been accepted yet "
                    f"(is the endpoint right?). Retrying until the deadline ({deadline:g} s)")

        try:
            with Sender(target, dead_letters=writer, deadline=deadline, concurrency=concurrency,
                        throttle_pause=throttle_pause, on_progress=on_progress) as sender:
                stop.notify(sender.interrupt)
                try:
                    report = sender.send(read.inputs(sources))
                except SendInterrupted as interrupted:
                    report = interrupted.report
        except KeyboardInterrupt:  # a second signal while the unsent events were being kept
            progress.stop()
            writer.close()
            err(f"interrupted again: some input was not read; dead letters so far are in {dead_letters}")
            raise typer.Exit(stop.exit_code) from None
        finally:
            progress.stop()
            writer.close()
        for name, original in zip(sources, inputs, strict=True):
            if name != original and report.ok and not counts.errors:
                Path(name).unlink(missing_ok=True)
        _summarise(counts, report, target.url, dead_letters, writer.count)
    if stop.requested:
        raise typer.Exit(stop.exit_code)
    raise typer.Exit(0 if report.ok and not counts.errors else 1)


class _Counts(Tally):
    __slots__ = ("tick",)

    def __init__(self) -> None:
        super().__init__()
        self.tick: Callable[[int], None] = lambda read: None


def _set_aside_if_resent(name: str, dead_letters: Path) -> str:
    """Resending the dead-letter file itself: move it aside first, so that what fails again is
    written to a fresh file and nothing is read twice."""
    path = Path(name)
    if name == "-" or not path.exists() or path.resolve() != dead_letters.resolve():
        return name
    aside = path.with_name(f"{path.name}.resending-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(aside)
    err(f"resending {name} (moved to {aside}; removed once everything in it is delivered)")
    return str(aside)


class _Reader:
    """The events of the inputs, for the sender, in input order: payload errors reported and
    dead-lettered where they are met. NDJSON files go through `pool` in chunks when there is
    one, anything else through the generic reader, here."""

    def __init__(self, payloads: Payloads, writer: DeadLetterWriter, counts: _Counts,
                 stdin: IO[bytes] | None) -> None:
        self.payloads = payloads
        self.writer = writer
        self.counts = counts
        self.stdin = stdin
        self.pool: Executor | None = None
        self.workers = 1

    def inputs(self, sources: list[str]) -> Iterator[Prepared | Outgoing]:
        for source in sources:
            try:
                chunks = (ndjson_chunks(Path(source), source)
                          if self.pool is not None and is_ndjson(source) else None)
                yield from self.items(source) if chunks is None else self.chunks(source, chunks)
            except InputError as exc:
                self.counts.errors += 1
                err(f"error: {exc}")

    def items(self, source: str) -> Iterator[Prepared | Outgoing]:
        payloads, counts = self.payloads, self.counts
        records: list[Record] = []
        for item in read_items(source, payloads.max_depth, stdin=self.stdin):
            counts.read += 1
            counts.tick(counts.read)
            if item.error is not None:
                payloads.unreadable(0, item.error, item.raw, source, counts, records)
            else:
                payloads.payload(item.payload, 0, counts, records)
            for record in records:
                if isinstance(record, Failure):
                    self.failed(item.where, record)
                else:
                    yield record
            records.clear()

    def chunks(self, source: str, chunks: Iterator[Chunk]) -> Iterator[Prepared | Outgoing]:
        assert self.pool is not None
        counts = self.counts
        first = 1   # the number of the chunk's first line in the file
        try:
            for sent in sent_chunks(self.pool, chunks, self.workers):
                counts.add(sent.tally)
                counts.tick(counts.read)
                for record in sent.records:
                    if isinstance(record, Failure):
                        self.failed(f"{source}:{first + record.number - 1}", record)
                    else:
                        yield record
                first += sent.lines
        except WorkerDiedError:
            raise worker_died(source, first - 1) from None

    def failed(self, where: str, failure: Failure) -> None:
        err(f"{where}{failure.message}")
        if failure.reason is not None:
            self.writer.write(reason=failure.reason, kind=DeadLetterKind.PAYLOAD_ERROR,
                              event_id=failure.event_id, payload=failure.payload,
                              payload_text=failure.payload_text)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _by(counter: Counter[str]) -> str:
    return f" ({', '.join(f'{k}: {v:,}' for k, v in sorted(counter.items()))})" if counter else ""


def _summarise(counts: _Counts, report: SendReport, url: str, dead_letters: Path, written: int) -> None:
    skipped = sum(counts.skips.values())
    err(f"read {_plural(counts.read, 'payload')}: {_plural(counts.events, 'event')}, "
        f"{skipped:,} skipped{_by(counts.skips)}, {_plural(counts.errors, 'payload error')}")
    set_aside = sum(report.set_aside.values())
    undelivered = sum(report.undelivered.values())
    err(f"sent to {url}: {report.accepted:,} accepted, {set_aside:,} set aside{_by(report.set_aside)}, "
        f"{undelivered:,} undelivered{_by(report.undelivered)}; "
        f"{_plural(report.requests, 'request')} ({report.retries:,} retries, "
        f"{_plural(report.resent, 'event')} resent)")
    if report.fatal:
        err(f"error: stopped: {report.fatal}")
    if report.interrupted:
        err("interrupted: every event not yet accepted is in the dead letters")
    for warning in report.warnings:
        err(f"warning: {warning}")
    if written:
        err(f"dead letters: {written:,} written to {dead_letters} "
            f"(after a fix, resend them with: transformer send {dead_letters})")
