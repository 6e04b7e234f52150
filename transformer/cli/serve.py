"""`transformer serve`: the production webhook receiver (Starlette app on uvicorn)."""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn

from ..io.jsonio import DEFAULT_MAX_DEPTH
from ..runtime.mapping import CompiledMapping
from ..server import QueueError, ReceiverOptions, create_app
from ..server.guard import REFUSAL_SLOTS, HttpLimits, guarded_protocol, raise_descriptor_limit
from ..server.logs import configure, log
from ..server.queue.base import Queue
from ..server.queue.sqlite import SYNC_MODES
from ..sources.registry import source_kind
from .common import DEFAULT_MAPPING, check_listen_address, fail, load_from_options, make_destination
from .queue_cmd import open_queue

__all__ = ["EVENT_LOOPS", "HTTP_PARSERS", "MIN_SECRET_LENGTH", "SWITCH_INTERVAL", "serve"]

HTTP_PARSERS = ("auto", "h11", "httptools")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")

_logger = logging.getLogger("transformer.server")

MIN_SECRET_LENGTH = 16
"""The shortest signing secret serve accepts."""

def _env(flag: str) -> str:
    """The environment variable a serve flag also reads: --retry-max-wait → TRANSFORMER_RETRY_MAX_WAIT."""
    return "TRANSFORMER_" + flag.lstrip("-").upper().replace("-", "_")


def _opt(flag: str, metavar: str | None, help: str, **more: Any) -> Any:
    return typer.Option(flag, *more.pop("aliases", ()), metavar=metavar, envvar=_env(flag), help=help,
                        **more)


