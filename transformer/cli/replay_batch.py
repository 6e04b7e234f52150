"""`replay` of NDJSON files in chunks: read in blocks, transformed a chunk at a time, in this
process or in a pool of worker processes, written in input order.

A chunk is where a block of whole lines (about 1 MiB) lies in the file: a worker reads it
itself, so that the input does not travel between processes. Transforming one gives its NDJSON
output as one `bytes`, its counts and its stderr lines (numbered within the chunk; the reader
knows where the chunk starts), so that the output and the messages are the same, byte for
byte, whichever process transformed it and however many there were. Per line, the common
case does no more than parse, `outcome` and dump: the line's place (`events.ndjson:17`), the
payload's id and the `Item` of the generic reader are made only for a payload that errs or a
skip that is written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import orjson

from ..errors import PayloadError
from ..io.jsonio import InputError, Item, dumps, is_ndjson, parse_item
from ..io.schema_check import SchemaCheck
from ..io.split import BOM
from ..runtime.mapping import CompiledMapping, encode_event
from ..runtime.result import Skip
from .parent_death import die_with

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

R = TypeVar("R")

__all__ = ["BLOCK", "LARGE", "Chunk", "ChunkReplay", "Done", "Tally", "WorkerDiedError", "auto_workers",
           "copy_file", "in_order", "line_item", "mallopt", "ndjson_chunks", "process_pool", "replay_chunks",
           "worker_died", "worker_state", "write"]

BLOCK = 1 << 20
"""Bytes read at a time; a chunk is this much input, or one line when a line is longer."""

LARGE = 64 << 20
"""NDJSON input from this size up is replayed by one worker per core unless --workers says."""

_APPEND_NEWLINE = orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines of one input file (`name`, at `path`): the bytes from `start` to `end`. What
    a worker is sent; it reads the text itself."""

    name: str
    path: str
    start: int
    end: int

    def read(self) -> tuple[list[bytes], bool]:
        """The chunk's lines, without their newlines, and whether the last one had one (only
        the file's last line may not); raises `InputError`."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.start)
                text = handle.read(self.end - self.start)
        except OSError as exc:
            raise InputError(f"cannot read {self.name}: {exc.strerror or exc}") from None
        lines = text.split(b"\n")
        ends = lines[-1] == b""
        if ends:   # the text ends with a newline: no line after it
            lines.pop()
        return lines, ends


@dataclass(slots=True)
class Tally:
    """Payloads read, events made, payload errors, skips by rule."""

    read: int = 0
    events: int = 0
    errors: int = 0
    skips: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.read += other.read
        self.events += other.events
        self.errors += other.errors
        self.skips.update(other.skips)


@dataclass(slots=True)
class Done(Tally):
    """What a chunk gave: its counts (`events`: written), its output, its lines, and the stderr
    lines, in order, each as the number of its line in the chunk (from 1) and the text after
    the line's place (`events.ndjson:17`)."""

    out: bytes = b""
    lines: int = 0
    messages: list[tuple[int, str]] = field(default_factory=list)


def ndjson_chunks(path: Path, name: str, block: int = BLOCK) -> Iterator[Chunk] | None:
    """The chunks of an NDJSON file as it is now (about `block` bytes each), found without
    reading it all; None when it is not a regular file (a pipe: read it as a stream). Raises
    `InputError` when it cannot be read."""
    try:
        handle = path.open("rb")
        found = os.fstat(handle.fileno())
        size = found.st_size if stat.S_ISREG(found.st_mode) else -1
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    if size < 0:
        handle.close()
        return None
    return _spans(handle, name, str(path), size, block)


def _spans(handle: IO[bytes], name: str, path: str, size: int, block: int) -> Iterator[Chunk]:
    with handle:
        start = 0
        while start < size:
            try:
                handle.seek(start + block)
                handle.readline()   # to the end of the line the block ends in
            except OSError as exc:
                raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
            end = min(handle.tell(), size)
            yield Chunk(name, path, start, end)
            start = end


