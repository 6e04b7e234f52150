"""Running one receiver of `transformer serve`: the checks before it starts, its queue, uvicorn
(`serve.py` has the command's options; `serve_workers.py` runs several of these)."""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import logging
import socket
import sys
import time
from pathlib import Path
from types import FrameType

import uvicorn

from ..destinations.base import Destination
from ..runtime.mapping import CompiledMapping
from ..server import QueueError, ReceiverOptions, create_app
from ..server.guard import REFUSAL_SLOTS, HttpLimits, guarded_protocol, raise_descriptor_limit
from ..server.logs import log
from ..server.queue.base import Queue
from ..server.queue.sqlite import SYNC_MODES
from ..sources.registry import source_kind
from .basics import fail, make_destination
from .queue_cmd import open_queue

__all__ = ["EVENT_LOOPS", "HTTP_PARSERS", "MIN_SECRET_LENGTH", "SWITCH_INTERVAL", "Stop", "checked_options",
           "open_store", "run_receiver"]

HTTP_PARSERS = ("auto", "h11", "httptools")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")

_logger = logging.getLogger("transformer.server")

MIN_SECRET_LENGTH = 16
"""The shortest signing secret serve accepts."""


class Stop:
    """SIGTERM and Ctrl-C: stop gracefully and exit 128 + the signal (143, 130). uvicorn's own
    handlers take over while it serves; it re-raises the signal after its graceful shutdown,
    which lands here and is remembered."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.server: uvicorn.Server | None = None

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        if self.signal is None:
            self.signal = sig
        if self.server is not None:
            self.server.should_exit = True


def checked_options(compiled: CompiledMapping, options: ReceiverOptions, *, sync: str, http: str,
                    loop: str) -> tuple[Destination | None, list[str]]:
    """Exit 2 on an option serve cannot run with; else the destination to forward to (None when
    `options.forward` is off) and the secrets logs must never show."""
    target = make_destination(compiled) if options.forward else None
    secret = _signing_secret(compiled, options)
    if secret and len(secret) < MIN_SECRET_LENGTH:
        fail(f"error: the signing secret has {len(secret)} characters; serve needs at least "
             f"{MIN_SECRET_LENGTH} (a short secret is easy to guess, and scrubbing it from logs would "
             "blank ordinary words). Use the whole signing key from Customer.io's webhook settings.", 2)
    if sync not in SYNC_MODES:
        fail(f"error: --sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}", 2)
    for option, value, known in (("--http", http, HTTP_PARSERS), ("--loop", loop, EVENT_LOOPS)):
        if value not in known:
            fail(f"error: {option} must be one of {', '.join(known)}, got {value!r}", 2)
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        fail("error: --loop uvloop needs the uvloop package (pip install uvloop)", 2)
    return target, [*(target.secrets if target is not None else ()), secret or ""]


def run_receiver(stop: Stop, compiled: CompiledMapping, options: ReceiverOptions, limits: HttpLimits,
                 store: Queue, destination: Destination | None, host: str, port: int, *, http: str,
                 loop: str, sockets: list[socket.socket] | None = None,
                 peers: tuple[Path, str] | None = None) -> None:
    """Serve the receiver on `host`:`port` (or on `sockets`, already listening: a worker of
    `--workers`, with its `peers`) until a signal; closes `store`. Exit 1 when uvicorn cannot
    start."""
    limits = _within_descriptors(limits, reserve=_RESERVED_DESCRIPTORS + options.concurrency)
    receiver = None
    try:
        if stop.signal is not None:
            return
        app = create_app(compiled, store, options, destination=destination, peers=peers)
        receiver = app.state.receiver
        protocol = guarded_protocol(http, limits, receiver.metrics)
        config = uvicorn.Config(app, host=host, port=port, http=protocol, loop=loop, lifespan="on",
                                log_config=None, access_log=False, server_header=False,
                                # uvicorn types it int; it hands it to loop.call_later, which takes any number
                                timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
                                h11_max_incomplete_event_size=limits.max_header_bytes + 1,
                                timeout_graceful_shutdown=30)
        server = stop.server = uvicorn.Server(config)
        _settle_heap()
        try:
            server.run(sockets=sockets)
        except SystemExit as exc:  # uvicorn exits 3 when it cannot start (port taken, …)
            if exc.code not in (0, None):
                server.started = False
    finally:
        if receiver is not None:
            receiver.close()  # done already by the app's lifespan, unless a second Ctrl-C cut it short
        store.close()
    if not server.started and stop.signal is None:
        fail(f"error: the server did not start on {host}:{port} (the log above says why)", 1)


SWITCH_INTERVAL = 0.001
"""Seconds a thread holds the GIL while another waits for it (Python's default: 0.005)."""


def _settle_heap() -> None:
    """Before serving: keep what is loaded by now (libraries, the compiled mapping, about 50,000
    objects) out of the garbage collector's passes, which otherwise walk all of it (a full one:
    about 20 ms with the GIL held, on this 2-core machine under load) every few seconds under
    load and stall every request in flight; and let the event loop take the GIL back sooner
    from the writer and forwarder threads, a webhook passing between them twice."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)


def _signing_secret(compiled: CompiledMapping, options: ReceiverOptions) -> str | None:
    """The secret the mapping's source verifies webhooks with; exit 2 when the mapping names no
    source, or when there is no secret and unsigned webhooks are not allowed."""
    if compiled.plan.source is None:
        fail("error: the mapping names no source: add `source: customerio` to it", 2)
    kind = source_kind(compiled.plan.source)
    secret: str | None = compiled.settings.get(kind.secret)
    if not secret and not options.allow_unsigned:
        fail(f"error: no signing secret: export {kind.secret_env}=… ({kind.secret_hint}; or set "
             f"{kind.secret} in a settings file). To accept unsigned webhooks anyway, pass "
             "--allow-unsigned-INSECURE", 2)
    return secret


_RESERVED_DESCRIPTORS = 32 + REFUSAL_SLOTS
"""Descriptors kept for the store, logs, the event loop and lingering refusals, besides
Amplitude connections (about 20 are open when idle)."""


def _within_descriptors(limits: HttpLimits, reserve: int) -> HttpLimits:
    """Raise the open-files limit for `max_connections`, or lower `max_connections` to fit it, so
    that accept() never fails for want of a descriptor."""
    available = raise_descriptor_limit(limits.max_connections + reserve) - reserve
    if available >= limits.max_connections:
        return limits
    allowed = max(1, available)
    log(_logger, "warning", "max_connections_lowered", requested=limits.max_connections,
        allowed=allowed, detail=f"the open-files limit (ulimit -n) leaves room for {allowed} "
                                "connections; raise it to allow more")
    return dataclasses.replace(limits, max_connections=allowed)


def open_store(data_dir: Path | None, queue_url: str | None, sync: str, *, shared: bool = False) -> Queue:
    """The queue, prepared for serving (SQLite: locked and checked for damage; each: shown to take
    a commit); else exit 2. `shared`: a worker of `serve --workers`, whose supervisor prepared
    the queue and holds it: only shown to take a commit."""
    store = open_queue(data_dir, queue_url, sync=sync)
    try:
        started = time.monotonic()
        if shared:
            store.probe()
        else:
            store.prepare()
        log(_logger, "info", "store_checked", store=store.location,
            seconds=round(time.monotonic() - started, 3))
    except QueueError as exc:
        store.close()
        fail(f"error: {exc}", 2)
    return store
