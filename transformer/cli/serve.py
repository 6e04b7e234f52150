"""`transformer serve`: the production webhook receiver (Starlette app on uvicorn)."""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from ..server import ReceiverOptions, Store, StoreError, create_app
from ..server.logs import configure
from ..server.store import SYNC_MODES
from .common import (
    DEFAULT_MAPPING,
    MappingOpt,
    SetOpt,
    SettingsOpt,
    check_listen_address,
    fail,
    load_from_options,
)

HTTP_PARSERS = ("auto", "h11", "httptools")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")

DataDirOpt = Annotated[Path, typer.Option(
    "--data-dir", metavar="DIR", help="Folder of the store (SQLite); one per instance.", show_default=False)]


def serve(
    data_dir: DataDirOpt,
    host: Annotated[str, typer.Option(metavar="HOST",
        help="Address to listen on (0.0.0.0 for every interface).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8080,
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    allow_unsigned: Annotated[bool, typer.Option(
        "--allow-unsigned-INSECURE",
        help="Accept webhooks without checking their signature. Anyone who can reach the port "
             "can then inject events: for local experiments only.")] = False,
    timestamp_tolerance: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds X-CIO-Timestamp may differ from this machine's clock.")] = 300.0,
    max_body_bytes: Annotated[int, typer.Option(metavar="BYTES",
        help="Larger bodies are refused with 413.")] = 1_048_576,
    dedupe_days: Annotated[float, typer.Option(metavar="DAYS",
        help="Days an event_id is remembered, so that Customer.io's retries are not stored twice.")] = 7.0,
    batch_size: Annotated[int | None, typer.Option(metavar="N",
        help="Most events per Amplitude request (default: the API's limit, 2000 on /batch).")] = None,
    concurrency: Annotated[int, typer.Option(metavar="N", help="Amplitude requests in flight.")] = 4,
    throttle_pause: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds a user or device named in a 429 is paused.")] = 30.0,
    retry_max_wait: Annotated[float, typer.Option(metavar="SECONDS",
        help="Longest wait between retries of a failing Amplitude request.")] = 30.0,
    blocked_pause: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds between tries while Amplitude refuses every request (e.g. invalid key).")] = 60.0,
    linger: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds events may gather before a small batch is sent.")] = 0.2,
    sync: Annotated[str, typer.Option(metavar="MODE",
        help="SQLite synchronous mode: full (survives power loss) or normal (survives a crash "
             "of the process).")] = "full",
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")] = "info",
    http: Annotated[str, typer.Option(metavar="PARSER",
        help="uvicorn HTTP parser: auto, h11 or httptools.")] = "auto",
    loop: Annotated[str, typer.Option(metavar="LOOP", help="Event loop: auto, asyncio or uvloop.")] = "auto",
) -> None:
    """Receive Customer.io webhooks on POST /webhooks/customerio, store them, forward to Amplitude."""
    compiled = load_from_options(mapping, assignments, settings_file)
    settings = compiled.settings
    if not settings.get("api_key"):
        fail("error: no Amplitude API key: export AMPLITUDE_API_KEY=… (or set api_key in a settings file)", 2)
    secret = settings.get("signing_secret")
    if not secret and not allow_unsigned:
        fail("error: no signing secret: export CIO_SIGNING_SECRET=… (the reporting webhook's signing "
             "key; or set signing_secret in a settings file). To accept unsigned webhooks anyway, "
             "pass --allow-unsigned-INSECURE", 2)
    if sync not in SYNC_MODES:
        fail(f"error: --sync must be one of {', '.join(SYNC_MODES)}, got {sync!r}", 2)
    for option, value, known in (("--http", http, HTTP_PARSERS), ("--loop", loop, EVENT_LOOPS)):
        if value not in known:
            fail(f"error: {option} must be one of {', '.join(known)}, got {value!r}", 2)
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        fail("error: --loop uvloop needs the uvloop package (pip install uvloop)", 2)
    check_listen_address(host, port)
    configure(log_level, secrets=[settings.get("api_key") or "", secret or ""])
    options = ReceiverOptions(
        allow_unsigned=allow_unsigned, timestamp_tolerance=timestamp_tolerance,
        max_body_bytes=max_body_bytes, dedupe_window=dedupe_days * 86400.0, batch_size=batch_size,
        concurrency=concurrency, throttle_pause=throttle_pause, backoff_max=retry_max_wait,
        blocked_pause=blocked_pause, linger=linger)
    try:
        store = Store(data_dir, synchronous=sync)
        store.lock()
    except StoreError as exc:
        fail(f"error: {exc}", 2)
    try:
        app = create_app(compiled, store, options)
        config = uvicorn.Config(app, host=host, port=port, http=http, loop=loop, lifespan="on",
                                log_config=None, access_log=False, server_header=False,
                                timeout_graceful_shutdown=30)
        server = uvicorn.Server(config)

        def stop(sig: int, frame: FrameType | None) -> None:
            # before uvicorn installs its handlers, and when it re-raises the signal after a
            # graceful shutdown: stop, and exit 0 rather than die by the signal
            server.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            server.run()
        except SystemExit as exc:  # uvicorn exits 3 when it cannot start (port taken, …)
            if exc.code not in (0, None):
                server.started = False
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        store.close()
    if not server.started:
        fail(f"error: the server did not start on {host}:{port} (the log above says why)", 1)
