"""What an Amplitude response means for the batch that drew it.

Classified by HTTP status, as the reference describes Amplitude's answers:
- 2xx: accepted (whatever the body; a body that is not JSON is no reason to resend).
- 400 `Invalid API key…`: fatal, stop. 400 listing event indexes: set those aside, resend the
  rest. Any other 400: split the batch to find the bad events.
- 413: split. 429: pause the throttled users and devices, resend. 408, 5xx, network failures:
  retry with backoff, honouring Retry-After. Other 4xx (401, 403, 404, …): fatal, stop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["Verdict", "classify", "classify_failure"]

_LISTS = {
    "events_with_invalid_fields": "invalid field",
    "events_with_missing_fields": "missing field",
    "events_with_invalid_id_lengths": "invalid id length",
}


@dataclass(slots=True)
class Verdict:
    """One response, read. `kind` is accepted, reject_some, split, throttled, retry or fatal."""

    kind: str
    status: int | None
    message: str = ""
    rejected: dict[int, str] = field(default_factory=dict)
    throttled_users: set[str] = field(default_factory=set)
    throttled_devices: set[str] = field(default_factory=set)
    quota_users: set[str] = field(default_factory=set)
    quota_devices: set[str] = field(default_factory=set)
    retry_after: float | None = None


def classify(status: int, body: bytes, headers: Any, count: int) -> Verdict:
    """Read one HTTP response to a batch of `count` events."""
    data = _json(body)
    error = str(data.get("error", "")) if data else ""
    retry_after = _retry_after(headers.get("retry-after"))
    if 200 <= status < 300:
        return Verdict("accepted", status)
    if status == 400:
        if error.startswith("Invalid API key"):
            return Verdict("fatal", status, "Amplitude answered 400 Invalid API key")
        rejected = _rejected(data, count)
        if rejected:
            return Verdict("reject_some", status, error, rejected)
        return Verdict("split", status, f"400 {error or _snippet(body)}")
    if status == 413:
        return Verdict("split", status, "413 Payload too large")
    if status == 429:
        verdict = Verdict("throttled", status, f"429 {error or 'Too many requests'}",
                          retry_after=retry_after)
        verdict.throttled_users = set(_keys(data.get("throttled_users")))
        verdict.throttled_devices = set(_keys(data.get("throttled_devices")))
        verdict.quota_users = set(_keys(data.get("exceeded_daily_quota_users")))
        verdict.quota_devices = set(_keys(data.get("exceeded_daily_quota_devices")))
        return verdict
    if status == 408 or status >= 500:
        return Verdict("retry", status, f"{status} {error or _snippet(body)}".strip(),
                       retry_after=retry_after)
    return Verdict("fatal", status, f"Amplitude answered {status} {error or _snippet(body)}".strip())


def classify_failure(exc: BaseException) -> Verdict:
    """A request that got no response: timeout, refused or dropped connection."""
    name = type(exc).__name__
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return Verdict("retry", None, f"{name}: {detail}" if detail else name)


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _snippet(body: bytes) -> str:
    text = body[:120].decode("utf-8", "replace").strip()
    return " ".join(text.split())


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        return [str(k) for k in value]
    return []


def _rejected(data: dict[str, Any], count: int) -> dict[int, str]:
    """Index → reason for every event a 400 lists."""
    out: dict[int, str] = {}
    for key, what in _LISTS.items():
        listed = data.get(key)
        if isinstance(listed, dict):
            for name, indexes in listed.items():
                for i in indexes if isinstance(indexes, list) else []:
                    if isinstance(i, int) and 0 <= i < count:
                        out.setdefault(i, f"rejected by Amplitude ({what} {name})")
    silenced = data.get("silenced_events")
    for i in silenced if isinstance(silenced, list) else []:
        if isinstance(i, int) and 0 <= i < count:
            out.setdefault(i, "rejected by Amplitude (events silenced for this device)")
    return out


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())
