"""Hand-written Customer.io reporting webhook -> Amplitude event transform.

This module is a plain-Python implementation of the Amplitude (Message Metrics)
mapping rules M1-M13, written independently of the declarative engine and of
``mappings/amplitude.yaml``. It serves two purposes:

* the baseline the generic engine is benchmarked against (so it is written to be
  straightforward and fast: selection patterns are compiled once, ``data`` is
  copied in a single pass, nothing else is copied);
* an oracle for tests: ``mappings/amplitude.cases/*.yaml`` agree with it.

``transform`` takes one decoded webhook body and returns the Amplitude event
(a ``dict``), or the id of the skip rule (``"not_selected"`` / ``"no_identity"``)
when the event is not sent. Payload errors raise :class:`PayloadError`, a
``ValueError`` carrying the engine's rule id and JSON path. Any JSON value is
accepted: members of the wrong type are treated as absent, except for the three
documented payload errors.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Final

__all__ = [
    "CONTENT_LIMIT",
    "NOT_SELECTED",
    "NO_IDENTITY",
    "PayloadError",
    "transform",
]

NOT_SELECTED: Final = "not_selected"
NO_IDENTITY: Final = "no_identity"
CONTENT_LIMIT: Final = 1024

_PLATFORMS: Final[dict[str, str]] = {"ios": "iOS", "android": "Android", "web": "Web"}
_WORDS: Final = re.compile(r"[_ ]+")

_Matcher = Callable[[str], object]


class PayloadError(ValueError):
    """A payload the mapping cannot turn into an event (not a skip)."""

    def __init__(self, rule: str, path: str, message: str) -> None:
        super().__init__(f"{rule} at {path}: {message}")
        self.rule = rule
        self.path = path


def _never(_key: str) -> None:
    return None


@lru_cache(maxsize=256)
def _selector(patterns: tuple[str, ...]) -> _Matcher:
    """M1: one compiled regex for all glob patterns (``*`` also matches ``/``)."""
    if not patterns:
        return _never
    if "*" in patterns:
        return bool
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


@lru_cache(maxsize=1024)
def _event_type(object_type: str, metric: str) -> str:
    """M7: ``in_app`` + ``clicked`` -> ``In App Clicked``."""
    words = _WORDS.split(f"{object_type}_{metric}")
    return " ".join(w.capitalize() for w in words if w)


def _id_text(value: object) -> str | None:
    """Return a usable identifier: non-blank string, or a number as decimal text."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _platform(value: object) -> str | None:
    """M6: ``ios``/``android``/``web`` aliases, else first character upper-cased."""
    if not isinstance(value, str) or not value.strip():
        return None
    alias = _PLATFORMS.get(value.lower())
    return alias if alias is not None else value[0].upper() + value[1:]


