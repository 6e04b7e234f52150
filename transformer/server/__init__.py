"""`transformer serve`: receive Customer.io webhooks, store them durably, forward to Amplitude.

    from . import SqliteQueue, create_app
    app = create_app(mapping, SqliteQueue("var"))       # an ASGI app (Starlette)
"""

from ..sources.customerio import Rejection, Verifier, sign
from .app import WEBHOOK_PATH, Receiver, ReceiverOptions, create_app
from .queue.base import Queue, QueueError
from .queue.sqlite import SqliteQueue

__all__ = [
    "WEBHOOK_PATH",
    "Queue",
    "QueueError",
    "Receiver",
    "ReceiverOptions",
    "Rejection",
    "SqliteQueue",
    "Verifier",
    "create_app",
    "sign",
]
