"""`transformer serve`: the production webhook receiver (Starlette app on uvicorn)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..io.jsonio import DEFAULT_MAX_DEPTH
from ..runtime.mapping import CompiledMapping
from ..server import ReceiverOptions
from ..server.guard import HttpLimits
from ..server.logs import configure
from .basics import DEFAULT_MAPPING, check_listen_address, load_from_options
from .serve_run import Stop, checked_options, open_store, run_receiver

if TYPE_CHECKING:
    from .serve_workers import Workers

__all__ = ["serve"]


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
    workers: Annotated[int, _opt("--workers", "N",
        "Receiver processes sharing the port and the queue (each takes in webhooks); the forwarder "
        "then runs in the process that starts them. 1: one process does both.", min=1, aliases=("-w",))
                       ] = 1,
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
    stop = Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        compiled = load_from_options(mapping, assignments, settings_file, destination=destination)
        spawn = None
        if workers > 1:
            from .serve_workers import Workers

            spawn = Workers(workers, mapping, assignments, str(settings_file) if settings_file else None,
                            destination, str(data_dir) if data_dir else None, queue_url, sync, log_level,
                            http, loop, limits)
        _serve(stop, data_dir, queue_url, host, port, compiled, options, limits, sync=sync,
               log_level=log_level, http=http, loop=loop, workers=spawn)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.signal is not None:
        raise typer.Exit(128 + stop.signal)


def _serve(stop: Stop, data_dir: Path | None, queue_url: str | None, host: str, port: int,
           compiled: CompiledMapping, options: ReceiverOptions, limits: HttpLimits, *, sync: str,
           log_level: str, http: str, loop: str, workers: Workers | None = None) -> None:
    target, secrets = checked_options(compiled, options, sync=sync, http=http, loop=loop)
    check_listen_address(host, port)
    configure(log_level, secrets=secrets)
    if workers is not None:
        from .serve_workers import supervise

        supervise(stop, workers, compiled, options, open_store(data_dir, queue_url, sync), target,
                  host, port)
        return
    run_receiver(stop, compiled, options, limits, open_store(data_dir, queue_url, sync), target,
                 host, port, http=http, loop=loop)


