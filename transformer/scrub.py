"""Keep secrets out of text that people see: log lines, error messages, dead-letter reasons.

A `Scrubber` replaces every run of text that contains a piece of a secret with `***`: the
secret itself, any slice of it of at least `MIN_SLICE` (8) characters (a truncated echo in an
upstream error body), in any letter case, and URL-encoded, JSON-escaped or base64-encoded (any of
the three base64 alignments, so a slice of the encoding of a truncated secret is found too).
Secrets shorter than `MIN_SLICE` are not scrubbed at all: blanking every 5-letter word that
happens to be a test key would make logs unreadable, and real keys are long (Amplitude's are 32
characters; `transformer serve` refuses signing secrets shorter than 16).

Matching works on 8-character windows: any slice of 8 or more characters contains one, and
overlapping or adjacent matches merge into one `***`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_SLICE", "Scrubber"]

MIN_SLICE = 8
MASK = "***"


def _forms(secret: str) -> set[str]:
    """The ways a secret may be written back to us."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode("utf-8")
    for start in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.add(encode(raw[start:]).decode("ascii").rstrip("="))
    return forms


class Scrubber:
    """`scrubber(text)` is `text` with every piece of the secrets replaced by `***`."""

    __slots__ = ("_windows",)

    def __init__(self, secrets: Iterable[str | None]) -> None:
        windows: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SLICE:
                continue
            for form in _forms(secret):
                lowered = form.lower()
                windows.update(lowered[i:i + MIN_SLICE] for i in range(len(lowered) - MIN_SLICE + 1))
        self._windows = frozenset(windows)

    def __repr__(self) -> str:
        return f"Scrubber({len(self._windows)} windows)"

    def __bool__(self) -> bool:
        return bool(self._windows)

    def __call__(self, text: str) -> str:
        windows = self._windows
        if not windows or len(text) < MIN_SLICE:
            return text
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters lower-case to two; keep indexes aligned
            lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        spans: list[list[int]] = []
        for i in range(len(text) - MIN_SLICE + 1):
            if lowered[i:i + MIN_SLICE] in windows:
                if spans and i <= spans[-1][1]:
                    spans[-1][1] = i + MIN_SLICE
                else:
                    spans.append([i, i + MIN_SLICE])
        if not spans:
            return text
        out: list[str] = []
        last = 0
        for start, end in spans:
            out.append(text[last:start])
            out.append(MASK)
            last = end
        out.append(text[last:])
        return "".join(out)
