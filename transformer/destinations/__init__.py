"""Where events go: the `Destination` protocol, the generic `Sender`, dead letters, the registry
of destinations (`registry.DESTINATIONS`, each in its own folder with its fake)."""

from .amplitude.destination import Amplitude
from .amplitude.endpoint import Endpoint, endpoint_from_settings
from .amplitude.sender import AmplitudeSender
from .base import Destination, DestinationKind, Limits, RetryPolicy, Verdict, VerdictKind
from .dead_letters import DeadLetterSink, DeadLetterWriter, is_dead_letter
from .registry import DESTINATIONS, destination_kind
from .report import Outgoing, SendInterrupted, SendReport
from .sender import Sender

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
