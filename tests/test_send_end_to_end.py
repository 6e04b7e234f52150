"""The sender against a real fake Amplitude on 127.0.0.1 that injects faults at random."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformer.destinations import AmplitudeSender, Outgoing
from transformer.destinations.amplitude.fake import FakeAmplitude, Faults


def make_events(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        event: dict[str, Any] = {"event_type": "Push Opened", "user_id": f"person-{i % 37:04d}",
                                 "device_id": f"device-{i % 53:04d}", "insert_id": f"01J{i:023d}",
                                 "time": 1_700_000_000_000 + i, "event_properties": {"n": i}}
        if i % 250 == 7 and i > 1500:   # after the scripted faults of the first requests
            event["event_properties"]["poison"] = True     # the server lists these as invalid
        out.append(event)
    return out


def test_every_event_is_accepted_once_or_set_aside_under_random_faults(tmp_path: Path) -> None:
    faults = Faults(error=0.08, error_after_ingest=0.08, throttle=0.08, too_large=0.08, drop=0.08, seed=11,
                    script=("error", "drop", "throttle", "too_large", "error_after_ingest"))
    events = make_events(3000)
    dead = tmp_path / "dead.ndjson"
    with FakeAmplitude(api_key="e2e-key-0001", faults=faults) as server, \
            AmplitudeSender("e2e-key-0001", endpoint=server.url, dead_letters=dead, max_events=200,
                            concurrency=4, backoff_base=0.01, backoff_max=0.1, throttle_pause=0.05,
                            deadline=120) as sender:
        report = sender.send(Outgoing(e, f"cio-{e['insert_id']}") for e in events)
        stats = server.stats()
    poisoned = {e["insert_id"] for e in events if "poison" in e["event_properties"]}
    kept = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []
    set_aside = {k["event"]["insert_id"] for k in kept}
    ingested = set(server.ingested)
    everything = {e["insert_id"] for e in events}
    assert report.ok, report
    assert set_aside == poisoned                              # exactly the bad ones, with a reason
    assert all(k["dead_letter"]["kind"] == "set_aside" for k in kept)
    assert ingested == everything - poisoned                  # every other event reached Amplitude
    assert ingested.isdisjoint(poisoned)
    assert report.accepted == len(everything - poisoned)
    assert stats["statuses"].keys() >= {"200", "400", "413", "429", "502", "503"}   # faults happened
    assert stats["duplicates"] > 0                            # 502-after-ingest resends, deduped
    assert report.retries > 0
