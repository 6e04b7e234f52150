"""Structured logs: one JSON object per line on stderr, without secrets or message bodies.

Callers pass fields (`log(logger, "info", "webhook_stored", event_id=…)`), never payloads. As a
second line of defence the formatter replaces any registered secret value that would still
reach a line (an exception text that quotes a key, say) with `***`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import orjson

__all__ = ["JsonFormatter", "configure", "log"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


class JsonFormatter(logging.Formatter):
    """Formats a record as `{"ts", "level", "logger", "msg", …fields}`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

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
        line = orjson.dumps(out, default=str).decode()
        for secret in self.secrets:
            if secret in line:
                line = line.replace(secret, "***")
        return line


def configure(level: str = "info", *, secrets: Iterable[str] = (), stream: IO[str] | None = None) -> None:
    """Send every log record (ours and uvicorn's) as JSON lines to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
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
