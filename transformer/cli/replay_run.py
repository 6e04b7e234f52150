"""`transformer replay`'s work, without typer: `entry.main` calls `run` directly when the command
line is a plain one (`replay_args.py`), and the typer command (`replay.py`) does for any other."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import PayloadError
from ..io.jsonio import InputError, dumps, is_ndjson, read_items
from ..io.schema_check import SchemaCheck
from ..runtime.mapping import CompiledMapping, encode_event
from ..runtime.result import summary_line
from .basics import err, fail, load_from_options, stdout_failed
from .replay_batch import (
    ChunkReplay,
    Done,
    Tally,
    WorkerDiedError,
    auto_workers,
    ndjson_chunks,
    replay_chunks,
    worker_died,
)
from .signals import Stop

__all__ = ["run"]


def run(inputs: list[str], mapping: str, assignments: list[str] | None, settings_file: Path | None,
        output: Path | None, include_skips: bool, check: bool, max_depth: int, output_budget: int,
        workers: int | None) -> int:
    """Replay `inputs` as `transformer replay` does with these options; the exit code."""
    with Stop() as stop:
        compiled = load_from_options(mapping, assignments, settings_file, output_budget)
        checks = _schema_checks(compiled) if check else None
        run = _Replay(compiled, include_skips, checks, max_depth, stop)
        run.workers = workers if workers is not None else auto_workers(inputs)
        try:
            if output is None:
                try:
                    run.inputs(inputs, sys.stdout.buffer)
                except OSError as exc:
                    stdout_failed(exc)
            else:
                from .progress import RunProgress  # rich: only for a progress line

                progress = RunProgress(sys.stderr, f"replay → {output}", inputs)
                run.stats.tick = progress.tick
                try:
                    with output.open("wb") as sink:
                        run.inputs(inputs, sink)
                except OSError as exc:
                    fail(f"error: cannot write {output}: {exc.strerror or exc}", 1)
                finally:
                    progress.stop(run.stats.read)
        except KeyboardInterrupt:  # a second signal: stop at once
            fail(f"interrupted again after {run.stats.read} payloads", stop.exit_code)
        if stop.requested:
            rest = "" if run.complete else "; the rest of the input was not read"
            err(f"interrupted ({stop.name}) after {run.stats.read} payloads{rest}")
        err(run.stats.summary())
    return stop.exit_code if stop.requested else 1 if run.stats.errors else 0




def _schema_checks(compiled: CompiledMapping) -> tuple[SchemaCheck | None, SchemaCheck | None]:
    parts = compiled.plan
    if parts.input_schema is None and parts.output_schema is None:
        fail("error: --check needs a mapping that names input.schema or output.schema", 2)
    return (SchemaCheck(parts.input_schema, "input") if parts.input_schema else None,
            SchemaCheck(parts.output_schema, "output") if parts.output_schema else None)


class _Stats(Tally):
    __slots__ = ("tick",)

    def __init__(self) -> None:
        super().__init__()
        self.tick: Callable[[int], None] = lambda read: None

    def summary(self) -> str:
        return summary_line(self.read, self.events, self.skips, self.errors)


class _Replay:
    """One run: payloads in, NDJSON lines out, counted; stops between payloads on a signal."""

    def __init__(self, compiled: CompiledMapping, include_skips: bool,
                 checks: tuple[SchemaCheck | None, SchemaCheck | None] | None, max_depth: int,
                 stop: Stop) -> None:
        self.compiled = compiled
        self.include_skips = include_skips
        self.check_in, self.check_out = checks or (None, None)
        self.max_depth = max_depth
        self.stop = stop
        self.stats = _Stats()
        self.complete = False
        self.workers = 1

    def chunks(self, source: str, sink: IO[bytes]) -> bool | None:
        """An NDJSON file, in chunks (`replay_batch.py`); returns whether it was read to the end,
        None when it is not a regular file (read it as a stream)."""
        chunks = ndjson_chunks(Path(source), source)
        if chunks is None:
            return None
        batch = ChunkReplay(self.compiled, self.include_skips, self.check_in is not None
                            or self.check_out is not None, self.max_depth)
        stats = self.stats
        first = 1   # the number of the chunk's first line in the file

        def done(result: Done) -> None:
            nonlocal first
            stats.add(result)
            for number, message in result.messages:
                err(f"{source}:{first + number - 1}{message}")
            first += result.lines
            stats.tick(stats.read)

        try:
            return replay_chunks(batch, chunks, self.workers, sink, done, lambda: self.stop.requested)
        except WorkerDiedError:   # on to the next input
            raise worker_died(source, first - 1) from None

    def inputs(self, sources: list[str], sink: IO[bytes]) -> None:
        stdin = self.stop.stdin() if "-" in sources else None
        try:
            for source in sources:
                try:
                    whole = self.chunks(source, sink) if is_ndjson(source) else None
                    if whole is False:
                        return
                    if whole:
                        continue
                    for item in read_items(source, self.max_depth, stdin=stdin):
                        if self.stop.requested:
                            return
                        self.stats.read += 1
                        self.stats.tick(self.stats.read)
                        if item.error is not None:
                            self.stats.errors += 1
                            err(f"{item.where}: {item.error}")
                            continue
                        sink.write(self.lines(item.where, item.payload))
                except InputError as exc:
                    self.stats.errors += 1
                    err(f"error: {exc}")
                if self.stop.requested:
                    return
            self.complete = True
        finally:
            sink.flush()

    def lines(self, where: str, payload: Any) -> bytes:
        """The NDJSON lines for one payload, written in one piece (or nothing, on an error)."""
        compiled, stats = self.compiled, self.stats
        problems = self.check_in.errors(payload) if self.check_in is not None else []
        result = compiled.result(payload) if not problems else None
        if result is not None and result.error is not None:
            problems = [result.error]
        if result is not None and not problems and self.check_out is not None:
            problems = next((found for found in map(self.check_out.errors, result.events) if found), [])
        out = b""
        if result is not None and not problems:
            if result.skip is not None:
                stats.skips[result.skip.rule] += 1
                if not self.include_skips:
                    return b""
                return dumps({"skip": {"id": result.id, "rule": result.skip.rule,
                                       "reason": result.skip.reason}})
            try:
                out = b"".join(encode_event(event) for event in result.events)
            except PayloadError as exc:
                problems = [exc]
        if problems:
            stats.errors += 1
            for problem in problems[1:] + problems[:1]:  # as replay has always printed them:
                _report(where, compiled.payload_id(payload), problem)  # the most relevant last
            return b""
        assert result is not None
        stats.events += len(result.events)
        return out


def _report(where: str, payload_id: str | None, exc: PayloadError) -> None:
    label = f"{where} ({payload_id})" if payload_id else where
    err(f"{label}: {exc.rule}: {exc.message}, at {exc.path}")
