"""Reading payload streams and writing NDJSON, with flat memory however large the input.

Inputs: a `.json` file holding one payload or an array of payloads (an array is streamed
element by element), `.ndjson` / `.jsonl` (one payload per line), or `-` for standard input
(NDJSON, or a JSON array). A line or element that is not JSON is reported with its place and
the stream goes on where it can.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

__all__ = ["InputError", "Item", "dumps", "read_items"]


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
