"""The fake Amplitude answers as Amplitude does: dedupe per device or user, id lengths."""

from __future__ import annotations

from typing import Any

import httpx

from transformer.destinations.amplitude.fake import FakeAmplitude


def post(fake: FakeAmplitude, events: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return httpx.post(f"{fake.url}/batch", json={"api_key": "k", "events": events, **extra}, timeout=10)


def test_dedupe_is_on_insert_id_per_device_then_per_user() -> None:
    with FakeAmplitude() as fake:
        post(fake, [{"event_type": "e", "insert_id": "same", "device_id": "device-1"},
                    {"event_type": "e", "insert_id": "same", "device_id": "device-2"},
                    {"event_type": "e", "insert_id": "same", "device_id": "device-1", "user_id": "other"},
                    {"event_type": "e", "insert_id": "same", "user_id": "user-1"},
                    {"event_type": "e", "insert_id": "same", "user_id": "user-2"},
                    {"event_type": "e", "insert_id": "same", "user_id": "user-1"}])
        assert sorted(fake.kept) == [("same", "device_id:device-1"), ("same", "device_id:device-2"),
                                         ("same", "user_id:user-1"), ("same", "user_id:user-2")]
        assert fake.stats()["ingested"] == 4 and fake.stats()["duplicates"] == 2


def test_ids_shorter_than_min_id_length_are_refused_like_amplitude() -> None:
    with FakeAmplitude() as fake:
        refused = post(fake, [{"event_type": "e", "insert_id": "a", "user_id": "user-1"},
                              {"event_type": "e", "insert_id": "b", "user_id": "42"}])
        assert refused.status_code == 400
        assert refused.json()["events_with_invalid_id_lengths"] == {"user_id": [1]}
        accepted = post(fake, [{"event_type": "e", "insert_id": "b", "user_id": "42"}],
                        options={"min_id_length": 1})
        assert accepted.status_code == 200
        assert fake.ingested["b"]["user_id"] == "42"
