"""`transformer send INPUT...`: transform like `replay`, and deliver to the mapping's destination."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from ..destinations import DeadLetterWriter, Outgoing, Sender, SendInterrupted, SendReport
from ..destinations.dead_letters import DeadLetter, DeadLetterKind, Holds
from ..errors import PayloadError
from ..io.jsonio import InputError, parse_item, read_items
from ..runtime.mapping import CompiledMapping
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
from .signals import Stop

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
) -> None:
    """Transform payloads and deliver the events to the mapping's destination (Amplitude for
    mappings/amplitude.yaml); summary on stderr."""
    with Stop() as stop:
        compiled = load_from_options(mapping, assignments, settings_file, output_budget,
                                     destination=destination)
        target = make_destination(compiled)
        check_writable_file(dead_letters, "--dead-letters")
        sources = [_set_aside_if_resent(name, dead_letters) for name in inputs]
        stdin = stop.stdin() if "-" in sources else None
        counts = _Counts()
        writer = DeadLetterWriter(dead_letters)
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
                    report = sender.send(_outgoing(compiled, sources, writer, counts, max_depth, stdin))
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


class _Counts:
    def __init__(self) -> None:
        self.tick: Callable[[int], None] = lambda read: None
        self.read = 0
        self.events = 0
        self.errors = 0
        self.skips: Counter[str] = Counter()


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


def _outgoing(compiled: CompiledMapping, sources: list[str], writer: DeadLetterWriter,
              counts: _Counts, max_depth: int, stdin: IO[bytes] | None) -> Iterator[Outgoing]:
    for source in sources:
        try:
            for item in read_items(source, max_depth, stdin=stdin):
                counts.read += 1
                counts.tick(counts.read)
                if item.error is not None:
                    _unreadable(item.where, item.error, item.raw, source, writer, counts)
                    continue
                letter = DeadLetter.from_json(item.payload)
                if letter is None:
                    yield from _transform(compiled, item.payload, item.where, writer, counts)
                elif letter.holds is Holds.EVENT:
                    counts.events += 1
                    yield Outgoing(letter.value, letter.event_id)
                elif letter.holds is Holds.PAYLOAD_TEXT:  # a payload that could not be parsed: try again
                    text = str(letter.value).encode()
                    again = parse_item(item.where, text, max_depth)
                    if again.error is not None:
                        _unreadable(again.where, again.error, text, source, writer, counts)
                    else:
                        yield from _transform(compiled, again.payload, item.where, writer, counts)
                else:
                    yield from _transform(compiled, letter.value, item.where, writer, counts)
        except InputError as exc:
            counts.errors += 1
            err(f"error: {exc}")


def _unreadable(where: str, error: str, raw: bytes | None, source: str, writer: DeadLetterWriter,
                counts: _Counts) -> None:
    """A payload that could not be parsed: kept as text in the dead letters when there is text
    to keep (a broken array's rest is left in its file)."""
    counts.errors += 1
    if raw is None:
        err(f"{where}: {error} (left in {source})")
        return
    err(f"{where}: {error}")
    writer.write(reason=f"payload error: {error}", kind=DeadLetterKind.PAYLOAD_ERROR, event_id=None,
                 payload_text=raw.decode("utf-8", "replace").rstrip("\r\n"))


def _transform(compiled: CompiledMapping, payload: Any, where: str, writer: DeadLetterWriter,
               counts: _Counts) -> Iterator[Outgoing]:
    try:
        result = compiled.apply(payload)
    except PayloadError as exc:
        counts.errors += 1
        payload_id = compiled.payload_id(payload)
        err(f"{where}{f' ({payload_id})' if payload_id else ''}: {exc.rule}: {exc.message}, at {exc.path}")
        writer.write(reason=f"payload error: {exc}", kind=DeadLetterKind.PAYLOAD_ERROR, event_id=payload_id,
                     payload=payload)
        return
    if result.skip is not None:
        counts.skips[result.skip.rule] += 1
        return
    for event in result.events:
        counts.events += 1
        yield Outgoing(event, result.id)


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
