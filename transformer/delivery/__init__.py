"""Delivery to Amplitude: preflight, batching, retries, dead letters."""

from .dead_letters import DeadLetterSink, DeadLetterWriter, is_dead_letter
from .endpoint import Endpoint, endpoint_from_settings
from .sender import AmplitudeSender, Outgoing, SendInterrupted, SendReport

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