class ChunkReplay:
    """Transforms chunks with one mapping and `replay`'s options (picklable: a worker gets it
    once)."""

    def __init__(self, compiled: CompiledMapping, include_skips: bool, check: bool, max_depth: int) -> None:
        self.compiled = compiled
        self.include_skips = include_skips
        self.check = check
        self.max_depth = max_depth
        self._checks: tuple[SchemaCheck | None, SchemaCheck | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"compiled": self.compiled, "include_skips": self.include_skips, "check": self.check,
                "max_depth": self.max_depth}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def checks(self) -> tuple[SchemaCheck | None, SchemaCheck | None]:
        if self._checks is None:
            given = self.compiled.plan.input_schema, self.compiled.plan.output_schema
            made = [SchemaCheck(schema, rule) if self.check and schema else None
                    for schema, rule in zip(given, ("input", "output"), strict=True)]
            self._checks = made[0], made[1]
        return self._checks

    def run(self, chunk: Chunk, stopped: Callable[[], bool] | None = None) -> Done:
        """Transform every payload of the chunk: the fast path in the loop, anything unusual
        (a blank line, bad JSON, deep nesting, a payload error, a skip, a check) by `slow`.
        With `stopped`, stop between two payloads (looked at every 16 lines) once it is true."""
        done = Done()
        parts: list[bytes] = []
        append = parts.append
        loads, dump, outcome, option = orjson.loads, orjson.dumps, self.compiled.outcome, _APPEND_NEWLINE
        fast = not self.check
        include_skips, skips = self.include_skips, done.skips
        limit = self.max_depth
        lines, ends = chunk.read()
        done.lines = count = len(lines)
        last = count - 1
        # counted at the end: lines gone through (`seen`), and events written by the fast path
        # (one part each) as the parts not appended by `slow`, which counts its own
        seen, blank, by_slow = count, 0, 0
        for i, line in enumerate(lines):
            if not i & 15 and stopped is not None and stopped():
                seen = i
                break
            if fast and line.count(b"[") + line.count(b"{") <= limit:
                try:
                    out = outcome(loads(line))
                    if isinstance(out, list):
                        if len(out) == 1:
                            append(dump(out[0], None, option))
                        else:   # all of them, or (on an error) none
                            parts.extend([dump(event, None, option) for event in out])
                        continue
                    if not include_skips:   # a Skip, not written: only counted
                        skips[out.rule] += 1
                        continue
                except Exception:  # noqa: BLE001 - whatever it was, the slow path says it
                    pass
            before = len(parts)
            blank += 1 - self.slow(line_item(line, i < last or ends, limit), i + 1, done, append)
            by_slow += len(parts) - before
        done.read += seen - blank
        done.events += len(parts) - by_slow
        done.out = b"".join(parts)
        return done

    def slow(self, item: Item | None, number: int, done: Done, append: Callable[[bytes], Any]) -> int:
        """Line `number` of the chunk (`line_item`) as `replay` has always handled it; returns 1
        for a payload, 0 for a blank line."""
        if item is None:
            return 0
        if item.error is not None:
            done.errors += 1
            done.messages.append((number, f": {item.error}"))
            return 1
        payload, compiled = item.payload, self.compiled
        check_in, check_out = self.checks()
        problems = check_in.errors(payload) if check_in is not None else []
        out: list[Any] | Skip | None = None
        if not problems:
            try:
                out = compiled.outcome(payload)
            except PayloadError as exc:
                problems = [exc]
        if type(out) is Skip:
            done.skips[out.rule] += 1
            if self.include_skips:
                append(dumps({"skip": {"id": compiled.payload_id(payload), "rule": out.rule,
                                       "reason": out.reason}}))
            return 1
        if type(out) is list and check_out is not None:
            problems = next((found for found in map(check_out.errors, out) if found), [])
        if type(out) is list and not problems:
            try:
                encoded = b"".join(encode_event(event) for event in out)
            except PayloadError as exc:
                problems = [exc]
            else:
                append(encoded)
                done.events += len(out)
                return 1
        done.errors += 1
        payload_id = compiled.payload_id(payload)
        label = f" ({payload_id})" if payload_id else ""
        for problem in problems[1:] + problems[:1]:  # as replay has always printed them: most relevant last
            done.messages.append((number, f"{label}: {problem.rule}: {problem.message}, at {problem.path}"))
        return 1


