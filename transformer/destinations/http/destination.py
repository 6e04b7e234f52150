"""`http` as a `Destination`: POST batches of events to any URL, as a JSON array or NDJSON.

Responses: 2xx accepted; 408, 5xx (and timeouts, refused or dropped connections) retried with
backoff, honouring Retry-After; 429 retried after Retry-After (or the backoff); 413 halves the
batch, and a single event still refused is set aside; 401, 403, 407 (credentials), 404, 405,
410 (the URL) and 3xx (redirects are not followed) stop the run; any other 4xx stops it too, or
with `on_rejection: isolate` is narrowed down by halving to the events refused alone, which are
set aside while the rest is delivered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from gzip import compress
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...spec.settings import check_url
from ..base import (
    DestinationKind,
    Framing,
    Key,
    Limits,
    Request,
    Response,
    Verdict,
    VerdictKind,
    decode_json,
    encode_json,
    retry_after,
    snippet,
    transport_failure,
)
from .settings import SETTINGS

if TYPE_CHECKING:
    from ..fake import Faults
    from .fake import FakeHttp

__all__ = ["HTTP", "HttpDestination"]

_FRAMINGS = {"json": Framing(b"[", b",", b"]"), "ndjson": Framing(b"", b"\n", b"\n")}
_TYPES = {"json": "application/json", "ndjson": "application/x-ndjson"}
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an HTTP header name
_CREDENTIALS = (401, 403, 407)
_ADDRESS = (404, 405, 410)


class HttpDestination:
    """A JSON sink at `url`; see the module docstring."""

    name = "http"
    title = "the endpoint"

    def __init__(self, url: str, *, body_format: str = "json", batch_size: int = 500,
                 batch_bytes: int = 1_000_000, gzip: bool = False, auth_header: str = "Authorization",
                 auth_token: str | None = None, on_rejection: str = "fatal",
                 order_by: Sequence[str] = ()) -> None:
        check_url(url)
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise ValueError("the http destination's url must not carry credentials (it is printed in "
                             "summaries): give them in auth_token")
        if body_format not in _FRAMINGS:
            raise ValueError(f"body_format must be json or ndjson, got {body_format!r}")
        if on_rejection not in ("fatal", "isolate"):
            raise ValueError(f"on_rejection must be fatal or isolate, got {on_rejection!r}")
        if not _TOKEN.match(auth_header):
            raise ValueError(f"auth_header {auth_header!r} is not an HTTP header name")
        if auth_token is not None and ("\r" in auth_token or "\n" in auth_token):
            raise ValueError("auth_token cannot hold a line break")
        self.url = url
        self.host = f"{parts.scheme}://{parts.netloc}"
        self.host_label = self.host
        self.limits = Limits(batch_size, batch_bytes)
        self.framing = _FRAMINGS[body_format]
        self.secrets: tuple[str, ...] = (auth_token,) if auth_token else ()
        self.isolate = on_rejection == "isolate"
        self.order_by = tuple(order_by)
        self.compress = gzip
        headers = {"Content-Type": _TYPES[body_format]}
        if gzip:
            headers["Content-Encoding"] = "gzip"
        if auth_token:
            headers[auth_header] = auth_token
        self._headers = headers

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> HttpDestination:
        """The destination its settings describe; raises `ValueError` without a url."""
        url = settings.get("url")
        if not url:
            raise ValueError("no URL for the http destination: --set url=https://… "
                             "(or set url in a settings file, or TRANSFORMER_URL)")
        return cls(url, body_format=settings.get("body_format") or "json",
                   batch_size=settings.get("batch_size") or 500,
                   batch_bytes=settings.get("batch_bytes") or 1_000_000,
                   gzip=bool(settings.get("gzip")),
                   auth_header=settings.get("auth_header") or "Authorization",
                   auth_token=settings.get("auth_token"),
                   on_rejection=settings.get("on_rejection") or "fatal",
                   order_by=settings.get("order_by") or ())

    def __repr__(self) -> str:
        return f"HttpDestination({self.url!r})"

    def preflight(self, event: Any) -> tuple[str, str] | None:
        return None  # any JSON value goes; size is the sender's check

    def keys(self, event: Any) -> tuple[Key, ...]:
        if not self.order_by or not isinstance(event, dict):
            return ()
        return tuple((name, str(event[name])) for name in self.order_by if event.get(name) is not None)

    def encode_event(self, event: Any) -> bytes:
        return encode_json(event)

    def decode_event(self, body: bytes) -> Any:
        return decode_json(body)

    def encode(self, bodies: Sequence[bytes]) -> Request:
        body = self.framing.join(bodies)
        if self.compress:
            body = compress(body, compresslevel=6, mtime=0)
        return Request("POST", self.url, self._headers, body)

    def classify(self, response: Response, count: int) -> Verdict:
        status = response.status
        if 200 <= status < 300:
            return Verdict(VerdictKind.ACCEPTED, status)
        message = _describe(status, response.body)
        after = retry_after(response.headers)
        if status == 429:
            return Verdict(VerdictKind.THROTTLED, status, message, retry_after=after)
        if status == 408 or status >= 500:
            return Verdict(VerdictKind.RETRY, status, message, retry_after=after)
        if status == 413:
            return Verdict(VerdictKind.SPLIT, status, message)
        if 400 <= status < 500 and self.isolate and status not in _CREDENTIALS + _ADDRESS:
            return Verdict(VerdictKind.SPLIT, status, message)
        hint = (" (check auth_token and auth_header)" if status in _CREDENTIALS else
                " (check url)" if status in _ADDRESS else
                " (redirects are not followed: give the final URL as url)" if 300 <= status < 400 else
                " (set on_rejection=isolate to set refused events aside and deliver the rest)")
        return Verdict(VerdictKind.FATAL, status, f"the endpoint answered {message}", hint=hint)

    def classify_error(self, exc: Exception) -> Verdict:
        return transport_failure(exc)

    def warning(self) -> str | None:
        return None


def _describe(status: int, body: bytes) -> str:
    """`503 Service Unavailable`, with what the body says when it says more."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    detail = _detail(body)
    said = f" ({detail})" if detail and detail.lower() != phrase.lower() else ""
    return f"{status} {phrase}".strip() + said


def _detail(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return snippet(body)
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return " ".join(data[key].split())[:120]
    return snippet(body)


def _fake(host: str = "127.0.0.1", port: int = 0, *, key: str | None = None,
          faults: Faults | None = None) -> FakeHttp:
    from .fake import FakeHttp  # http.server: only for the fake

    return FakeHttp(host, port, token=key, faults=faults)


HTTP = DestinationKind(name="http", settings=SETTINGS, create=HttpDestination.from_settings, fake=_fake)
