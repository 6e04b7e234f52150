"""Where events go: the `Destination` protocol, the generic `Sender`, dead letters, the registry
of destinations (`registry.DESTINATIONS`, each in its own folder with its fake).

The names below are imported when first used (PEP 562), so that reading the registry (what
loading a mapping does) does not import the HTTP client."""

from __future__ import annotations

import typing

from ..lazy import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from .amplitude.destination import Amplitude
    from .amplitude.endpoint import Endpoint, endpoint_from_settings
    from .amplitude.sender import AmplitudeSender
    from .base import Destination, DestinationKind, Limits, RetryPolicy, Verdict, VerdictKind
    from .dead_letters import DeadLetterSink, DeadLetterWriter, is_dead_letter
    from .registry import DESTINATIONS, destination_kind
    from .report import Outgoing, Prepared, SendInterrupted, SendReport
    from .sender import Sender

__getattr__ = _lazy_exports(__name__, {
    "Amplitude": ".amplitude.destination", "Endpoint": ".amplitude.endpoint",
    "endpoint_from_settings": ".amplitude.endpoint", "AmplitudeSender": ".amplitude.sender",
    "Destination": ".base", "DestinationKind": ".base", "Limits": ".base", "RetryPolicy": ".base",
    "Verdict": ".base", "VerdictKind": ".base", "DeadLetterSink": ".dead_letters",
    "DeadLetterWriter": ".dead_letters", "is_dead_letter": ".dead_letters",
    "DESTINATIONS": ".registry", "destination_kind": ".registry", "Outgoing": ".report",
    "Prepared": ".report", "SendInterrupted": ".report", "SendReport": ".report", "Sender": ".sender",
})


__all__ = [
    "DESTINATIONS",
    "Amplitude",
    "AmplitudeSender",
    "DeadLetterSink",
    "DeadLetterWriter",
    "Destination",
    "DestinationKind",
    "Endpoint",
    "Limits",
    "Outgoing",
    "Prepared",
    "RetryPolicy",
    "SendInterrupted",
    "SendReport",
    "Sender",
    "Verdict",
    "VerdictKind",
    "destination_kind",
    "endpoint_from_settings",
    "is_dead_letter",
]
