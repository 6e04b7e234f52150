"""`transformer replay INPUT...`: transform sample payloads and print what Amplitude would get."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated

import typer

from ..engine import CompiledMapping
from ..errors import PayloadError
from ..jsonio import InputError, dumps, read_items
from ..payload_check import SchemaCheck
from .common import (
    DEFAULT_MAPPING,
    MappingOpt,
    SetOpt,
    SettingsOpt,
    err,
    fail,
    load_from_options,
    stdout_failed,
)
from .progress import RunProgress


def replay(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...", help="Payload files: .json (one or an array), .ndjson/.jsonl, or - for stdin.")],
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="PATH", help="Write NDJSON here instead of standard output.")] = None,
    include_skips: Annotated[bool, typer.Option(
        "--include-skips", help="Also write a line per skipped payload: its id, rule and reason.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Validate each input and output against the mapping's schemas.")] = False,
) -> None:
    """Transform payloads and write the output events as NDJSON, one line per event."""
    compiled = load_from_options(mapping, assignments, settings_file)
    checks = _schema_checks(compiled) if check else None
    stats = _Stats()
    if output is None:
        try:
            _run(compiled, inputs, sys.stdout.buffer, include_skips, checks, stats)
        except OSError as exc:
            stdout_failed(exc)
    else:
        progress = RunProgress(sys.stderr, f"replay → {output}", inputs)
        stats.tick = progress.tick
        try:
            with output.open("wb") as sink:
                _run(compiled, inputs, sink, include_skips, checks, stats)
        except OSError as exc:
            fail(f"error: cannot write {output}: {exc.strerror or exc}", 1)
        finally:
            progress.stop(stats.read)
    err(stats.summary())
    raise typer.Exit(1 if stats.errors else 0)


def _schema_checks(compiled: CompiledMapping) -> tuple[SchemaCheck | None, SchemaCheck | None]:
    parts = compiled.parts
    if parts.input_schema is None and parts.output_schema is None:
        fail("error: --check needs a mapping that names input.schema or output.schema", 2)
    return (SchemaCheck(parts.input_schema, "input") if parts.input_schema else None,
            SchemaCheck(parts.output_schema, "output") if parts.output_schema else None)


class _Stats:
    def __init__(self) -> None:
        self.tick: Callable[[int], None] = lambda read: None
        self.read = 0
        self.written = 0
        self.errors = 0
        self.skips: Counter[str] = Counter()

    def summary(self) -> str:
        skipped = sum(self.skips.values())
        by_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(self.skips.items()))
        return (f"read {self.read} payload{'s' if self.read != 1 else ''}, "
                f"wrote {self.written} event{'s' if self.written != 1 else ''}, "
                f"skipped {skipped}{f' ({by_rule})' if by_rule else ''}, "
                f"{self.errors} payload error{'s' if self.errors != 1 else ''}")


def _run(compiled: CompiledMapping, inputs: list[str], sink: IO[bytes], include_skips: bool,
         checks: tuple[SchemaCheck | None, SchemaCheck | None] | None, stats: _Stats) -> None:
    apply = compiled.apply
    write = sink.write
    check_in, check_out = checks or (None, None)
    tick = stats.tick
    for source in inputs:
        try:
            for item in read_items(source):
                stats.read += 1
                tick(stats.read)
                if item.error is not None:
                    stats.errors += 1
                    err(f"{item.where}: {item.error}")
                    continue
                payload = item.payload
                try:
                    if check_in is not None:
                        _raise_first(check_in.errors(payload), item.where, compiled, payload)
                    result = apply(payload)
                    if check_out is not None:
                        for event in result.events:
                            _raise_first(check_out.errors(event), item.where, compiled, payload)
                except PayloadError as exc:
                    stats.errors += 1
                    _report(item.where, compiled.payload_id(payload), exc)
                    continue
                if result.skip is not None:
                    stats.skips[result.skip.rule] += 1
                    if include_skips:
                        write(dumps({"skip": {"id": result.id, "rule": result.skip.rule,
                                              "reason": result.skip.reason}}))
                    continue
                for event in result.events:
                    write(dumps(event))
                    stats.written += 1
        except InputError as exc:
            stats.errors += 1
            err(f"error: {exc}")
    sink.flush()


def _raise_first(errors: list[PayloadError], where: str, compiled: CompiledMapping,
                 payload: object) -> None:
    if not errors:
        return
    for extra in errors[1:]:
        _report(where, compiled.payload_id(payload), extra)
    raise errors[0]


def _report(where: str, payload_id: str | None, exc: PayloadError) -> None:
    label = f"{where} ({payload_id})" if payload_id else where
    err(f"{label}: {exc.rule}: {exc.message}, at {exc.path}")
