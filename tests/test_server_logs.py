"""Structured log lines: secrets scrubbed in every form, repeated warnings rate-limited."""

from __future__ import annotations

import io
import json
import logging

from transformer.server.logs import JsonFormatter, RateLimit, log

SECRET = "9c41f0d2b7e85a63"


def record(message: str, level: int = logging.WARNING, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("transformer.test", level, __file__, 1, message, None, None)
    made.fields = fields
    return made


def test_a_line_never_carries_a_piece_of_a_secret() -> None:
    formatter = JsonFormatter([SECRET, "short"])
    line = formatter.format(record("upstream_error", detail=f"got {SECRET[:9].upper()} and short text"))
    assert json.loads(line)["detail"] == "got *** and short text"


def test_repeated_warnings_are_let_through_ten_a_minute_then_counted() -> None:
    now = [1000.0]
    limit = RateLimit(burst=10, period=60.0, clock=lambda: now[0])
    passed = [limit.filter(record("signature_rejected", client=f"10.0.0.{i}")) for i in range(25)]
    assert passed == [True] * 10 + [False] * 15
    assert limit.filter(record("other_warning"))                  # another message has its own budget
    assert all(limit.filter(record("webhook", logging.INFO)) for _ in range(50))   # info is never limited
    now[0] += 60
    later = record("signature_rejected")
    assert limit.filter(later) and later.fields == {"suppressed": 15}   # type: ignore[attr-defined]


def test_log_writes_fields_as_one_json_object_per_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter([SECRET]))
    logger = logging.getLogger("transformer.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log(logger, "info", "stored", event_id="e-1", key=SECRET)
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert (line["level"], line["msg"], line["event_id"], line["key"]) == ("info", "stored", "e-1", "***")
