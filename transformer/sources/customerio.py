"""Customer.io webhook signatures: HMAC-SHA256 of `v0:<timestamp>:<raw body>`, hex in a header.

The reference (customerio-reporting-webhooks.md §3) defines the scheme: the `X-CIO-Timestamp`
header as received, a colon, the body exactly as received; the `X-CIO-Signature` header holds the
bare lower-case hex digest. The digest is compared in constant time, and a timestamp further from
our clock than the tolerance (300 s by default, as PostHog's receiver does) is refused, so that a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Rejection", "Verifier", "sign"]

TIMESTAMP_HEADER = "x-cio-timestamp"
SIGNATURE_HEADER = "x-cio-signature"


class Rejection(StrEnum):
    """Why a request's signature was refused (for metrics and logs, never for the caller)."""

    MISSING = "missing"        # a header is absent or empty
    MALFORMED = "malformed"    # the timestamp is not an integer
    STALE = "stale"            # the timestamp is outside the tolerance
    MISMATCH = "mismatch"      # the digest differs


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The `X-CIO-Signature` value for a body sent at `timestamp` (for clients and tests)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = b"v0:" + str(timestamp).encode("utf-8") + b":" + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by lower-case name, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():
        if key.lower() == name:
            return found
    return None


class Verifier:
    """Checks requests against one signing secret; the secret never appears in `repr`."""

    __slots__ = ("_key", "tolerance")

    def __init__(self, secret: str, *, tolerance: float = 300.0) -> None:
        if not secret:
            raise ValueError("a signing secret is needed")
        self._key = secret.encode("utf-8")
        self.tolerance = tolerance

    def __repr__(self) -> str:
        return f"Verifier(secret=***, tolerance={self.tolerance:g})"

    def check(self, headers: Mapping[str, str], body: bytes, now: float) -> Rejection | None:
        """None when the request is signed with our secret and recent; else why it is refused."""
        timestamp = _header(headers, TIMESTAMP_HEADER)
        given = _header(headers, SIGNATURE_HEADER)
        if not timestamp or not given:
            return Rejection.MISSING
        timestamp = timestamp.strip()
        digits = timestamp[1:] if timestamp[:1] == "-" else timestamp
        if not digits.isascii() or not digits.isdigit() or len(digits) > 12:
            return Rejection.MALFORMED
        if abs(now - int(timestamp)) > self.tolerance:
            return Rejection.STALE
        expected = hmac.new(self._key, b"v0:" + timestamp.encode("ascii") + b":" + body,
                            hashlib.sha256).hexdigest().encode("ascii")
        # header values may hold any byte; encode them so that compare_digest never raises
        provided = given.strip().lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected, provided):
            return Rejection.MISMATCH
        return None
