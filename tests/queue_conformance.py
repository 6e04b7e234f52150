"""The `Queue` conformance suite: what every queue implementation must do (transformer.server.queue.base).

Each test takes a `backend`: a fresh, empty queue store of one implementation, on which
`backend.open()` opens another queue object (its own owner and connections), as another
receiver would. `tests/test_queue_conformance.py` runs the suite once per implementation; a new
implementation adds its backend there. Times are real and short: tests poll for what must
happen eventually (a lease expiring) and never assert on speed.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import orjson
import pytest

from transformer.destinations.dead_letters import DeadLetterKind
from transformer.server.queue.base import Claim, Handle, Intake, Outcome, Queue, QueueError, Reason, Stats

from .test_server_harness import wait_for

LONG = 3600.0   # a lease or delay that does not end during a test
SHORT = 0.3     # one that does, soon


class Backend(Protocol):
    def open(self) -> Queue:
        """Another queue object on this backend's store (closed by the backend at the end)."""


def event(n: int) -> bytes:
    return orjson.dumps({"event_type": "Email Sent", "user_id": f"user-{n:05d}", "insert_id": f"id-{n}"})


def numbers(claim: Claim) -> list[int]:
    return [int(orjson.loads(item.event)["insert_id"][3:]) for item in claim.events]


def handles(claim: Claim) -> list[Handle]:
    return [item.handle for item in claim.events]


def claimed(queue: Queue) -> Claim | None:
    """What one claim leases, or None when it leases nothing (for polling)."""
    claim = queue.claim(10, LONG)
    return claim if claim.events else None


def filled(backend: Backend, count: int) -> Queue:
    """A queue holding events 1..count, one webhook each (ids w1, w2, …)."""
    queue = backend.open()
    assert queue.intake([Intake(f"w{n}", [event(n)]) for n in range(1, count + 1)]) == \
        [Outcome.STORED] * count
    return queue


# intake and dedupe ---------------------------------------------------------------------------

def test_intake_stores_events_in_order_and_claim_returns_them_oldest_first(backend: Backend) -> None:
    queue = backend.open()
    before = time.time()
    assert queue.intake([Intake("a", [event(1), event(2)]), Intake("b", [event(3)])]) == \
        [Outcome.STORED, Outcome.STORED]
    claim = queue.claim(10, LONG)
    assert numbers(claim) == [1, 2, 3]
    assert [item.event_id for item in claim.events] == ["a", "a", "b"]
    assert [item.claims for item in claim.events] == [0, 0, 0]
    assert all(before - 1 <= item.received_at <= time.time() + 1 for item in claim.events)
    assert claim.owner == queue.owner and claim.expires_at >= before + LONG - 1


