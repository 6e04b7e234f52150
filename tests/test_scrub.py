"""Scrubber: a secret is blanked whole, in slices of 8+ characters, in any case, URL-, JSON- or
base64-encoded; short secrets and short slices are never blanked."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from transformer.scrub import Scrubber

KEY = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
SIGNING = "whsec/Qx+7 k=ZpR#2vLm"


@pytest.mark.parametrize("echo", [
    KEY,
    KEY[:8],                                   # the shortest slice that counts
    KEY[5:19],                                 # a slice from the middle
    KEY.upper(),
    KEY[3:20].upper(),
    quote(SIGNING, safe=""),                   # URL-encoded
    json.dumps(SIGNING)[1:-1],                 # as it appears inside a JSON string
    base64.b64encode(KEY.encode()).decode(),
    base64.b64encode(KEY[4:30].encode()).decode().rstrip("="),        # truncated, then encoded
    base64.urlsafe_b64encode(SIGNING[2:].encode()).decode().rstrip("="),
])
def test_every_form_of_a_secret_is_blanked(echo: str) -> None:
    scrub = Scrubber([KEY, SIGNING])
    text = f'{{"error":"Invalid API key: {echo}"}} retry later'
    scrubbed = scrub(text)
    assert scrubbed.startswith('{"error":"Invalid API key: ***') and scrubbed.endswith(" retry later")
    for i in range(len(echo) - 7):                 # no 8-character piece of the echo is left
        assert echo[i:i + 8] not in scrubbed


def test_overlapping_pieces_merge_into_one_mask_and_other_text_stays() -> None:
    scrub = Scrubber([KEY])
    assert scrub(f"a {KEY[:12]}{KEY[10:]} b {KEY[:7]} c") == f"a *** b {KEY[:7]} c"


def test_slices_shorter_than_8_and_secrets_shorter_than_8_are_left_alone() -> None:
    scrub = Scrubber(["abc1234", "", None, "test-secret-0001"])
    assert scrub("abc1234 test-se secret") == "abc1234 test-se secret"
    assert scrub("the test-secret-0001 leaked") == "the *** leaked"
    assert not Scrubber(["short"]) and Scrubber([KEY])


def test_text_without_secrets_is_returned_unchanged() -> None:
    scrub = Scrubber([KEY])
    text = "İstanbul ß " * 20 + "nothing to hide"     # characters whose lower case changes length
    assert scrub(text) == text
    assert scrub("İ" + KEY) == "İ***"