def _copy(value: Any) -> Any:
    """Deep copy of a JSON value (dicts and lists only; scalars are immutable)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _person_id(data: dict[str, Any]) -> str | None:
    """M2: ``identifiers.id`` (or legacy ``customer_id``), with the "0" rule."""
    identifiers: object = None
    if "identifiers" in data:
        identifiers = data["identifiers"]
        raw = identifiers.get("id") if isinstance(identifiers, dict) else None
        if isinstance(raw, (dict, list, bool)):
            raise PayloadError(
                "let.given_id.filters[0]",
                "$.data.identifiers.id",
                f"identifier must be a string or a number, not {type(raw).__name__}",
            )
    else:
        raw = data.get("customer_id")
    person = _id_text(raw)
    if person == "0":
        email = identifiers.get("email") if isinstance(identifiers, dict) else None
        person = _id_text(email) or _id_text(data.get("email_address"))
    return person


def _device(data: dict[str, Any]) -> tuple[str, str | None] | None:
    """M3: first recipient object with a usable ``device_id``, and its platform."""
    recipients = data.get("recipients")
    if not isinstance(recipients, list):
        return None
    for recipient in recipients:
        if not isinstance(recipient, dict):
            continue
        device_id = _id_text(recipient.get("device_id"))
        if device_id is None:
            continue
        platform = _platform(recipient.get("device_platform"))
        if platform is None:
            platform = _platform(recipient.get("platform"))
        return device_id, platform
    return None


def _event_properties(data: dict[str, Any], sent: bool, body_content: bool) -> dict[str, Any]:
    """M11/M12: ``data`` without ``identifiers.id``, with the Body Content rule."""
    props: dict[str, Any] = {}
    for key, value in data.items():
        if key == "identifiers" and isinstance(value, dict) and "id" in value:
            if len(value) > 1:
                props[key] = {k: _copy(v) for k, v in value.items() if k != "id"}
            continue
        if sent and key in ("content", "headers"):
            if not body_content:
                continue
            if key == "content" and value is not None:
                if not isinstance(value, str):
                    raise PayloadError(
                        "fields.event_properties.fields.content.filters[0]",
                        "$.data.content",
                        f"content must be a string, not {type(value).__name__}",
                    )
                props[key] = value[:CONTENT_LIMIT]
                continue
        props[key] = _copy(value)
    return props


def transform(
    payload: object,
    *,
    events: Sequence[str] = ("*",),
    body_content: bool = False,
    account_id: str | None = None,
    workspace_id: str | None = None,
) -> dict[str, Any] | str:
    """Map one reporting-webhook event to an Amplitude event.

    Returns the event dict, or ``"not_selected"`` / ``"no_identity"`` when the
    event is skipped. Raises :class:`PayloadError` (a ``ValueError``) for a
    missing ``object_type``, ``metric`` or ``timestamp``, a non-numeric ``timestamp``, a
    non-scalar ``data.identifiers.id``, or (sent
    events with ``body_content``) a non-string ``data.content``.
    """
    body: dict[str, Any] = payload if isinstance(payload, dict) else {}
    object_type = body.get("object_type")
    if object_type is None and body.get("metric") == "cio_subscription_preferences_changed":
        object_type = body.get("object_type_type")  # Customer.io's OpenAPI spelling there
    if object_type is None:
        raise PayloadError("let.object_type", "$.object_type", "$.object_type is missing")
    if not isinstance(object_type, str):
        object_type = ""
    metric = body.get("metric")
    if metric is None:
        raise PayloadError("let.metric", "$.metric", "$.metric is missing")
    if not isinstance(metric, str):
        metric = ""

    # M1: selection.
    if not _selector(tuple(events))(f"{object_type}/{metric}"):
        return NOT_SELECTED

    # M2-M4: identity.
    raw_data = body.get("data")
    data: dict[str, Any] | None = raw_data if isinstance(raw_data, dict) else None
    person = device = None
    if data is not None:
        person = _person_id(data)
        device = _device(data)
    if person is None and device is None:
        return NO_IDENTITY

    event: dict[str, Any] = {}
    if person is not None:
        event["user_id"] = person
    if device is not None:
        event["device_id"] = device[0]
        if device[1] is not None:
            event["platform"] = device[1]

    event_type = _event_type(object_type, metric)
    if event_type:
        event["event_type"] = event_type

    # M8: event_id; without one, the hash of the body's canonical JSON.
    event_id = body.get("event_id")
    if isinstance(event_id, str) and event_id.strip():
        event["insert_id"] = event_id
    elif event_id is None or isinstance(event_id, str):
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        event["insert_id"] = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    else:
        insert_id = _id_text(event_id)
        if insert_id is not None:
            event["insert_id"] = insert_id

    # M9: seconds -> milliseconds.
    timestamp = body.get("timestamp")
    if timestamp is None:
        raise PayloadError("fields.time", "$.timestamp", "$.timestamp is missing")
    if timestamp is not None:
        if isinstance(timestamp, int) and not isinstance(timestamp, bool):
            event["time"] = timestamp * 1000
        elif isinstance(timestamp, float) and math.isfinite(timestamp):
            event["time"] = round(timestamp * 1000)
        else:
            raise PayloadError(
                "fields.time.filters[0]",
                "$.timestamp",
                f"timestamp must be a number, not {type(timestamp).__name__}",
            )

    # M10: groups.
    if account_id is not None or workspace_id is not None:
        groups: dict[str, list[str]] = {}
        if account_id is not None:
            groups["account_id"] = [account_id]
        if workspace_id is not None:
            groups["workspace"] = [workspace_id]
        event["groups"] = groups

    # M11-M12: event properties.
    if data is not None:
        event["event_properties"] = _event_properties(data, metric == "sent", body_content)
    return event