def test_a_repeated_payload_id_is_a_duplicate_in_one_group_across_groups_and_across_queue_objects(
        backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    assert first.intake([Intake("a", [event(1)]), Intake("a", [event(2)])]) == \
        [Outcome.STORED, Outcome.DUPLICATE]
    assert first.intake([Intake("a", [event(3)])]) == [Outcome.DUPLICATE]
    assert second.intake([Intake("a", [event(4)]), Intake("b", [event(5)])]) == \
        [Outcome.DUPLICATE, Outcome.STORED]
    assert numbers(second.claim(10, LONG)) == [1, 5]


def test_a_payload_id_is_remembered_after_its_events_were_delivered(backend: Backend) -> None:
    queue = filled(backend, 1)
    assert queue.ack(handles(queue.claim(10, LONG))) == 1
    assert queue.intake([Intake("w1", [event(1)])]) == [Outcome.DUPLICATE]
    assert queue.stats().depth == 0


def test_payloads_without_an_id_are_never_duplicates(backend: Backend) -> None:
    queue = backend.open()
    assert queue.intake([Intake(None, [event(1)]), Intake(None, [event(1)])]) == \
        [Outcome.STORED, Outcome.STORED]
    assert queue.stats().depth == 2


def test_a_payload_error_becomes_a_dead_letter_and_its_id_counts_as_seen(backend: Backend) -> None:
    queue = backend.open()
    before = time.time()
    assert queue.intake([Intake("p", error="payload error: bad time", payload=b'{"x":1}')]) == \
        [Outcome.DEAD_LETTER]
    (letter,) = queue.letters()
    assert (letter.kind, letter.reason, letter.event_id, letter.payload, letter.event, letter.attempts,
            letter.status) == (DeadLetterKind.PAYLOAD_ERROR, "payload error: bad time", "p", b'{"x":1}',
                               None, 0, None)
    assert before - 1 <= letter.at <= time.time() + 1
    assert queue.intake([Intake("p", error="again", payload=b"{}")]) == [Outcome.DUPLICATE]
    assert queue.stats().depth == 0 and queue.stats().letters == 1


def test_a_group_that_fails_writes_nothing(backend: Backend) -> None:
    queue = backend.open()
    with pytest.raises(QueueError):
        queue.intake([Intake("a", [event(1)]), Intake("b", [None])])  # type: ignore[list-item]
    assert queue.stats().depth == 0
    assert queue.intake([Intake("a", [event(1)])]) == [Outcome.STORED]   # "a" was not remembered


def test_a_group_of_many_webhooks_is_taken_in_by_one_call(backend: Backend) -> None:
    queue = backend.open()
    outcomes = queue.intake([Intake(f"w{n}", [event(n)]) for n in range(500)])
    assert outcomes == [Outcome.STORED] * 500 and queue.stats().depth == 500


# claims and leases ---------------------------------------------------------------------------

def test_claim_takes_at_most_limit_and_leased_events_are_not_claimed_again(backend: Backend) -> None:
    queue, other = filled(backend, 5), backend.open()
    first = queue.claim(2, LONG)
    assert numbers(first) == [1, 2]
    assert numbers(other.claim(10, LONG)) == [3, 4, 5]
    assert queue.claim(10, LONG).events == [] and other.claim(10, LONG).events == []
    stats = queue.stats()
    assert (stats.depth, stats.leased) == (5, 5)


def test_each_claim_has_its_own_lease_token(backend: Backend) -> None:
    queue = filled(backend, 2)
    first, second = queue.claim(1, LONG), queue.claim(1, LONG)
    assert first.lease != second.lease and first.owner == second.owner == queue.owner
    assert backend.open().owner != queue.owner


def test_an_expired_lease_returns_the_events_to_the_queue(backend: Backend) -> None:
    queue, other = filled(backend, 2), backend.open()
    assert numbers(queue.claim(10, SHORT)) == [1, 2]
    again = wait_for(lambda: claimed(other), what="the lease to expire")
    assert again is not None
    assert numbers(again) == [1, 2] and [item.claims for item in again.events] == [1, 1]
    assert again.owner == other.owner and queue.stats().leased == 2


def test_claims_counts_earlier_claims(backend: Backend) -> None:
    queue = filled(backend, 1)
    queue.release(handles(queue.claim(1, LONG)))
    queue.release(handles(queue.claim(1, LONG)))
    (item,) = queue.claim(1, LONG).events
    assert item.claims == 2


# settling ------------------------------------------------------------------------------------

def test_ack_deletes_the_events_once(backend: Backend) -> None:
    queue = filled(backend, 3)
    claim = queue.claim(10, LONG)
    assert queue.ack(handles(claim)[:2]) == 2
    assert queue.ack(handles(claim)[:2]) == 0
    assert queue.stats().depth == 1
    assert queue.ack([]) == 0


def test_set_aside_moves_events_to_the_dead_letters_with_their_reasons(backend: Backend) -> None:
    queue = filled(backend, 2)
    claim = queue.claim(10, LONG)
    reasons = [Reason("id shorter than min_id_length: …", 2, 400), Reason("cannot be decoded: x")]
    assert queue.set_aside(handles(claim), reasons) == 2
    assert queue.stats().depth == 0
    first, second = queue.letters(kind=DeadLetterKind.SET_ASIDE)
    assert (first.event, first.event_id, first.reason, first.attempts, first.status, first.payload) == \
        (event(1), "w1", "id shorter than min_id_length: …", 2, 400, None)
    assert (second.event, second.reason, second.attempts, second.status) == \
        (event(2), "cannot be decoded: x", 0, None)
    assert queue.letters(kind=DeadLetterKind.PAYLOAD_ERROR) == []
    assert queue.set_aside(handles(claim), reasons) == 0
    with pytest.raises(ValueError):
        queue.set_aside(handles(claim), reasons[:1])


def test_release_makes_events_claimable_again_at_their_place(backend: Backend) -> None:
    queue = filled(backend, 3)
    first = queue.claim(2, LONG)
    assert queue.release(handles(first)) == 2
    again = queue.claim(10, LONG)
    assert numbers(again) == [1, 2, 3] and [item.claims for item in again.events] == [1, 1, 0]
    assert queue.release(handles(first)) == 0     # the old claim's handles are stale


def test_release_with_a_delay_keeps_events_back_until_it_passes(backend: Backend) -> None:
    queue = filled(backend, 3)
    claim = queue.claim(10, LONG)
    queue.release(handles(claim)[:1], after=LONG)
    queue.release(handles(claim)[1:2], after=SHORT)
    queue.release(handles(claim)[2:])
    taken = numbers(queue.claim(10, LONG))
    assert 3 in taken and 1 not in taken              # 2 too, if the machine was slow enough
    stats = queue.stats()
    assert (stats.depth, stats.leased) == (3, len(taken))   # waiting out a delay is not a lease
    if 2 not in taken:
        assert wait_for(lambda: numbers(queue.claim(10, LONG)), what="the short delay") == [2]
    assert queue.claim(10, LONG).events == []         # 1 waits an hour


def test_a_stale_owner_changes_nothing_once_another_claimed_the_events(backend: Backend) -> None:
    stale, fresh = filled(backend, 2), backend.open()
    old = stale.claim(10, SHORT)
    new = wait_for(lambda: claimed(fresh), what="the lease to expire")
    assert new is not None
    assert numbers(new) == [1, 2]
    assert stale.ack(handles(old)) == 0
    assert stale.release(handles(old)) == 0
    assert stale.set_aside(handles(old), [Reason("late")] * 2) == 0
    assert stale.stats().letters == 0 and stale.claim(10, LONG).events == []   # still fresh's
    assert fresh.ack(handles(new)) == 2 and fresh.stats().depth == 0


def test_a_settle_after_expiry_counts_while_no_one_else_claimed(backend: Backend) -> None:
    queue = filled(backend, 1)
    claim = queue.claim(10, SHORT)
    wait_for(lambda: queue.stats().leased == 0, what="the lease to expire")
    assert queue.ack(handles(claim)) == 1 and queue.stats().depth == 0


def test_two_claimers_never_get_the_same_event(backend: Backend) -> None:
    filled(backend, 400)
    claimers = [backend.open() for _ in range(4)]
    taken: list[list[int]] = [[] for _ in claimers]
    errors: list[BaseException] = []

    def drain(queue: Queue, into: list[int]) -> None:
        try:
            for _ in range(100):         # 58 claims take everything; a broken queue must not loop forever
                claim = queue.claim(7, LONG)
                if not claim.events:
                    return
                into.extend(numbers(claim))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=pair) for pair in zip(claimers, taken, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    everything = [n for part in taken for n in part]
    assert sorted(everything) == list(range(1, 401))       # each event once, none lost
    assert all(part == sorted(part) for part in taken)     # each claimer's share oldest first


# shared pauses -------------------------------------------------------------------------------

def test_pauses_are_seen_by_every_queue_object_and_a_longer_one_is_kept(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    assert first.pauses() == {}
    first.pause({"u:ann": LONG, "d:dev-1": SHORT})
    second.pause({"u:ann": 60.0, "u:bob": 60.0})       # ann keeps her hour
    left = second.pauses()
    assert set(left) >= {"u:ann", "u:bob"}
    assert LONG - 60 < left["u:ann"] <= LONG and 0 < left["u:bob"] <= 60
    wait_for(lambda: "d:dev-1" not in first.pauses(), what="the short pause to end")
    assert set(first.pauses()) == {"u:ann", "u:bob"}
    first.pause({})


def test_prune_keeps_the_pauses_still_running(backend: Backend) -> None:
    queue = backend.open()
    queue.pause({"u:ann": SHORT, "u:bob": LONG})
    wait_for(lambda: set(queue.pauses()) == {"u:bob"}, what="the short pause to end")
    queue.prune(older_than=LONG)
    queue.pause({"u:ann": 0.0})                         # a pause that ended is not revived by a past one
    assert set(queue.pauses()) == {"u:bob"}


# dead letters --------------------------------------------------------------------------------

def _letters(backend: Backend) -> tuple[Queue, int, int]:
    """A queue with a set-aside event (first) and a payload error (second)."""
    queue = filled(backend, 1)
    queue.set_aside(handles(queue.claim(1, LONG)), [Reason("why")])
    queue.intake([Intake("p", error="payload error", payload=b"{}")])
    first, second = (letter.id for letter in queue.letters())
    return queue, first, second


def test_letters_are_listed_oldest_first_by_kind_and_limit(backend: Backend) -> None:
    queue, first, second = _letters(backend)
    assert [letter.id for letter in queue.letters()] == [first, second]
    assert [letter.id for letter in queue.letters(limit=1)] == [first]
    assert [letter.id for letter in queue.letters(kind=DeadLetterKind.PAYLOAD_ERROR)] == [second]
    letter = queue.letter(first)
    assert letter is not None and letter.kind == DeadLetterKind.SET_ASIDE and letter.event == event(1)
    assert queue.letter(second + 1000) is None


def test_requeue_puts_an_event_back_last_and_removes_its_letter(backend: Backend) -> None:
    queue, first, _ = _letters(backend)
    queue.intake([Intake("w2", [event(2)])])
    assert queue.requeue([first]) == 1
    claim = queue.claim(10, LONG)
    assert numbers(claim) == [2, 1] and claim.events[1].event_id == "w1"
    assert queue.letter(first) is None
    assert queue.requeue([first]) == 0


def test_a_payload_letter_is_requeued_only_with_the_events_given_for_it(backend: Backend) -> None:
    queue, first, second = _letters(backend)
    with pytest.raises(QueueError, match="holds a payload"):
        queue.requeue([first, second])
    assert queue.stats().letters == 2 and queue.stats().depth == 0      # nothing changed
    assert queue.requeue([second], {second: [event(5), event(6)]}) == 2
    claim = queue.claim(10, LONG)
    assert numbers(claim) == [5, 6] and {item.event_id for item in claim.events} == {"p"}
    assert [letter.id for letter in queue.letters()] == [first]


def test_drop_and_note_failure(backend: Backend) -> None:
    queue, first, second = _letters(backend)
    assert queue.note_failure(second, "payload error: still") is True
    letter = queue.letter(second)
    assert letter is not None and (letter.reason, letter.attempts) == ("payload error: still", 1)
    assert queue.drop(first) is True and queue.drop(first) is False
    assert queue.note_failure(first, "x") is False
    assert [letter.id for letter in queue.letters()] == [second]


# dedupe memory, health -----------------------------------------------------------------------

def test_prune_forgets_old_payload_ids_in_bounded_chunks_and_never_events(backend: Backend) -> None:
    queue = filled(backend, 7)
    assert queue.prune(older_than=LONG) == 0
    taken_in = time.time()
    wait_for(lambda: time.time() > taken_in + 0.05, what="the clock to move on")
    assert [queue.prune(older_than=0.0, limit=5) for _ in range(3)] == [5, 2, 0]
    assert queue.intake([Intake("w1", [event(1)])]) == [Outcome.STORED]
    assert queue.stats().depth == 8


def test_probe_problem_and_stats(backend: Backend) -> None:
    queue = filled(backend, 3)
    queue.probe()
    assert queue.problem() is None
    first = queue.claim(1, LONG)
    queue.intake([Intake("p", error="payload error", payload=b"{}")])
    wait_for(lambda: queue.oldest_age() > 0, what="time to pass")
    stats = queue.stats()
    assert (stats.depth, stats.leased, stats.letters) == (3, 1, 1)
    assert 0 < stats.oldest_age < 600 and 0 < queue.oldest_age() < 600
    queue.ack(handles(first) + handles(queue.claim(10, LONG)))
    assert queue.stats() == Stats(0, 0.0, 0, 1) and queue.oldest_age() == 0


def test_a_closed_queue_refuses_work(backend: Backend) -> None:
    queue = filled(backend, 1)
    queue.close()
    with pytest.raises(QueueError):
        queue.claim(1, LONG)
    with pytest.raises(QueueError):
        queue.intake([Intake("x", [event(1)])])
    assert backend.open().stats().depth == 1      # the store itself is untouched
