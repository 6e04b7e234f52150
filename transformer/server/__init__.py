"""`transformer serve`: receive Customer.io webhooks, store them durably, forward to Amplitude.

    from . import Store, create_app
    app = create_app(mapping, Store("var"))       # an ASGI app (Starlette)
"""

from ..sources.customerio import Rejection, Verifier, sign
from .app import WEBHOOK_PATH, Receiver, ReceiverOptions, create_app
from .queue.sqlite import Store, StoreError

__all__ = [
    "WEBHOOK_PATH",
    "Receiver",
    "ReceiverOptions",
    "Rejection",
    "Store",
    "StoreError",
    "Verifier",
    "create_app",
    "sign",
]
