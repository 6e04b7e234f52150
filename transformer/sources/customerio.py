"""Customer.io reporting webhooks as a `Source`: one payload per body, signed with HMAC-SHA256.

The signature is the HMAC-SHA256 of `v0:<timestamp>:<raw body>`, hex in a header.

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
from typing import Any

from .base import SourceKind
from .customerio_settings import SETTINGS

__all__ = ["CUSTOMERIO", "SETTINGS", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "CustomerIO", "Rejection",
           "Verifier", "sign", "signed_headers"]

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


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The headers Customer.io would send with `body` at `now` (unix seconds)."""
    timestamp = str(int(now))
    return {"X-CIO-Timestamp": timestamp, "X-CIO-Signature": sign(secret, timestamp, body)}


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


class CustomerIO:
    """Customer.io reporting webhooks: verified with the signing secret (when there is one), one
    payload per body."""

    name = "customerio"
    rejections = tuple(r.value for r in Rejection)

    def __init__(self, signing_secret: str | None, *, tolerance: float = 300.0) -> None:
        self._verifier = Verifier(signing_secret, tolerance=tolerance) if signing_secret else None
        self.verifies = self._verifier is not None
        self.secrets: tuple[str, ...] = (signing_secret,) if signing_secret else ()

    def __repr__(self) -> str:
        return f"CustomerIO({self._verifier!r})"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], tolerance: float = 300.0) -> CustomerIO:
        """The source its settings describe (signing_secret; none: it verifies nothing)."""
        return cls(settings.get("signing_secret"), tolerance=tolerance)

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
        if self._verifier is None:
            return None
        return self._verifier.check(headers, body, now)

    def payloads(self, body: Any) -> list[Any]:
        return [body]


CUSTOMERIO = SourceKind(
    name="customerio", settings=SETTINGS,
    secret="signing_secret", secret_hint="the reporting webhook's signing key",
    create=CustomerIO.from_settings, sign=signed_headers)
