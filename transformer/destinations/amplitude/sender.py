"""`AmplitudeSender`: the generic `Sender` configured for Amplitude, as the library has offered it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..sender import Sender
from .destination import Amplitude
from .endpoint import Endpoint

__all__ = ["AmplitudeSender"]


class AmplitudeSender(Sender):
    """Sends events to Amplitude's Batch or HTTP V2 API: `Sender(Amplitude(api_key, …), …)`.

    `eu_residency`, `api`, `endpoint`, `min_id_length` and `schema_path` configure `Amplitude`;
    every other option is the `Sender`'s (dead_letters, concurrency, deadline, throttle_pause,
    quota_pause, timeout, transport, on_progress, on_accepted, …)."""

    destination: Amplitude

    def __init__(self, api_key: str, *, eu_residency: bool = False, api: str = "batch",
                 endpoint: str | None = None, min_id_length: int | None = None,
                 schema_path: Path | None = None, **options: Any) -> None:
        super().__init__(Amplitude(api_key, eu_residency=eu_residency, api=api, endpoint=endpoint,
                                   min_id_length=min_id_length, schema_path=schema_path), **options)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **options: Any) -> AmplitudeSender:
        """A sender configured by a mapping's settings (api_key, eu_residency, api, endpoint,
        min_id_length); `options` are passed on."""
        return cls(settings.get("api_key") or "", eu_residency=bool(settings.get("eu_residency")),
                   api=settings.get("api") or "batch", endpoint=settings.get("endpoint"),
                   min_id_length=settings.get("min_id_length"), **options)

    @property
    def endpoint(self) -> Endpoint:
        """The URL posted to and the API's limits."""
        return self.destination.endpoint
