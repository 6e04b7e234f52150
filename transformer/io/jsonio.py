"""Reading payload streams and writing NDJSON.

Inputs: a `.json` file holding one payload, an array of payloads (streamed element by element)
or several payloads one after another; `.ndjson` / `.jsonl` (one payload per line); `-` for
standard input, which may be any of these (detected). Memory holds one payload's text at a
time, whatever the size or nesting of the input. A payload nested deeper than the limit, or
that is not JSON, is reported with its place (`file:line` or `file[index]`) and reading goes
on where it can. A UTF-8 byte order mark is accepted at the start of any input.
"""

from __future__ import annotations

import io
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .split import BOM, Piece, Splitter, depth_exceeds

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "InputError",
    "Item",
    "TooDeepError",
    "dumps",
    "is_ndjson",
    "loads",
    "loads_payload",
    "parse_item",
    "read_items",
    "read_json_file",
    "split_items",
]

DEFAULT_MAX_DEPTH = 128
"""How deeply a payload's arrays and objects may nest; deeper input is a payload error."""


class InputError(Exception):
    """An input that cannot be opened or read at all."""


def is_ndjson(source: str) -> bool:
    """Whether the input `source` (a path, or - for stdin) is read as NDJSON, one payload a line."""
    return source != "-" and Path(source).suffix.lower() in (".ndjson", ".jsonl")


@dataclass(frozen=True, slots=True)
class Item:
    """One payload from an input, or the reason it could not be parsed (and, when there is one,
    the text that could not be); `where` is `file:line` or `file[index]`."""

    where: str
    payload: Any = None
    error: str | None = None
    raw: bytes | None = None


def dumps(value: Any) -> bytes:
    """Compact JSON bytes with a trailing newline (an NDJSON line)."""
    try:
        return bytes(orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE))
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def read_json_file(path: str | Path) -> Any:
    """One JSON document from a file, such as a schema; a UTF-8 byte order mark is accepted."""
    return json.loads(Path(path).read_text(encoding="utf-8-sig"))


def loads(data: bytes | str) -> Any:
    """Parse one JSON document."""
    return orjson.loads(data)


class TooDeepError(ValueError):
    """JSON whose arrays and objects nest deeper than the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"JSON nested deeper than {limit} levels")


def loads_payload(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse one payload; raises `TooDeepError` beyond `max_depth`, `orjson.JSONDecodeError` if not JSON."""
    if depth_exceeds(data, max_depth):
        raise TooDeepError(max_depth)
    return orjson.loads(data)


def read_items(source: str, max_depth: int = DEFAULT_MAX_DEPTH, *,
               stdin: IO[bytes] | None = None) -> Iterator[Item]:
    """Every payload of one input, in order; `stdin` replaces standard input for `-`."""
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        if not hasattr(stream, "peek"):
            stream = io.BufferedReader(stream)
        yield from _read_stream(stream, "<stdin>", max_depth)
        return
    path = Path(source)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    with handle:
        if is_ndjson(source):
            yield from _read_lines(handle, source, max_depth)
        elif path.suffix.lower() == ".json":
            splitter = Splitter(handle, max_depth)
            is_array = _first_char(handle) == b"["
            yield from split_items(splitter.array() if is_array else splitter.sequence(), source,
                              max_depth, is_array)
        else:
            yield from _read_stream(handle, source, max_depth)


def _first_char(handle: IO[bytes]) -> bytes:
    """Peek at the first non-blank byte without consuming the stream."""
    data: bytes = handle.peek(4096)  # type: ignore[attr-defined]
    return data.lstrip(b" \t\r\n").removeprefix(BOM).lstrip(b" \t\r\n")[:1]


def _read_stream(handle: IO[bytes], name: str, max_depth: int) -> Iterator[Item]:
    """Standard input, or a file of unknown kind: a JSON array, NDJSON, or JSON values one
    after another (one pretty-printed document, or several). The first line decides between
    the last two: NDJSON when it holds a whole value."""
    if _first_char(handle) == b"[":
        yield from split_items(Splitter(handle, max_depth).array(), name, max_depth, True)
        return
    head = b""
    for line in handle:
        head += line
        if line.strip(b" \t\r\n").removeprefix(BOM).strip():
            break
    try:
        loads_payload(head.removeprefix(BOM), max_depth)
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith("unexpected end of data"):
            yield from split_items(Splitter(handle, max_depth, head).sequence(), name, max_depth, False)
            return
    except TooDeepError:
        pass
    yield from _read_lines(itertools.chain(head.splitlines(keepends=True), handle), name, max_depth)


def split_items(pieces: Iterator[Piece], name: str, max_depth: int, is_array: bool) -> Iterator[Item]:
    """Parse each piece of a split stream; array elements are labelled `name[i]`, values of a
    sequence `name:line`."""
    for piece in pieces:
        where = f"{name}[{piece.index}]" if is_array else f"{name}:{piece.line}"
        if piece.error is not None:
            rest = "; the rest of this input is not read" if piece.final else ""
            yield Item(where, error=f"invalid JSON: {piece.error}{rest}")
        elif piece.too_deep:
            yield Item(where, error=str(TooDeepError(max_depth)), raw=piece.raw)
        elif piece.parsed:
            yield Item(where, piece.value)
        else:
            yield parse_item(where, piece.raw, None, piece.line)


def _read_lines(lines: Iterable[bytes], name: str, max_depth: int) -> Iterator[Item]:
    for number, line in enumerate(lines, start=1):
        line = line.removeprefix(BOM)
        if not line.strip():
            continue
        yield parse_item(f"{name}:{number}", line, max_depth)


def parse_item(where: str, raw: bytes, max_depth: int | None, line: int = 1) -> Item:
    """One payload from its text, which starts on `line`; `max_depth` None when its depth is
    already known to be within the limit."""
    try:
        if max_depth is None:
            return Item(where, loads(raw))
        return Item(where, loads_payload(raw, max_depth))
    except TooDeepError as exc:
        return Item(where, error=str(exc), raw=raw)
    except orjson.JSONDecodeError as exc:
        if raw.endswith(b"\n"):  # say where on the line, not "column 1" of the next one
            return parse_item(where, raw.rstrip(b"\r\n"), max_depth, line)
        multiline = b"\n" in raw
        at = f"line {line + exc.lineno - 1}, column {exc.colno}" if multiline else f"column {exc.colno}"
        return Item(where, error=f"invalid JSON: {exc.msg} ({at})", raw=raw)
