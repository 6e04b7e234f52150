"""The forwarder on the lease/ack queue: claim → send → ack / set aside / release, with no store
lock held while a request is in flight, and nothing kept leased once it stops."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from transformer.destinations.amplitude.fake import FakeAmplitude, Faults
from transformer.server import SqliteQueue, create_app
from transformer.server.queue.base import Intake, Outcome

from .test_server_harness import (
    KEY,
    encode,
    fast_options,
    mapping,
    metric,
    payload,
    receiver,
    running,
    signed,
)
from .test_server_harness import wait_for as wait

HOOK = "/webhooks/customerio"


def post(url: str, n: int) -> str:
    body = encode(payload(n))
    answer = httpx.post(url + HOOK, content=body, headers=signed(body), timeout=10)
    return str(answer.json()["status"])


def metrics(url: str) -> str:
    return httpx.get(url + "/metrics", timeout=10).text


def ids(*numbers: int) -> set[str]:
    return {payload(n)["event_id"] for n in numbers}


@pytest.mark.slow
def test_events_not_accepted_within_the_retry_window_go_back_to_the_queue_and_are_claimed_again(
        tmp_path: Path) -> None:
    faults = Faults(down=True)
    with FakeAmplitude(api_key=KEY, faults=faults) as amplitude, \
            receiver(tmp_path / "var", amplitude.url, fast_options(retry_window=0.3)) as (url, store):
        assert [post(url, n) for n in (1, 2, 3)] == ["stored"] * 3

        def released_twice() -> str:
            text = metrics(url)
            return text if metric(text, "transformer_events_released_total") >= 6 else ""

        text = wait(released_twice, what="each event released and claimed again")
        assert metric(text, "transformer_queue_depth") == 3
        assert metric(text, "transformer_events_delivered_total") == 0
        claims = store._conn().execute("SELECT min(claims) FROM pending").fetchone()[0]
        assert claims >= 2
        faults.down = False
        wait(lambda: set(amplitude.ingested) == ids(1, 2, 3), what="delivery once Amplitude is back")
        wait(lambda: store.stats().depth == 0, what="the acks")
        assert store.stats().letters == 0
        assert all(count == 1 for count in amplitude.received.values())


@pytest.mark.slow
def test_no_store_lock_is_held_while_a_request_is_in_flight(tmp_path: Path) -> None:
    entered, release = threading.Event(), threading.Event()

    def hanging(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(30)
        return httpx.Response(200, json={"code": 200})

    store = SqliteQueue(tmp_path / "var")
    other = SqliteQueue(tmp_path / "var", busy_timeout=2.0)   # another process's connection, say
    try:
        app = create_app(mapping("http://127.0.0.1:9"), store, fast_options(),
                         transport=httpx.MockTransport(hanging))
        with running(app) as url:
            assert post(url, 1) == "stored"
            assert entered.wait(30), "the request to Amplitude never started"
            assert post(url, 2) == "stored"                    # intake commits meanwhile
            assert other.intake([Intake("elsewhere", [b"{}"])]) == [Outcome.STORED]
            assert other.stats().leased >= 1                   # the first event is leased, not locked
            release.set()
            wait(lambda: store.stats().depth == 0, what="every event acked")
    finally:
        release.set()
        other.close()
        store.close()


@pytest.mark.slow
def test_a_stopped_forwarder_gives_back_what_it_holds(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY, faults=Faults(down=True)) as amplitude:
        with receiver(tmp_path / "var", amplitude.url) as (url, _):
            assert [post(url, n) for n in (1, 2)] == ["stored"] * 2
            wait(lambda: metric(metrics(url), "transformer_queue_leased") >= 1, what="the events to be claimed")
        after = SqliteQueue(tmp_path / "var")
        stats = after.stats()
        assert (stats.depth, stats.leased) == (2, 0)            # claimable now, not after the lease
        assert [orjson.loads(row.event)["insert_id"] for row in after.pending()] == sorted(ids(1, 2))
        after.close()


@pytest.mark.slow
def test_a_refused_key_gives_the_events_back_while_blocked(tmp_path: Path) -> None:
    with FakeAmplitude(api_key=KEY) as amplitude, \
            receiver(tmp_path / "var", amplitude.url, api_key="revoked-key-0000") as (url, store):
        assert post(url, 1) == "stored"
        wait(lambda: httpx.get(url + "/healthz").json()["forwarding"] == "blocked", what="blocked")
        wait(lambda: store.stats().leased == 0, what="the events given back")
        assert store.stats().depth == 1 and store.stats().letters == 0


def test_the_retry_window_must_be_positive(tmp_path: Path) -> None:
    store = SqliteQueue(tmp_path)
    try:
        with pytest.raises(ValueError, match="retry_window must be more than 0 seconds, got 0"):
            create_app(mapping("http://127.0.0.1:9"), store, fast_options(retry_window=0))
    finally:
        store.close()


def test_429_pauses_are_shared_with_the_other_receivers_on_the_queue(tmp_path: Path) -> None:
    """A pause the sender sets is recorded in the queue; one another receiver recorded there is
    taken up by this receiver's sender (keys are the sender's ordering keys, NAME:VALUE)."""
    store = SqliteQueue(tmp_path / "var")
    app = create_app(mapping("http://127.0.0.1:9"), store, fast_options())
    receiver_ = app.state.receiver
    forwarder = receiver_.forwarder
    receiver_.start()
    try:
        forwarder.sender._paused[("user_id", "ann")] = time.monotonic() + 60   # as a 429 naming ann does
        wait(lambda: "user_id:ann" in store.pauses(), what="ann's pause in the queue")
        assert 50 < store.pauses()["user_id:ann"] <= 60
        store.pause({"device_id:dev-9": 45.0})                                  # another receiver's 429
        wait(lambda: ("device_id", "dev-9") in forwarder.sender._paused, what="the other pause taken up")
        assert 35 < forwarder.sender._paused[("device_id", "dev-9")] - time.monotonic() <= 45
        forwarder.sender._paused.learn(("user_id", "gone"), time.monotonic() - 1)   # a pause that ended
        wait(lambda: ("user_id", "gone") not in forwarder.sender._paused, what="the ended pause dropped")
        assert ("device_id", "dev-9") in forwarder.sender._paused                  # the others stay
    finally:
        receiver_.close()
        store.close()


def test_pauses_that_have_ended_are_forgotten_and_those_learnt_are_not_shared_again() -> None:
    from transformer.server.forwarder import _Pauses

    pauses = _Pauses()
    pauses[("user_id", "a")] = 5.0             # set by this receiver's sender: to share
    pauses.learn(("user_id", "b"), 50.0)       # from another receiver: kept, not shared again
    pauses.learn(("user_id", "a"), 1.0)        # ends sooner than the one held: ignored
    assert pauses.new == {("user_id", "a"): 5.0} and pauses[("user_id", "a")] == 5.0
    pauses.forget_ended(10.0)
    assert dict(pauses) == {("user_id", "b"): 50.0}
