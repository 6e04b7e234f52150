"""`transformer serve`: receive Customer.io webhooks, store them durably, forward to Amplitude.

    from transformer.server import Store, create_app
    app = create_app(mapping, Store("var"))       # an ASGI app (Starlette)
"""

from .app import WEBHOOK_PATH, Receiver, ReceiverOptions, create_app
from .signature import Rejection, Verifier, sign
from .store import Store, StoreError

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
