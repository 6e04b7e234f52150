"""Signature checks against the reference's worked example (customerio-reporting-webhooks.md §3)."""

from __future__ import annotations

import hashlib
import json

import pytest

from transformer.sources.customerio import Rejection, Verifier, sign

KEY = "example-signing-key"
TIMESTAMP = "1700000000"
BODY = (b'{"event_id":"01HF7YAG7GQ4K2V9N7M3P5R6S8","object_type":"email","metric":"delivered",'
        b'"timestamp":1699999990,"data":{"action_id":42,"campaign_id":7,"delivery_id":'
        b'"RPILAgUBcRhIBqSfeiIwdIYJKxTY","identifiers":{"cio_id":"a3b1c2000001","email":'
        b'"ada@example.com","id":"user-00042"},"recipient":"ada@example.com","subject":"Welcome aboard"}}')
EXPECTED = "9beb48a221cf9704192efe8d6be67e7ebed791788e17164e7270c6e566d30186"
NOW = 1700000000.0


def headers(timestamp: str = TIMESTAMP, signature: str = EXPECTED) -> dict[str, str]:
    return {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": signature}


def test_the_worked_example_body_is_an_exact_copy() -> None:
    assert len(BODY) == 333
    assert hashlib.sha256(BODY).hexdigest() == "21fe2d6632e6b46c2aa4966b29d4a7641937b13eea211a3b7481dd5b41a8693a"


def test_sign_gives_the_worked_example_signature() -> None:
    assert sign(KEY, TIMESTAMP, BODY) == EXPECTED
    assert sign(KEY.encode(), int(TIMESTAMP), BODY) == EXPECTED


def test_the_worked_example_is_accepted() -> None:
    assert Verifier(KEY).check(headers(), BODY, NOW) is None


def test_the_same_body_with_another_timestamp_is_refused() -> None:
    assert Verifier(KEY).check(headers(timestamp="1700000001"), BODY, NOW) is Rejection.MISMATCH


def test_the_body_reserialised_with_default_separators_is_refused() -> None:
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert hashlib.sha256(reserialised).hexdigest() != hashlib.sha256(BODY).hexdigest()
    assert sign(KEY, TIMESTAMP, reserialised) == \
        "92742506f57a7f0f6a5b511b33e1b2964f1544188d8368741c8f9a7da80392de"
    assert Verifier(KEY).check(headers(), reserialised, NOW) is Rejection.MISMATCH


def test_header_names_are_looked_up_whatever_their_case() -> None:
    lower = {"x-cio-timestamp": TIMESTAMP, "x-cio-signature": EXPECTED}
    shouting = {"X-CIO-TIMESTAMP": TIMESTAMP, "X-CIO-SIGNATURE": EXPECTED}
    assert Verifier(KEY).check(lower, BODY, NOW) is None
    assert Verifier(KEY).check(shouting, BODY, NOW) is None


def test_an_upper_case_digest_or_surrounding_spaces_are_tolerated() -> None:
    assert Verifier(KEY).check(headers(signature=f" {EXPECTED.upper()} "), BODY, NOW) is None


@pytest.mark.parametrize("given", [
    {},
    {"X-CIO-Timestamp": TIMESTAMP},
    {"X-CIO-Signature": EXPECTED},
    {"X-CIO-Timestamp": "", "X-CIO-Signature": EXPECTED},
    {"X-CIO-Timestamp": TIMESTAMP, "X-CIO-Signature": ""},
])
def test_a_missing_header_is_refused(given: dict[str, str]) -> None:
    assert Verifier(KEY).check(given, BODY, NOW) is Rejection.MISSING


@pytest.mark.parametrize("timestamp", ["1700000000.5", "17e8", "abc", "\uff11\uff17" + "\uff10" * 8, "9" * 40])
def test_a_timestamp_that_is_not_whole_seconds_is_refused(timestamp: str) -> None:
    assert Verifier(KEY).check(headers(timestamp=timestamp, signature=sign(KEY, timestamp, BODY)),
                               BODY, NOW) is Rejection.MALFORMED


@pytest.mark.parametrize(("offset", "verdict"), [
    (-301, Rejection.STALE), (-300, None), (0, None), (300, None), (301, Rejection.STALE)])
def test_a_timestamp_more_than_the_tolerance_away_from_our_clock_is_refused(
        offset: int, verdict: Rejection | None) -> None:
    """Both older and newer: a request signed in the future is as suspect as an old one."""
    assert Verifier(KEY).check(headers(), BODY, NOW - offset) is verdict


def test_the_tolerance_is_configurable() -> None:
    assert Verifier(KEY, tolerance=10).check(headers(), BODY, NOW + 11) is Rejection.STALE
    assert Verifier(KEY, tolerance=3600).check(headers(), BODY, NOW + 3000) is None


def test_a_stale_timestamp_is_refused_even_with_a_valid_signature() -> None:
    old = str(int(NOW) - 3600)
    assert Verifier(KEY).check(headers(timestamp=old, signature=sign(KEY, old, BODY)), BODY, NOW) \
        is Rejection.STALE


def test_another_key_or_a_signature_with_odd_characters_is_refused() -> None:
    assert Verifier("another-key").check(headers(), BODY, NOW) is Rejection.MISMATCH
    assert Verifier(KEY).check(headers(signature="v0=" + EXPECTED), BODY, NOW) is Rejection.MISMATCH
    assert Verifier(KEY).check(headers(signature="é" * 64), BODY, NOW) is Rejection.MISMATCH


def test_the_secret_never_appears_in_repr() -> None:
    assert KEY not in repr(Verifier(KEY))
    with pytest.raises(ValueError, match="signing secret"):
        Verifier("")