def serve(
    data_dir: Annotated[Path | None, _opt("--data-dir", "DIR",
        "Folder of an SQLite queue (one receiver); or give --queue.", show_default=False)] = None,
    queue_url: Annotated[str | None, typer.Option("--queue", metavar="URL", envvar="TRANSFORMER_QUEUE_URL",
        help="A PostgreSQL queue shared by several receivers: postgresql://USER[:PASSWORD]@HOST:PORT/DB "
             "(needs pip install 'transformer[postgres]').", show_default=False)] = None,
    host: Annotated[str, _opt("--host", "HOST", "Address to listen on (0.0.0.0 for every interface).")
                    ] = "127.0.0.1",
    port: Annotated[int, _opt("--port", "PORT", "Port to listen on.")] = 8080,
    mapping: Annotated[str, _opt("--mapping", "PATH", "Mapping spec (YAML).", aliases=("-m",))
                       ] = DEFAULT_MAPPING,
    assignments: Annotated[list[str] | None, _opt("--set", "NAME=VALUE",
        "Set a setting (repeatable; the variable holds them separated by spaces).", aliases=("-s",))
                           ] = None,
    settings_file: Annotated[Path | None, _opt("--settings", "FILE", "YAML or JSON file of setting values.")
                             ] = None,
    allow_unsigned: Annotated[bool, _opt("--allow-unsigned-INSECURE", None,
        "Accept webhooks without checking their signature. Anyone who can reach the port "
        "can then inject events: for local experiments only.")] = False,
    timestamp_tolerance: Annotated[float, _opt("--timestamp-tolerance", "SECONDS",
        "Seconds X-CIO-Timestamp may differ from this machine's clock.")] = 300.0,
    max_body_bytes: Annotated[int, _opt("--max-body-bytes", "BYTES",
        "Larger bodies are refused with 413.")] = 1_048_576,
    max_depth: Annotated[int, _opt("--max-depth", "N",
        "Deepest nesting of a webhook's JSON; deeper ones are acknowledged and kept as dead "
        "letters.")] = DEFAULT_MAX_DEPTH,
    max_header_bytes: Annotated[int, _opt("--max-header-bytes", "BYTES",
        "Most bytes of request line and headers; beyond, 431 and the connection is closed.")
    ] = 32 * 1024,
    request_timeout: Annotated[float, _opt("--request-timeout", "SECONDS",
        "Seconds a request may take to arrive complete; then 408 and close.")] = 10.0,
    body_timeout: Annotated[float, _opt("--body-timeout", "SECONDS",
        "Seconds of silence allowed while a body arrives; then 408 and close.")] = 5.0,
    max_connections: Annotated[int, _opt("--max-connections", "N",
        "Open connections at most; more are answered 503 and closed.")] = 2048,
    keep_alive_timeout: Annotated[float, _opt("--keep-alive-timeout", "SECONDS",
        "Seconds an idle keep-alive connection stays open.")] = 5.0,
    stuck_after: Annotated[float, _opt("--stuck-after", "SECONDS",
        "/readyz reports forwarding stuck when the oldest waiting event is older than this "
        "and nothing was delivered for as long.")] = 300.0,
    dedupe_days: Annotated[float, _opt("--dedupe-days", "DAYS",
        "Days a payload id (event_id, or the body's hash) is remembered, so that Customer.io's "
        "retries are not stored twice.")] = 7.0,
    batch_size: Annotated[int | None, _opt("--batch-size", "N",
        "Most events per Amplitude request (default: the API's limit, 2000 on /batch).")] = None,
    concurrency: Annotated[int, _opt("--concurrency", "N", "Amplitude requests in flight.")] = 4,
    throttle_pause: Annotated[float, _opt("--throttle-pause", "SECONDS",
        "Seconds a user or device named in a 429 is paused (by every receiver on the queue).")] = 30.0,
    retry_max_wait: Annotated[float, _opt("--retry-max-wait", "SECONDS",
        "Longest wait between retries of a failing Amplitude request.")] = 30.0,
    retry_window: Annotated[float, _opt("--retry-window", "SECONDS",
        "Seconds claimed events are retried before they go back to the queue for later.")] = 60.0,
    lease: Annotated[float | None, _opt("--lease", "SECONDS",
        "How long claimed events stay this receiver's; if it dies, others take them after this "
        "(default: twice --retry-window and 30 s).", show_default=False)] = None,
    blocked_pause: Annotated[float, _opt("--blocked-pause", "SECONDS",
        "Seconds between tries while Amplitude refuses every request (e.g. invalid key).")] = 60.0,
    linger: Annotated[float, _opt("--linger", "SECONDS",
        "Seconds events may gather before a small batch is sent.")] = 0.2,
    sync: Annotated[str, _opt("--sync", "MODE",
        "SQLite synchronous mode: full (survives power loss) or normal (survives a crash "
        "of the process).")] = "full",
    log_level: Annotated[str, _opt("--log-level", "LEVEL", "debug, info, warning or error.")] = "info",
    http: Annotated[str, _opt("--http", "PARSER", "uvicorn HTTP parser: auto, h11 or httptools.")] = "auto",
    loop: Annotated[str, _opt("--loop", "LOOP", "Event loop: auto, asyncio or uvloop.")] = "auto",
    destination: Annotated[str | None, _opt("--destination", "NAME",
        "Deliver to this destination instead of the mapping's (with its settings).",
        show_default=False)] = None,
) -> None:
    """Receive webhooks from the mapping's source on POST /webhooks/SOURCE (Customer.io:
    /webhooks/customerio), store them, forward to the mapping's destination (Amplitude)."""
    options = ReceiverOptions(
        allow_unsigned=allow_unsigned, timestamp_tolerance=timestamp_tolerance,
        max_body_bytes=max_body_bytes, max_depth=max_depth, dedupe_window=dedupe_days * 86400.0,
        batch_size=batch_size, concurrency=concurrency, throttle_pause=throttle_pause,
        backoff_max=retry_max_wait, retry_window=retry_window, lease=lease, blocked_pause=blocked_pause,
        linger=linger, stuck_after=stuck_after)
    limits = HttpLimits(max_header_bytes=max_header_bytes, request_timeout=request_timeout,
                        body_timeout=body_timeout, max_connections=max_connections,
                        keep_alive_timeout=keep_alive_timeout)
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        compiled = load_from_options(mapping, assignments, settings_file, destination=destination)
        _serve(stop, data_dir, queue_url, host, port, compiled, options, limits, sync=sync,
               log_level=log_level, http=http, loop=loop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.signal is not None:
        raise typer.Exit(128 + stop.signal)


class _Stop:
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


def _serve(stop: _Stop, data_dir: Path | None, queue_url: str | None, host: str, port: int,
           compiled: CompiledMapping, options: ReceiverOptions, limits: HttpLimits, *, sync: str,
           log_level: str, http: str, loop: str) -> None:
    target = make_destination(compiled)
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
    check_listen_address(host, port)
    configure(log_level, secrets=[*target.secrets, secret or ""])
    limits = _within_descriptors(limits, reserve=_RESERVED_DESCRIPTORS + options.concurrency)
    store = _open_store(data_dir, queue_url, sync)
    receiver = None
    try:
        if stop.signal is not None:
            return
        app = create_app(compiled, store, options, destination=target)
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
            server.run()
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


def _open_store(data_dir: Path | None, queue_url: str | None, sync: str) -> Queue:
    """The queue, prepared for serving (SQLite: locked and checked for damage; each: shown to take
    a commit); else exit 2."""
    store = open_queue(data_dir, queue_url, sync=sync)
    try:
        started = time.monotonic()
        store.prepare()
        log(_logger, "info", "store_checked", store=store.location,
            seconds=round(time.monotonic() - started, 3))
    except QueueError as exc:
        store.close()
        fail(f"error: {exc}", 2)
    return store
