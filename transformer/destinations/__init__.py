"""Delivery to Amplitude: preflight, batching, retries, dead letters."""

from .amplitude.endpoint import Endpoint, endpoint_from_settings
from .amplitude.sender import AmplitudeSender, Outgoing, SendInterrupted, SendReport
from .dead_letters import DeadLetterSink, DeadLetterWriter, is_dead_letter

__all__ = [
    "AmplitudeSender",
    "DeadLetterSink",
    "DeadLetterWriter",
    "Endpoint",
    "Outgoing",
    "SendInterrupted",
    "SendReport",
    "endpoint_from_settings",
    "is_dead_letter",
]
