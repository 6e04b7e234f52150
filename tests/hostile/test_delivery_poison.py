"""Item 1, the sender's side: an event that cannot be checked or encoded is set aside alone, with
the reason; every other event is delivered. Before: `orjson.dumps` raised out of `send()` with
nothing sent and no dead letters (and serve's forwarder failed on it every round)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from transformer.destinations import AmplitudeSender

from .harness import nested


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {"event_type": "Email Sent", "user_id": f"user-{n:05d}", "insert_id": f"ins-{n}",
            "time": 1_700_000_000_000 + n, **extra}


def test_events_that_cannot_be_encoded_or_checked_are_set_aside_and_the_rest_delivered(tmp_path: Path) -> None:
    delivered: list[str] = []

    def amplitude(request: httpx.Request) -> httpx.Response:
        delivered.extend(e["insert_id"] for e in json.loads(request.content)["events"])
        return httpx.Response(200, json={"code": 200})

    dead = tmp_path / "dead.ndjson"
    poisons = [
        event(2, event_properties={"nest": nested(300)}),     # orjson stops at 255 levels
        event(3, event_properties={"big": 2**70}),            # orjson refuses integers beyond 64 bits
        "not an event",                                       # the preflight expects an object
    ]
    given: list[Any] = [event(1), *poisons, event(4)]
    with AmplitudeSender("5d0c8e2a9f1b47c3a6e0d9b8c7f2a1e4", transport=httpx.MockTransport(amplitude),
                         dead_letters=dead) as sender:
        report = sender.send(given)
    assert delivered == ["ins-1", "ins-4"]
    assert (report.events, report.accepted, report.ok) == (5, 2, True)
    assert dict(report.set_aside) == {"cannot be encoded as JSON": 2,
                                      "does not match the Amplitude event schema": 1}
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(letter["dead_letter"]["kind"], letter["dead_letter"]["reason"]) for letter in letters] == [
        ("set_aside", "cannot be encoded as JSON: Recursion limit reached"),
        ("set_aside", "cannot be encoded as JSON: Integer exceeds 64-bit range"),
        ("set_aside", "does not match the Amplitude event schema: $ must be object"),
    ]
    assert letters[0]["event"]["insert_id"] == "ins-2" and letters[2]["event"] == "not an event"


def test_an_event_the_preflight_itself_fails_on_is_set_aside_with_the_exception(tmp_path: Path) -> None:
    def amplitude(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200})

    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise KeyError(key)

    with AmplitudeSender("5d0c8e2a9f1b47c3a6e0d9b8c7f2a1e4", transport=httpx.MockTransport(amplitude)) as sender:
        report = sender.send([Exploding(event(1)), event(2)])
    assert (report.accepted, dict(report.set_aside)) == (1, {"cannot be checked": 1})
    assert report.dead_letters[0]["dead_letter"]["reason"] == "cannot be checked: KeyError: 'user_id'"
