"""Split a stream of JSON text into the raw bytes of its values, measuring nesting on the way.

Two shapes: the elements of one top-level array (`[v, v, …]`), or a sequence of values one after
another (`v v …`: one document, pretty-printed documents concatenated, or NDJSON). Only brackets
and strings are looked at to find where a value ends; its text is parsed by orjson (in the
common case while finding its end, see `_quick`). Nesting is counted while scanning, so a value
nested deeper than the limit is never parsed, and memory holds one value's text at a time,
whatever the nesting (no per-level state).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import IO, Any

import orjson

__all__ = ["BOM", "CHUNK", "Piece", "Splitter", "depth_exceeds"]

BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 16

# Text up to the next bracket, or to an unterminated string: whole strings are skipped, so a
# bracket inside a string is never counted. Possessive, so no backtracking.
_RUN = re.compile(rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+', re.S)
_SCALAR = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[^\s,\[\]{}"]++', re.S)
_SPACE = re.compile(rb"(?:[ \t\r\n]|\xef\xbb\xbf)*+")
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_BRACKET = re.compile(rb"[\[\]{}]")
_OPENERS = (b"[", b"{")
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


@dataclass(frozen=True, slots=True)
class Piece:
    """One value's text (`raw`), where it starts, and what is wrong with it if anything:
    `too_deep` when it nests deeper than the limit, `error` when the text around it is broken
    (then `final` says whether reading stops there). `value` is the value when `parsed`."""

    index: int
    line: int
    raw: bytes = b""
    too_deep: bool = False
    error: str | None = None
    final: bool = False
    value: Any = None
    parsed: bool = False


class Splitter:
    """Reads `handle` (after `head`, bytes already taken from it) chunk by chunk."""

    def __init__(self, handle: IO[bytes], max_depth: int, head: bytes = b"") -> None:
        self.handle = handle
        self.max_depth = max_depth
        self.buf = head
        self.pos = 0
        self.keep = 0            # the earliest offset still needed (the current value's start)
        self.eof = False
        self.line = 1            # line number at offset `line_pos`
        self.line_pos = 0

    # input ------------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Append more input, dropping what is no longer needed; False at the end of input."""
        if self.eof:
            return False
        cut = self.keep
        if cut:
            if self.line_pos < cut:
                self.line += self.buf.count(b"\n", self.line_pos, cut)
                self.line_pos = cut
            self.line_pos -= cut
            self.buf = self.buf[cut:]
            self.pos -= cut
            self.keep = 0
        # read at least as much as is held, so that rescanning a long value stays linear
        more = self.handle.read(max(CHUNK, len(self.buf)))
        if not more:
            self.eof = True
            return False
        self.buf += more
        return True

    def _line_at(self, offset: int) -> int:
        self.line += self.buf.count(b"\n", self.line_pos, offset)
        self.line_pos = offset
        return self.line

    def _skip_space(self) -> bool:
        """Move past blanks (and byte order marks); False when the input ends first."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            rest = self.buf[self.pos:self.pos + 3]
            if rest and (self.eof or not BOM.startswith(rest)):  # not a BOM cut by the chunk's end
                return True
            self.keep = self.pos
            if not self._fill():
                return self.pos < len(self.buf)

    # values -----------------------------------------------------------------------------

    def _value(self, index: int) -> Piece:
        """The value starting at `pos` (not a blank): up to its closing bracket or, for a
        scalar, to the next blank, comma or bracket."""
        self.keep = self.pos
        line = self._line_at(self.pos)
        if self.buf[self.pos] in _OPEN:
            return self._quick(index, line) or self._container(index, line)
        while True:
            found = _SCALAR.match(self.buf, self.keep)
            if found is not None and (found.end() < len(self.buf) or self.eof):
                self.pos = found.end()
                return Piece(index, line, self.buf[self.keep:self.pos])
            if not self._fill():
                self.pos = len(self.buf)
                return Piece(index, line, self.buf[self.keep:])

    def _quick(self, index: int, line: int) -> Piece | None:
        """The common case: find the closing bracket counting brackets as if no string held
        any, and parse that much with orjson. What parses on its own is the value (a JSON
        value ends where its parse ends). None when it does not parse, when the value is not
        all in the buffer, or when it may be too deep: the exact scan then decides."""
        buf, start, limit = self.buf, self.pos, self.max_depth
        depth = 0
        for found in _BRACKET.finditer(buf, start):
            if found.group() in _OPENERS:
                depth += 1
                if depth > limit:
                    return None
            else:
                depth -= 1
                if depth == 0:
                    end = found.end()
                    break
        else:
            return None
        raw = buf[start:end]
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        self.pos = end
        if depth_exceeds(raw, self.max_depth):  # brackets in strings may have hidden some depth
            return Piece(index, line, raw, too_deep=True)
        return Piece(index, line, raw, value=value, parsed=True)

    def _container(self, index: int, line: int) -> Piece:
        depth = deepest = 0
        buf, pos = self.buf, self.pos
        while True:
            pos = _RUN.match(buf, pos).end()  # type: ignore[union-attr]
            if pos == len(buf) or buf[pos] == 0x22:  # the input ends, or a string not closed yet
                self.pos = pos
                if not self._fill():
                    self.pos = len(self.buf)
                    return Piece(index, line, self.buf[self.keep:], deepest > self.max_depth)
                buf, pos = self.buf, self.pos
                continue
            if buf[pos] in _OPEN:
                depth += 1
                deepest = max(deepest, depth)
            else:
                depth -= 1
            pos += 1
            if depth == 0:
                self.pos = pos
                return Piece(index, line, buf[self.keep:pos], deepest > self.max_depth)

    # the two shapes ---------------------------------------------------------------------

    def sequence(self) -> Iterator[Piece]:
        """Values one after another, separated by blanks (or newlines)."""
        index = 0
        while self._skip_space():
            char = self.buf[self.pos]
            if char in _CLOSE or char == 0x2C:
                line = self._line_at(self.pos)
                self.pos += 1
                yield Piece(index, line, error=f"unexpected {chr(char)!r} between values")
                continue
            yield self._value(index)
            index += 1

    def array(self) -> Iterator[Piece]:
        """The elements of the array that starts at the first non-blank byte."""
        self._skip_space()
        self.pos += 1  # the '[' the caller has seen
        index = 0
        while True:
            if not self._skip_space():
                yield self._broken(index, f"the array is not closed after element {index}")
                return
            char = self.buf[self.pos]
            if char == 0x5D and index == 0:  # ']' of an empty array
                self.pos += 1
                break
            if index:
                if char == 0x5D:
                    self.pos += 1
                    break
                if char != 0x2C:
                    yield self._broken(index, f"expected ',' or ']' after element {index - 1}, "
                                              f"found {self._show()}")
                    return
                self.pos += 1
                if not self._skip_space():
                    yield self._broken(index, f"the array is not closed after element {index}")
                    return
                char = self.buf[self.pos]
            if char in _CLOSE or char == 0x2C:
                yield self._broken(index, f"expected a value at element {index}, found {self._show()}")
                return
            yield self._value(index)
            index += 1
        if self._skip_space():
            yield self._broken(index, f"unexpected {self._show()} after the array")

    def _broken(self, index: int, message: str) -> Piece:
        return Piece(index, self._line_at(self.pos), error=message, final=True)

    def _show(self) -> str:
        return repr(self.buf[self.pos:self.pos + 10].decode("utf-8", "replace"))
