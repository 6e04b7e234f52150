"""Ctrl-C (SIGINT) and SIGTERM for commands that must stop cleanly: `replay` and `send`.

Python's default turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens
to be: inside a payload's transformation, halfway through writing a line, in the sender's
bookkeeping. Here the handler only records the signal; the command looks at `requested` at
points where stopping is safe (between payloads; the sender at the top of its loop) and
finishes there: output complete, summary printed, exit status 128 + the signal's number (130
for SIGINT, 143 for SIGTERM). The one place where waiting for such a point could take forever
is a read of standard input that blocks: `stdin()` gives a reader whose blocked read the
handler ends, as an end of input. A second signal stops at once (KeyboardInterrupt).
"""

from __future__ import annotations

import io
import select
import signal
import sys
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import IO, Any

__all__ = ["SIGNALS", "Stop"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _WakeUp(Exception):  # noqa: N818 - not an error: the end of a blocked read
    """Raised by the handler inside a blocked read of standard input."""


class Stop:
    """While entered, SIGINT and SIGTERM set `signum` instead of interrupting."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.reading = False
        self._previous: dict[int, Any] = {}
        self._callbacks: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def notify(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the handler: it must only set a flag) when a signal comes,
        or now if one came already."""
        self._callbacks.append(callback)
        if self.requested:
            callback()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt  # a second signal: stop now
        self.signum = signum
        for callback in self._callbacks:
            callback()
        if self.reading:
            raise _WakeUp

    def __enter__(self) -> Stop:
        try:
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread (an embedding test runner): nothing to do
            pass
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def stdin(self) -> IO[bytes] | None:
        """Standard input, read so that a signal ends a blocked read (as the end of input).
        After a signal, reading goes on while input keeps coming (what is already written to
        a pipe is read), and ends after a second of silence. None for a standard input that
        is not a file (a test runner's): nothing to wrap."""
        raw = getattr(getattr(sys.stdin, "buffer", None), "raw", None)
        if raw is None or not hasattr(raw, "fileno"):
            return None
        return io.BufferedReader(_Reader(raw, self))


class _Reader(io.RawIOBase):
    def __init__(self, raw: Any, stop: Stop) -> None:
        super().__init__()
        self.raw = raw
        self.stop = stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        stop = self.stop
        if stop.requested and not select.select([self.raw], [], [], 1.0)[0]:
            return 0
        stop.reading = True
        try:
            count: int = self.raw.readinto(buffer)
        except _WakeUp:
            return 0
        finally:
            stop.reading = False
        return count
