"""Every destination in the registry, through the same scripted fault matrix against its own fake
on 127.0.0.1: 5xx before and after ingesting, 429 with Retry-After, 413, an event too large for
any request, events the destination refuses one by one, dropped connections. Every event must
end accepted exactly once (after the fake's dedupe) or set aside with a reason, and the events
of one user must reach the fake in their input order."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from transformer.destinations import DESTINATIONS, Outgoing, Sender
from transformer.destinations.base import Destination, DestinationKind, RetryPolicy
from transformer.destinations.fake import FakeServer, Faults
from transformer.spec.settings import resolve_settings

NAMES = sorted(DESTINATIONS)
KEY = "conformance-key-0001"
FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.1, "throttle_pause": 0.05}
MAX_BYTES = 60_000


def make_events(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        event: dict[str, Any] = {"event_type": "Push Opened", "user_id": f"person-{i % 37:04d}",
                                 "device_id": f"device-{i % 53:04d}", "insert_id": f"01J{i:023d}",
                                 "time": 1_700_000_000_000 + i, "event_properties": {"n": i}}
        if i % 150 == 7 and i > 300:   # after the scripted faults of the first requests
            event["event_properties"]["poison"] = True      # each fake refuses these
        if i == 555:
            event["event_properties"]["blob"] = "x" * MAX_BYTES   # larger than any request may be
        out.append(event)
    return out


def destination_for(kind: DestinationKind, fake: FakeServer) -> Destination:
    """The destination, configured by its own settings declaration to send to the fake."""
    decls = {decl.name: decl for decl in kind.settings}
    return kind.create(resolve_settings(decls, fake.settings()))


def order_of_first_arrival(fake: FakeServer) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    for event in fake.kept.values():
        seen[event["user_id"]].append(event["event_properties"]["n"])
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_every_event_is_accepted_once_or_set_aside_under_the_fault_matrix(name: str, tmp_path: Path) -> None:
    kind = DESTINATIONS[name]
    faults = Faults(error=0.06, error_after_ingest=0.06, throttle=0.06, too_large=0.06, drop=0.06, seed=11,
                    retry_after=0.05, script=("error", "drop", "throttle", "too_large", "error_after_ingest"))
    events = make_events(1500)
    dead = tmp_path / "dead.ndjson"
    with kind.fake("127.0.0.1", 0, key=KEY, faults=faults) as fake, \
            Sender(destination_for(kind, fake), dead_letters=dead, max_events=100, max_bytes=MAX_BYTES,
                   concurrency=4, deadline=120, **FAST) as sender:
        report = sender.send(Outgoing(e, f"cio-{e['insert_id']}") for e in events)
        stats = fake.stats()
    poisoned = {e["insert_id"] for e in events if "poison" in e["event_properties"]}
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    reasons = {letter["event"]["insert_id"]: letter["dead_letter"]["reason"] for letter in letters}
    kept_ids = [event["insert_id"] for event in fake.kept.values()]
    everything = {e["insert_id"] for e in events}
    assert report.ok, report
    assert set(reasons) == poisoned | {events[555]["insert_id"]}      # exactly those, each with why
    assert all(letter["dead_letter"]["kind"] == "set_aside" for letter in letters)
    assert reasons[events[555]["insert_id"]].startswith("event too large: ")
    assert all(reasons[i] for i in poisoned)
    originals = {e["insert_id"]: e for e in events}   # kept as bytes while waiting, decoded whole
    assert all(letter["event"] == originals[letter["event"]["insert_id"]] for letter in letters)
    assert len(kept_ids) == len(set(kept_ids))                         # once each, after dedupe
    assert set(kept_ids) == everything - set(reasons)                  # every other event arrived
    assert report.accepted == len(everything) - len(reasons)
    for user, order in order_of_first_arrival(fake).items():
        assert order == sorted(order), user
    assert stats["statuses"].keys() >= {"200", "400", "413", "429", "502", "503"}   # the faults struck
    assert stats["duplicates"] > 0                                     # 502 after ingesting: resent
    assert report.retries > 0 and report.errors["network"] > 0         # dropped connections retried


@pytest.mark.parametrize("fault", ["error", "throttle"])
@pytest.mark.parametrize("name", NAMES)
def test_retry_after_is_honoured(name: str, fault: str) -> None:
    kind = DESTINATIONS[name]
    with kind.fake("127.0.0.1", 0, key=KEY, faults=Faults(script=(fault,), retry_after=0.6)) as fake, \
            Sender(destination_for(kind, fake), **FAST) as sender:
        one_user = [event | {"user_id": "person-0000", "device_id": "device-0000"} for event in make_events(3)]
        report = sender.send(one_user)
        arrivals = list(fake.state.arrivals)
    assert report.accepted == 3 and report.ok
    assert fake.stats()["statuses"] == {"200": 1, "503" if fault == "error" else "429": 1}
    assert arrivals[1] - arrivals[0] >= 0.6


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_credential_stops_the_run_and_keeps_every_event(name: str) -> None:
    kind = DESTINATIONS[name]
    with kind.fake("127.0.0.1", 0, key=KEY) as fake:
        settings = fake.settings()
        wrong = {key: ("a-wrong-credential-77" if value == KEY else value) for key, value in settings.items()}
        destination = kind.create(resolve_settings({d.name: d for d in kind.settings}, wrong))
        with Sender(destination, concurrency=1, max_events=10, **FAST) as sender:
            report = sender.send(make_events(30))
    assert report.fatal is not None and not report.ok
    assert report.undelivered == {"not sent": 30} and fake.kept == {}
    text = report.fatal + "".join(d["dead_letter"]["reason"] for d in report.dead_letters)
    assert "a-wrong-credential-77" not in text


@pytest.mark.parametrize("name", NAMES)
def test_each_destination_declares_its_settings_and_its_fake_settings_fit_them(name: str) -> None:
    kind = DESTINATIONS[name]
    decls = {decl.name: decl for decl in kind.settings}
    assert kind.name == name and all(d.owner == f"destination {name}" for d in decls.values())
    with kind.fake("127.0.0.1", 0, key=KEY) as fake:
        resolved = resolve_settings(decls, fake.settings())
        assert [n for n, d in decls.items() if d.secret and resolved[n] == KEY]   # the key is a secret
        destination = kind.create(resolved)
    assert destination.name == name and KEY in destination.secrets
    assert KEY not in repr(destination) and KEY not in destination.url


def test_the_retry_policy_doubles_with_jitter_caps_and_honours_retry_after() -> None:
    exact = RetryPolicy(backoff_base=0.5, backoff_max=3.0, jitter=False)
    assert [exact.backoff(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert exact.backoff(1, retry_after=7.5) == 7.5 and exact.pause(None) == 30.0
    rng = random.Random(5)
    jittered = [RetryPolicy(backoff_base=1.0).backoff(3, rng=rng) for _ in range(200)]
    assert min(jittered) >= 2.0 and max(jittered) <= 4.0 and len(set(jittered)) > 100
