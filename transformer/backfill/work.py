"""One task: one partition read, transformed as `replay` transforms (the same event bytes, skip
counts and error lines), its part written atomically, and its events sent when asked.

Runs on a Dask worker. The mapping arrives pickled (its recipe) and is compiled once per worker
process (`transformer.runtime.mapping`).
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..destinations.base import Key
from ..destinations.dead_letters import DeadLetterKind, DeadLetterWriter
from ..destinations.report import Outgoing
from ..destinations.sender import Sender
from ..errors import PayloadError
from ..runtime.mapping import CompiledMapping, encode_event
from ..runtime.result import Skip
from .inputs import Partition
from .read import PartitionReader
from .send import RateLimit, RateLimited, SendPlan
from .store import Store

__all__ = [
    "GroupTask",
    "Message",
    "PartitionResult",
    "PartitionTask",
    "dead_letters_name",
    "group_of",
    "part_name",
    "run_group_part",
    "run_partition",
]

Message = tuple[int | None, str]
"""An error line: (line within the partition, the rest of the line after `file:line`), or
(None, the whole line)."""


def part_name(index: int) -> str:
    """The output part of partition `index`."""
    return f"part-{index:05d}.ndjson"


def dead_letters_name(index: int, group: tuple[int, int] | None = None) -> str:
    """The dead letters of partition `index` (of its events in `group`: (group, groups))."""
    if group is None:
        return f"dead-letters/part-{index:05d}.ndjson"
    return f"dead-letters/part-{index:05d}-group-{group[0]}-of-{group[1]}.ndjson"


def group_of(keys: tuple[Key, ...], groups: int) -> int:
    """The group of an event with these ordering keys (the first: its user, else its device)."""
    if not keys:
        return 0
    kind, value = keys[0]
    return zlib.crc32(f"{kind}\0{value}".encode()) % groups


@dataclass(frozen=True, slots=True)
class PartitionTask:
    """Everything a worker needs for one partition. `store` None: the part comes back in the
    result instead of being written."""

    partition: Partition
    mapping: CompiledMapping
    max_depth: int
    store: Store | None = None
    send: SendPlan | None = None


@dataclass(frozen=True, slots=True)
class GroupTask:
    """Send the events of part `index` whose user (or device) is in `group` of `groups`."""

    index: int
    group: int
    groups: int
    mapping: CompiledMapping
    store: Store
    send: SendPlan


@dataclass(slots=True)
class PartitionResult:
    """What became of one partition."""

    index: int
    read: int = 0
    written: int = 0
    errors: int = 0
    skips: Counter[str] = field(default_factory=Counter)
    lines: int = 0
    messages: list[Message] = field(default_factory=list)
    data: bytes | None = None
    sent: dict[str, Any] | None = None


def run_partition(task: PartitionTask) -> PartitionResult:
    """Read, transform, write and (with `task.send`) send one partition."""
    part = task.partition
    result = PartitionResult(part.index)
    if task.send is None:
        data, _ = _transform(task, result, None)
        if task.store is None:
            result.data = data
        else:
            task.store.write(part_name(part.index), data)
        return result
    with _Letters() as letters:
        data, outgoing = _transform(task, result, letters.writer)
        if task.store is not None:
            task.store.write(part_name(part.index), data)
        try:
            result.sent = _send(task.send, task.mapping, outgoing, letters.writer)
        finally:
            letters.publish(task.store, dead_letters_name(part.index))
        result.sent["dead_letters"] = letters.writer.count
    return result


def _transform(task: PartitionTask, result: PartitionResult,
               letters: DeadLetterWriter | None) -> tuple[bytes, list[Outgoing]]:
    """The partition's part, counted in `result`; its events to send, and payloads that failed
    in `letters`, when sending."""
    compiled = task.mapping
    reader = PartitionReader(task.partition, task.max_depth)
    chunks: list[bytes] = []
    outgoing: list[Outgoing] = []
    for line, item in reader:
        result.read += 1
        if item.error is not None:
            result.errors += 1
            result.messages.append((line, f"{item.where}: {item.error}"))
            if letters is not None and item.raw is not None:
                letters.write(reason=f"payload error: {item.error}", kind=DeadLetterKind.PAYLOAD_ERROR,
                                     event_id=None, payload_text=item.raw.decode("utf-8", "replace")
                                     .rstrip("\r\n"))
            continue
        payload = item.payload
        try:   # outcome: the payload's id is read only where it is needed (a message, a send)
            out = compiled.outcome(payload)
            if isinstance(out, Skip):
                result.skips[out.rule] += 1
                continue
            chunks.append(b"".join(encode_event(event) for event in out))
        except PayloadError as problem:
            result.errors += 1
            source_id = compiled.payload_id(payload)
            label = f"{item.where} ({source_id})" if source_id else item.where
            result.messages.append((line, f"{label}: {problem.rule}: {problem.message}, at {problem.path}"))
            if letters is not None:
                letters.write(reason=f"payload error: {problem}", kind=DeadLetterKind.PAYLOAD_ERROR,
                                     event_id=source_id, payload=payload)
            continue
        result.written += len(out)
        if letters is not None:
            source_id = compiled.payload_id(payload)
            outgoing.extend(Outgoing(event, source_id) for event in out)
    result.lines = reader.lines
    return b"".join(chunks), outgoing


def run_group_part(task: GroupTask) -> dict[str, Any]:
    """Send one group's events of one written part, in the part's order (read lazily)."""
    data = task.store.read(part_name(task.index)) or b""
    keys = task.send.make(task.mapping).keys

    def events() -> Iterator[Outgoing]:
        for line in data.splitlines():
            event = orjson.loads(line)
            if group_of(keys(event), task.groups) == task.group:
                yield Outgoing(event, None)

    with _Letters() as letters:
        try:
            sent = _send(task.send, task.mapping, events(), letters.writer)
        finally:
            letters.publish(task.store, dead_letters_name(task.index, (task.group, task.groups)))
        sent["dead_letters"] = letters.writer.count
    return sent


def _send(plan: SendPlan, compiled: CompiledMapping, outgoing: Iterable[Outgoing],
          writer: DeadLetterWriter) -> dict[str, Any]:
    """Send under the job's semaphore, at this sender's share of the budget."""
    from distributed import Semaphore

    destination = plan.make(compiled)
    limit = RateLimit(plan.share)
    with Semaphore(max_leases=plan.senders, name=plan.semaphore):
        with Sender(RateLimited(destination, limit), dead_letters=writer, deadline=plan.deadline,
                    concurrency=plan.concurrency, max_events=plan.batch_size(destination.limits)) as sender:
            report = sender.send(outgoing)
        limit.drain()
    return {"ok": report.ok, "accepted": report.accepted, "set_aside": dict(report.set_aside),
            "undelivered": dict(report.undelivered), "requests": report.requests,
            "retries": report.retries, "fatal": report.fatal, "url": destination.url}


class _Letters:
    """A task's dead letters: written to a local temporary file (removed on leaving the
    `with`), published to the output folder when done."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="transformer-backfill-")
        self.writer = DeadLetterWriter(os.path.join(self.folder.name, "dead-letters.ndjson"))

    def __enter__(self) -> _Letters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.close()
        self.folder.cleanup()

    def publish(self, store: Store | None, name: str) -> None:
        """Write the dead letters as `name` in `store` (none: remove an earlier attempt's)."""
        self.writer.close()
        if store is not None and self.writer.count:
            store.write(name, self.writer.path.read_bytes())
        elif store is not None:
            store.remove(name)
