"""What an Amplitude response means for the batch that drew it.

Classified by HTTP status, as the reference describes Amplitude's answers:
- 2xx: accepted (whatever the body; a body that is not JSON is no reason to resend).
- 400 `Invalid API key…`: fatal, stop. 400 listing event indexes: set those aside, resend the
  rest. Any other 400: split the batch to find the bad events.
- 413: split. 429: pause the throttled users and devices, resend. 408, 5xx: retry with
  backoff, honouring Retry-After. Other 4xx (401, 403, 404, …): fatal, stop.
"""

from __future__ import annotations

import json
from typing import Any

from ..base import Key, Response, Verdict, VerdictKind, retry_after, snippet

__all__ = ["classify"]

_LISTS = {
    "events_with_invalid_fields": "invalid field",
    "events_with_missing_fields": "missing field",
    "events_with_invalid_id_lengths": "invalid id length",
}
_EU_HINT = (" (an EU project's key is invalid on the US host: set eu_residency=true if the project "
            "is in Amplitude's EU data centre)")
_QUOTA = "429: over Amplitude's daily quota for this user or device"


def classify(response: Response, count: int, *, eu: bool) -> Verdict:
    """Read one HTTP response to a batch of `count` events sent to the US (or `eu`) host."""
    status, body = response.status, response.body
    data = _json(body)
    error = str(data.get("error", "")) if data else ""
    after = retry_after(response.headers)
    if 200 <= status < 300:
        return Verdict(VerdictKind.ACCEPTED, status)
    if status == 400:
        if error.startswith("Invalid API key"):
            return Verdict(VerdictKind.FATAL, status, "Amplitude answered 400 Invalid API key",
                           hint="" if eu else _EU_HINT)
        rejected = _rejected(data, count)
        if rejected:
            return Verdict(VerdictKind.SET_ASIDE, status, error, rejected=rejected)
        return Verdict(VerdictKind.SPLIT, status, f"400 {error or snippet(body)}")
    if status == 413:
        return Verdict(VerdictKind.SPLIT, status, "413 Payload too large")
    if status == 429:
        return Verdict(VerdictKind.THROTTLED, status, f"429 {error or 'Too many requests'}",
                       retry_after=after,
                       throttled=_keys("user_id", data.get("throttled_users"))
                       | _keys("device_id", data.get("throttled_devices")),
                       over_quota=_keys("user_id", data.get("exceeded_daily_quota_users"))
                       | _keys("device_id", data.get("exceeded_daily_quota_devices")),
                       quota_message=_QUOTA)
    if status == 408 or status >= 500:
        return Verdict(VerdictKind.RETRY, status, f"{status} {error or snippet(body)}".strip(),
                       retry_after=after)
    return Verdict(VerdictKind.FATAL, status,
                   f"Amplitude answered {status} {error or snippet(body)}".strip())


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _keys(field: str, value: Any) -> set[Key]:
    if isinstance(value, (dict, list)):
        return {(field, str(k)) for k in value}
    return set()


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
