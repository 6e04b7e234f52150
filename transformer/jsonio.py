"""Reading payload streams and writing NDJSON, with flat memory however large the input.

Inputs: a `.json` file holding one payload or an array of payloads (an array is streamed
element by element), `.ndjson` / `.jsonl` (one payload per line), or `-` for standard input
(NDJSON, or a JSON array). A line or element that is not JSON is reported with its place and
the stream goes on where it can.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

__all__ = ["DEFAULT_MAX_DEPTH", "InputError", "Item", "TooDeepError", "depth_exceeds", "dumps",
           "loads_payload", "read_items"]

DEFAULT_MAX_DEPTH = 128
"""How deeply a payload's arrays and objects may nest; deeper input is a payload error."""


class InputError(Exception):
    """An input that cannot be opened or read at all."""


@dataclass(frozen=True, slots=True)
class Item:
    """One payload from an input, or the reason it could not be parsed; `where` is file:line."""

    where: str
    payload: Any = None
    error: str | None = None


def dumps(value: Any) -> bytes:
    """Compact JSON bytes with a trailing newline (an NDJSON line)."""
    try:
        return bytes(orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE))
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def loads(data: bytes | str) -> Any:
    """Parse one JSON document."""
    return orjson.loads(data)


class TooDeepError(ValueError):
    """JSON whose arrays and objects nest deeper than the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"JSON nested deeper than {limit} levels")


_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]


def depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays and objects deeper than `limit`, in time linear in its size."""
    # nesting is never deeper than the number of opening brackets: almost every payload stops here
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def loads_payload(data: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse one payload; raises `TooDeepError` beyond `max_depth`, `orjson.JSONDecodeError` if not JSON."""
    if depth_exceeds(data, max_depth):
        raise TooDeepError(max_depth)
    return orjson.loads(data)


def read_items(source: str) -> Iterator[Item]:
    """Every payload of one input, in order."""
    if source == "-":
        stdin = sys.stdin.buffer
        stream: IO[bytes] = stdin if hasattr(stdin, "peek") else io.BufferedReader(stdin)  # type: ignore[type-var]
        yield from _read_stream(stream, "<stdin>")
        return
    path = Path(source)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    with handle:
        if path.suffix.lower() in (".ndjson", ".jsonl"):
            yield from _read_lines(handle, source)
        elif path.suffix.lower() == ".json":
            yield from _read_json(handle, source)
        else:
            yield from _read_stream(handle, source)


def _first_char(handle: IO[bytes]) -> bytes:
    """Peek at the first non-blank byte without consuming the stream."""
    data: bytes = handle.peek(4096)  # type: ignore[attr-defined]
    stripped = data.lstrip(b" \t\r\n\xef\xbb\xbf")
    return stripped[:1]


def _read_stream(handle: IO[bytes], name: str) -> Iterator[Item]:
    if _first_char(handle) == b"[":
        yield from _read_array(handle, name)
    else:
        yield from _read_lines(handle, name)


def _read_json(handle: IO[bytes], name: str) -> Iterator[Item]:
    if _first_char(handle) == b"[":
        yield from _read_array(handle, name)
        return
    data = handle.read()
    try:
        yield Item(f"{name}:1", loads(data))
    except orjson.JSONDecodeError as exc:
        yield Item(_where(name, data, exc.pos), error=f"invalid JSON: {exc.msg}")


def _read_array(handle: IO[bytes], name: str) -> Iterator[Item]:
    count = 0
    try:
        for count, payload in enumerate(ijson.items(handle, "item", use_float=True), start=1):
            yield Item(f"{name}[{count - 1}]", payload)
    except ijson.JSONError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "invalid JSON"
        yield Item(f"{name}[{count}]", error=f"invalid JSON after element {count}: {detail}; "
                                             "the rest of this file is not read")


def _read_lines(handle: IO[bytes], name: str) -> Iterator[Item]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield Item(f"{name}:{number}", loads(line))
        except orjson.JSONDecodeError as exc:
            yield Item(f"{name}:{number}", error=f"invalid JSON: {exc.msg} (column {exc.colno})")


def _where(name: str, data: bytes, pos: int) -> str:
    line = data.count(b"\n", 0, pos) + 1
    return f"{name}:{line}"
