"""Structured logs: one JSON object per line on stderr, without secrets or message bodies.

Callers pass fields (`log(logger, "info", "webhook_stored", event_id=…)`), never payloads. As a
second line of defence the formatter scrubs every piece of a registered secret that would still
reach a line (an exception text that quotes a key, say; see `transformer.scrub`).

Warnings and errors that repeat (a refused signature per request, accept() failing while
descriptors run out, uvicorn's "Invalid HTTP request") are rate-limited: at most `burst` lines
per message per `period` seconds; the next line let through says how many were left out, so the
log cannot grow without bound whatever clients do.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

import orjson

from ..scrub import Scrubber

__all__ = ["JsonFormatter", "RateLimit", "configure", "log"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class JsonFormatter(logging.Formatter):
    """Formats a record as `{"ts", "level", "logger", "msg", …fields}`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.scrub = Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return self.scrub(orjson.dumps(out, default=str).decode())


class RateLimit(logging.Filter):
    """Lets at most `burst` warnings or errors with the same message through per `period` seconds;
    the first one let through after some were dropped carries `"suppressed": N`."""

    MAX_KEYS = 1024

    def __init__(self, burst: int = 10, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self.clock = clock
        self._windows: dict[tuple[str, int, str], list[float]] = {}  # key -> [start, count, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg).partition("\n")[0])
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.period:
                if len(self._windows) >= self.MAX_KEYS:
                    self._windows.clear()
                dropped = int(window[2]) if window is not None else 0
                self._windows[key] = [now, 1, 0]
                if dropped:
                    record.fields = {**(getattr(record, "fields", None) or {}), "suppressed": dropped}
                return True
            if window[1] < self.burst:
                window[1] += 1
                return True
            window[2] += 1
            return False


def configure(level: str = "info", *, secrets: Iterable[str] = (), stream: IO[str] | None = None) -> None:
    """Send every log record (ours and uvicorn's) as JSON lines to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = True
    # httpx logs every request at info: one line per Amplitude batch is noise, and URLs are ours
    logging.getLogger("httpx").setLevel(logging.WARNING)


def log(logger: logging.Logger, level: str, message: str, **fields: Any) -> None:
    """Log `message` with structured fields."""
    number = _LEVELS[level]
    if logger.isEnabledFor(number):
        logger.log(number, message, extra={"fields": fields})
