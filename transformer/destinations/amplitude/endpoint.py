"""Where events go and how much a request may carry, from the mapping's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...spec.settings import check_url

__all__ = ["API_PATHS", "EU_HOST", "US_HOST", "Endpoint", "endpoint_from_settings"]

US_HOST = "https://api2.amplitude.com"
EU_HOST = "https://api.eu.amplitude.com"
API_PATHS = {"batch": "/batch", "http_v2": "/2/httpapi"}

# Amplitude's documented limits: /batch takes at most 2000 events and 20 MB; /2/httpapi fewer
# than 2000 events and under 1 MB (whether 1 MB is 10^6 or 2^20 bytes is undocumented: 10^6).
_LIMITS = {"batch": (2000, 20_000_000), "http_v2": (1999, 1_000_000)}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The URL to post to and the per-request limits of that API."""

    url: str
    api: str
    max_events: int
    max_bytes: int

    @property
    def host(self) -> str:
        """Scheme and host, for messages (never anything secret)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def is_eu(self) -> bool:
        return self.url.startswith(EU_HOST)


def endpoint_from_settings(settings: Any) -> Endpoint:
    """`api` (batch or http_v2), `eu_residency`, and `endpoint` (a base URL that overrides the host)."""
    api = settings.get("api") or "batch"
    if api not in API_PATHS:
        raise ValueError(f"api must be one of {', '.join(API_PATHS)}, got {api!r}")
    base = settings.get("endpoint") or (EU_HOST if settings.get("eu_residency") else US_HOST)
    check_url(base)
    max_events, max_bytes = _LIMITS[api]
    return Endpoint(base.rstrip("/") + API_PATHS[api], api, max_events, max_bytes)