def line_item(line: bytes, newline: bool, max_depth: int) -> Item | None:
    """A chunk's line as the generic NDJSON reader gives it (a byte order mark dropped, its
    newline kept when it had one), parsed: what the fast loops of `replay` and `send` hand on
    for any line they do not take themselves. None for a blank line."""
    text = line.removeprefix(BOM)
    if not text.strip():
        return None
    return parse_item("", text + b"\n" if newline else text, max_depth)


def auto_workers(sources: list[str]) -> int:
    """One worker per core when the NDJSON files given are large, else 1."""
    size = 0
    for source in sources:
        if is_ndjson(source):
            with contextlib.suppress(OSError):
                size += os.stat(source).st_size
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
               ) if size >= LARGE else 1


_WORKER: list[Any] = []


def worker_state() -> Any:
    """In a worker of `process_pool`, the `state` it was given."""
    return _WORKER[0]


def _start_worker(state: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with(parent, signal.SIGKILL)                # and a parent killed takes its workers along
    _keep_freed_memory()
    _WORKER[:] = [state]


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters


def _keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for the next chunk (in this process and in each
    worker): each chunk's text and output (about 1 MiB each) were mapped and unmapped afresh,
    and a worker spent about an eighth of its time in page faults (150,000 on 200,000 payloads;
    8,000 with this)."""
    mallopt((_M_MMAP_THRESHOLD, 16 << 20),   # blocks under 16 MiB from the heap
            (_M_TRIM_THRESHOLD, 32 << 20))   # give back only more than 32 MiB free at its top


def mallopt(*settings: tuple[int, int]) -> None:
    """glibc's `mallopt(parameter, value)` for each of `settings`; nothing on other C libraries."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):   # not glibc
        libc = ctypes.CDLL("libc.so.6")
        for parameter, value in settings:
            libc.mallopt(parameter, value)


class WorkerDiedError(Exception):
    """A worker of `process_pool` died (killed: out of memory, say); `in_order` raises it."""


def worker_died(source: str, line: int) -> InputError:
    """What a command says of `source` when a worker died on it: the lines after `line` were
    not read."""
    return InputError(f"{source}: a worker process ended abruptly after line {line}; "
                      "the rest of this input was not read")


def _run_in_worker(chunk: Chunk) -> tuple[Done, str | None]:
    """The chunk transformed, its output in a file of the run's folder: the parent copies it to
    the sink in the kernel, so that the output is neither pickled nor read through a pipe into
    the parent. None (no file) when there is no output, or no room for it: then the output
    travels in the `Done`."""
    replay, folder = worker_state()
    result = replay.run(chunk)
    if not result.out or folder is None:
        return result, None
    path = os.path.join(folder, f"{chunk.start}.ndjson")
    try:
        with open(path, "wb") as spill:
            spill.write(result.out)
    except OSError:   # a full disk, say
        with contextlib.suppress(OSError):
            os.unlink(path)
        return result, None
    result.out = b""
    return result, path


@contextlib.contextmanager
def process_pool(workers: int, state: Any) -> Iterator[Executor]:
    """A pool of `workers` processes, started now, each given `state` once (`worker_state()`),
    ignoring SIGINT and SIGTERM (the parent decides when to stop), killed when the parent dies
    (`kill -9` too: none is left running). Forked when this process
    has no other thread (the usual case: the workers start at once, with `state` as it is
    here); else spawned, with `state` pickled. On the way out, by an exception too, the jobs
    not started are cancelled and the running ones finish (each a moment): no process is left."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    alone = threading.active_count() == 1 and "fork" in methods
    context = multiprocessing.get_context("fork" if alone else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(state, os.getpid()))
    try:
        pool.submit(int)   # with fork, the workers start now, before the caller starts threads
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def in_order(pool: Executor, job: Callable[[Chunk], R], chunks: Iterable[Chunk], workers: int,
             stopped: Callable[[], bool] = lambda: False) -> Iterator[R]:
    """`job(chunk)` of each chunk, run in `pool`, given back in input order, with at most
    2 * `workers` + 1 chunks submitted and not given back. Stops submitting when `stopped()`
    (looked at after each submission); what was submitted is still given back. Raises
    `WorkerDiedError` when a worker dies (killed), having ended the others."""
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    pending: deque[Future[R]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(job, chunk))
            while len(pending) > 2 * workers or (pending and pending[0].done()):
                yield pending.popleft().result()
            if stopped():
                break
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        # a worker was killed: the pool ends the others with SIGTERM, which workers ignore, and
        # waits for them (for ever, without this); the command's processes have no other children
        for child in multiprocessing.active_children():
            child.kill()
        raise WorkerDiedError from None


def replay_chunks(replay: ChunkReplay, chunks: Iterator[Chunk], workers: int, sink: IO[bytes],
                  done: Callable[[Done], None], stopped: Callable[[], bool]) -> bool:
    """Transform `chunks` (with `workers` processes when more than 1), write each one's output
    to `sink` and hand it to `done`, in input order. Stops between chunks when `stopped()`;
    returns whether every chunk was read."""
    if workers <= 1:
        for number, chunk in enumerate(chunks):
            if number == 1:   # more than one chunk: worth loading ctypes for
                _keep_freed_memory()
            result = replay.run(chunk, stopped)
            write(sink, result.out)
            done(result)
            if stopped():
                return False
        return True
    import shutil
    import tempfile

    read: list[bool] = []

    def every(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        yield from chunks
        read.append(True)

    try:   # the chunks' output, until written
        folder: str | None = tempfile.mkdtemp(prefix="transformer-replay-")
    except OSError:   # no temporary folder: the output comes back pickled
        folder = None
    try:
        # the folder goes after the pool: the chunks being transformed have finished
        with process_pool(workers, (replay, folder)) as pool:
            for result, path in in_order(pool, _run_in_worker, every(chunks), workers, stopped):
                _emit(result, path, sink, done)
        return bool(read)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _emit(result: Done, path: str | None, sink: IO[bytes], done: Callable[[Done], None]) -> None:
    if path is None:
        write(sink, result.out)
    else:
        copy_file(path, sink)
        os.unlink(path)
    done(result)


def copy_file(path: str, sink: IO[bytes]) -> None:
    """Append the file at `path` to `sink`: in the kernel (`os.sendfile`) when the sink is a file
    descriptor, else through `write`."""
    try:
        target = sink.fileno()
    except (AttributeError, OSError, ValueError):   # io.UnsupportedOperation is an OSError
        target = -1
    with open(path, "rb") as source:
        if target < 0 or not hasattr(os, "sendfile"):
            write(sink, source.read())
            return
        sink.flush()
        size, sent = os.fstat(source.fileno()).st_size, 0
        while sent < size:   # a signal may cut a call short: go on from where it stopped
            sent += os.sendfile(target, source.fileno(), sent, size - sent)


_PIECE = 4096


def write(sink: IO[bytes], data: bytes) -> None:
    """Write `data` in pieces no larger than the sink's buffer. One write larger than it goes
    straight to the file, and on a pipe a signal arriving while that write blocks (Ctrl-C with
    a slow reader) lost all but the part already written (CPython 3.11, measured: 131,072 of
    1,000,001 bytes); written through the buffer, every byte arrives."""
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        sink.write(view[start:start + _PIECE])
