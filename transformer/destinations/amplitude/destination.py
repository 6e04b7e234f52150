"""Amplitude as a `Destination`: the Batch API (`/batch`) or HTTP V2 (`/2/httpapi`).

A request is `{"api_key": …, "events": [...], "options": {"min_id_length": N}}`; events are
checked first against the event schema and the id length (`preflight.py`), ordered per user and
per device, and responses read as `classify.py` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ...data import data_file
from ..base import (
    DestinationKind,
    Framing,
    Key,
    Limits,
    Request,
    Response,
    Verdict,
    decode_json,
    encode_json,
    transport_failure,
)
from .classify import classify
from .endpoint import Endpoint, endpoint_from_settings
from .settings import SETTINGS

if TYPE_CHECKING:
    from ..fake import Faults
    from .fake import FakeAmplitude

__all__ = ["AMPLITUDE", "Amplitude"]

_HEADERS = {"Content-Type": "application/json"}


class Amplitude:
    """Amplitude, configured: where to send, with which key, which minimum id length.

    `min_id_length` None sends no `options` and sets aside ids shorter than Amplitude's own
    default of 5; `max_events` and `max_bytes` may only lower the API's limits."""

    name = "amplitude"
    title = "Amplitude"

    def __init__(self, api_key: str, *, eu_residency: bool = False, api: str = "batch",
                 endpoint: str | None = None, min_id_length: int | None = None,
                 schema_path: Path | None = None) -> None:
        if not api_key:
            raise ValueError("an Amplitude API key is needed (setting api_key, or AMPLITUDE_API_KEY)")
        self.endpoint: Endpoint = endpoint_from_settings(
            {"api": api, "eu_residency": eu_residency, "endpoint": endpoint})
        self.url = self.endpoint.url
        self.host = self.endpoint.host
        self.limits = Limits(self.endpoint.max_events, self.endpoint.max_bytes)
        options = b"" if min_id_length is None else b',"options":' + orjson.dumps(
            {"min_id_length": min_id_length})
        self.framing = Framing(b'{"api_key":' + orjson.dumps(api_key) + b',"events":[', b",",
                               b"]" + options + b"}")
        self.secrets: tuple[str, ...] = (api_key,)
        from .preflight import Preflight  # fastjsonschema: only when sending

        self._preflight = Preflight(schema_path or data_file("schemas", "amplitude-event.schema.json"),
                                    min_id_length)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **options: Any) -> Amplitude:
        """Amplitude configured by its settings (api_key, eu_residency, api, endpoint,
        min_id_length); raises `ValueError` without an API key."""
        if not settings.get("api_key"):
            raise ValueError("no Amplitude API key: export AMPLITUDE_API_KEY=… "
                             "(or set api_key in a settings file)")
        return cls(settings["api_key"], eu_residency=bool(settings.get("eu_residency")),
                   api=settings.get("api") or "batch", endpoint=settings.get("endpoint"),
                   min_id_length=settings.get("min_id_length"), **options)

    def __repr__(self) -> str:
        return f"Amplitude({self.url!r})"

    def preflight(self, event: Any) -> tuple[str, str] | None:
        return self._preflight.reason(event)

    def keys(self, event: Any) -> tuple[Key, ...]:
        user, device = event.get("user_id"), event.get("device_id")
        if user is not None:
            return (("user_id", user), ("device_id", device)) if device is not None else (("user_id", user),)
        return (("device_id", device),) if device is not None else ()

    def encode_event(self, event: Any) -> bytes:
        return encode_json(event)

    def decode_event(self, body: bytes) -> Any:
        return decode_json(body)

    def encode(self, bodies: Sequence[bytes]) -> Request:
        return Request("POST", self.url, _HEADERS, self.framing.join(bodies))

    def classify(self, response: Response, count: int) -> Verdict:
        return classify(response, count, eu=self.endpoint.is_eu)

    def classify_error(self, exc: Exception) -> Verdict:
        return transport_failure(exc)

    def warning(self) -> str | None:
        return self._preflight.warning()

    @property
    def host_label(self) -> str:
        """The host and which Amplitude it is: EU, US, or a custom endpoint."""
        region = "EU" if self.endpoint.is_eu else ("US" if "amplitude.com" in self.host
                                                   else "custom endpoint")
        return f"{self.host} ({region})"


def _fake(host: str = "127.0.0.1", port: int = 0, *, key: str | None = None,
          faults: Faults | None = None) -> FakeAmplitude:
    from .fake import FakeAmplitude  # http.server: only for the fake

    return FakeAmplitude(host, port, api_key=key, faults=faults)


AMPLITUDE = DestinationKind(name="amplitude", settings=SETTINGS, create=Amplitude.from_settings, fake=_fake)
