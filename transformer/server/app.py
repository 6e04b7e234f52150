"""The receiver as an ASGI app: POST /webhooks/<source>, GET /healthz, /readyz, /metrics.

A webhook is answered 2xx only once it is committed to the store (or deliberately not stored:
a skip, a duplicate). Order of checks: size (413), the source's verification (401, the same
answer whatever was wrong), JSON (400), then nesting, the source's split of the body into
payloads (Customer.io: one), and the mapping: a payload nested deeper than `max_depth`, or
one the mapping cannot handle (whatever it raises), is still acknowledged and kept as a dead
letter, because a 400 would put the webhook on Customer.io's one-hour-pause list and hold back
every later webhook behind it for up to 7 days.

`create_app` returns a Starlette app whose lifespan starts and stops the writer and forwarder
threads; mounted inside another app, run `app.state.receiver.start()` / `.close()` (or the app's
`router.lifespan_context`) from the host app's lifespan. The webhook route is plain ASGI (no
Request or Response objects), and a POST to its path goes to it straight from the app's
`__call__`, past Starlette's middleware and router, which cost about a tenth of the receiver's
CPU under load (other paths and methods take the ordinary route: 404, 405; with middleware
added to the app, or the app mounted under a prefix, so does the webhook).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..destinations.base import Destination
from ..destinations.registry import destination_kind
from ..io.jsonio import DEFAULT_MAX_DEPTH, TooDeepError, dumps, loads_payload
from ..runtime.mapping import CompiledMapping
from ..scrub import Scrubber
from ..sources.base import Source
from ..sources.registry import source_kind
from .committer import Committer
from .forwarder import Forwarder
from .health import ForwarderState, Health
from .logs import log
from .metrics import ReceiverMetrics
from .peers import Peers
from .queue.base import Intake, Outcome, Queue

__all__ = ["WEBHOOK_PATH", "Receiver", "ReceiverOptions", "create_app"]

WEBHOOK_PATH = "/webhooks/customerio"
"""Where Customer.io's webhooks go (a source's webhooks go to /webhooks/<its name>)."""
_logger = logging.getLogger("transformer.server")
_JSON = "application/json"


def _answer(status: int, body: Mapping[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON)


_Answer = tuple[int, bytes]
"""A webhook's answer: its status and its JSON body."""

_UNAUTHORIZED = 401, orjson.dumps({"error": "unauthorized"})
_TOO_LARGE = 413, orjson.dumps({"error": "body too large"})
_NOT_JSON = 400, orjson.dumps({"error": "body is not JSON"})
_UNAVAILABLE = 503, orjson.dumps({"error": "not stored, try again"})
_OUTCOMES = {outcome: (200, orjson.dumps({"status": outcome})) for outcome in Outcome}


class _DisconnectedError(Exception):
    """The client went away before its body arrived."""


@dataclass(frozen=True, slots=True)
class ReceiverOptions:
    """How a receiver checks, stores and forwards (README: "Running the receiver")."""

    allow_unsigned: bool = False           # accept webhooks without checking signatures
    timestamp_tolerance: float = 300.0     # seconds a signature's timestamp may be off our clock
    max_body_bytes: int = 1_048_576        # larger bodies get 413
    max_depth: int = DEFAULT_MAX_DEPTH     # deeper JSON is acknowledged and kept as a dead letter
    dedupe_window: float = 7 * 86400.0     # seconds an event_id is remembered
    forward: bool = True                   # run the forwarder (False: only store)
    batch_size: int | None = None          # events per Amplitude request (None: the API's limit)
    concurrency: int = 4                   # Amplitude requests in flight
    throttle_pause: float = 30.0           # seconds a user/device named in a 429 waits
    backoff_max: float = 30.0              # longest wait between retries
    retry_window: float = 60.0             # seconds a claimed event is retried, then back to the queue
    lease: float | None = None             # seconds claimed events stay ours (None: 2 * retry_window + 30)
    linger: float = 0.2                    # seconds to let events gather between small rounds
    poll: float = 1.0                      # seconds between looks at an empty queue (other writers)
    blocked_pause: float = 60.0            # seconds between tries while Amplitude refuses the key
    commit_batch: int = 1000               # most ops in one store transaction
    stuck_after: float = 300.0             # /readyz: oldest event this old and no progress as long


class Receiver:
    """A receiver's parts: source (verification, payloads), mapping, group-commit writer,
    forwarder, metrics. `source` and `destination` default to those the mapping names, made
    from its settings (`signing_secret` replaces the source's secret setting). `peers` (a folder
    and this process's name in it): one process of `serve --workers`, sharing its counters and
    its forwarder's state with the others (`peers.Peers`)."""

    def __init__(self, mapping: CompiledMapping, store: Queue, options: ReceiverOptions | None = None, *,
                 signing_secret: str | None = None, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time, source: Source | None = None,
                 destination: Destination | None = None, peers: tuple[Path, str] | None = None) -> None:
        self.options = options = options or ReceiverOptions()
        self.source = source or _source(mapping, signing_secret, options)
        secrets = [mapping.settings.get(n) for n, d in mapping.settings.decls.items() if d.secret]
        self.scrub = Scrubber([*self.source.secrets, *(s for s in secrets if isinstance(s, str))])
        self.mapping = mapping
        self.store = store
        self.clock = clock
        self.metrics = ReceiverMetrics(list(self.source.rejections))
        self.committer = Committer(store, max_batch=options.commit_batch,
                                   dedupe_window=options.dedupe_window, on_commit=self._committed,
                                   on_stale=self.metrics.stale.inc)
        self.forwarder: Forwarder | None = None
        if options.forward:
            self.forwarder = Forwarder(
                self.committer, destination or _destination(mapping), self.metrics,
                linger=options.linger, idle=options.poll, blocked_pause=options.blocked_pause,
                retry_window=options.retry_window, lease=options.lease, concurrency=options.concurrency,
                throttle_pause=options.throttle_pause, backoff_max=options.backoff_max,
                max_events=options.batch_size, transport=transport)
            self.committer.on_stored = self.forwarder.wake
        self.peers: Peers | None = None
        forwarding: ForwarderState | None = self.forwarder
        if peers is not None:   # one of the processes of `serve --workers`
            self.peers = Peers(*peers, self.metrics, forwarder=self.forwarder)
            forwarding = forwarding or self.peers.remote_forwarder()
        self.health = Health(store, self.committer, forwarding, stuck_after=options.stuck_after)
        self._started = False
        self._closed = False

    def start(self) -> None:
        """Start the writer and forwarder threads."""
        if self._started:
            return
        self._started = True
        self.committer.start()
        if self.forwarder is not None:
            self.forwarder.start()
        if self.peers is not None:
            self.peers.start()
        log(_logger, "info", "receiver_started", store=self.store.location,
            signatures="verified" if self.source.verifies else "NOT VERIFIED (--allow-unsigned-INSECURE)",
            forwarding=self.forwarder.sender.url if self.forwarder else "off")
        if not self.source.verifies:
            log(_logger, "warning", "signatures_not_verified",
                detail="anyone who can reach this port can inject events into Amplitude")

    def close(self) -> None:
        """Stop forwarding, then commit what is queued; the store stays open (its owner closes it).
        Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self.forwarder is not None:
            self.forwarder.stop()
        self.committer.close()
        self.health.close()
        if self.peers is not None:
            self.peers.close()
        try:
            depth: int | str = self.store.stats().depth
        except Exception as exc:  # noqa: BLE001 - a store gone bad must not stop the shutdown
            depth = f"unknown ({exc})"
        log(_logger, "info", "receiver_stopped", queue_depth=depth)

    def _committed(self, ops: int) -> None:
        self.metrics.commits.inc()

    # routes ------------------------------------------------------------------------------

    async def webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /webhooks/<source>, as an ASGI app."""
        started = time.perf_counter()
        try:
            try:
                status, body = await self._webhook(scope, receive)
            except _DisconnectedError:  # nobody is there to answer; nothing was acknowledged
                return
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.metrics.duration.observe(time.perf_counter() - started)

    async def _webhook(self, scope: Scope, receive: Receive) -> _Answer:
        metrics = self.metrics
        metrics.received.inc()
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in reversed(scope["headers"])}   # the first of repeated ones
        body = await self._body(headers, receive)
        if body is None:
            metrics.invalid.inc(reason="too_large")
            return _TOO_LARGE
        rejection = self.source.verify(headers, body, self.clock())
        if rejection is not None:
            metrics.rejected_signatures.inc(reason=rejection)
            client = scope.get("client")
            log(_logger, "warning", "signature_rejected", reason=rejection,
                client=client[0] if client else None)
            return _UNAUTHORIZED
        try:
            document = loads_payload(body, self.options.max_depth)
        except TooDeepError as exc:
            log(_logger, "warning", "payload_error", event_id=None, rule="max_depth", path="$")
            return await self._keep(Intake(None, error=f"payload error: {exc}", payload=body), str(exc))
        except orjson.JSONDecodeError:
            metrics.invalid.inc(reason="not_json")
            return _NOT_JSON
        try:
            payloads = self.source.payloads(document)
        except Exception as exc:  # noqa: BLE001 - a body the source cannot split fails alone
            reason = self.scrub(f"cannot be split into payloads: {type(exc).__name__}: {exc}")
            log(_logger, "error", "split_failed", error=reason)
            return await self._keep(Intake(None, error=reason, payload=body))
        if len(payloads) == 1:
            return await self._payload(payloads[0], body)
        return await self._payloads(payloads)

    async def _payloads(self, payloads: list[Any]) -> _Answer:
        """A body of several payloads (or none): each is transformed and kept as if it came
        alone; 503 when any could not be stored (the sender retries the body, the others are
        then duplicates), else 200 with each payload's answer."""
        answers = [await self._payload(payload, dumps(payload)[:-1]) for payload in payloads]
        if any(status != 200 for status, _ in answers):
            return _UNAVAILABLE
        return 200, orjson.dumps({"status": "received" if answers else "empty",
                                  "payloads": [orjson.loads(text) for _, text in answers]})

    async def _payload(self, payload: Any, body: bytes) -> _Answer:
        """Transform one payload and keep it (`body`: its text, kept if it fails)."""
        metrics = self.metrics
        event_id = self.mapping.payload_id(payload)
        try:
            result = self.mapping.result(payload)
            if result.error is not None:
                error = result.error
                intake = Intake(event_id, error=self.scrub(f"payload error: {error}"), payload=body)
                log(_logger, "warning", "payload_error", event_id=event_id, rule=error.rule, path=error.path)
            elif result.skip is not None:
                metrics.skipped.inc(rule=result.skip.rule)
                return 200, orjson.dumps({"status": "skipped", "rule": result.skip.rule})
            else:
                intake = Intake(event_id, [dumps(event)[:-1] for event in result.events])
        except Exception as exc:  # noqa: BLE001 - whatever the mapping does, this webhook fails alone
            reason = self.scrub(f"cannot be transformed: {type(exc).__name__}: {exc}")
            intake = Intake(event_id, error=reason, payload=body)
            log(_logger, "error", "transform_failed", event_id=event_id, error=reason)
        return await self._keep(intake)

    async def _keep(self, intake: Intake, error: str | None = None) -> _Answer:
        """Commit the intake and answer: 200 once committed, 503 when it could not be."""
        metrics, event_id = self.metrics, intake.event_id
        if not self.committer.alive:
            metrics.store_errors.inc()
            return _UNAVAILABLE
        try:
            outcome = await self.committer.intake(intake)
        except Exception as exc:  # noqa: BLE001 - not committed: not acknowledged, Customer.io retries
            metrics.store_errors.inc()
            log(_logger, "error", "webhook_not_stored", event_id=event_id, error=str(exc))
            return _UNAVAILABLE
        if outcome == Outcome.DUPLICATE:
            metrics.duplicates.inc()
        elif outcome == Outcome.DEAD_LETTER:
            metrics.payload_errors.inc()
        else:
            metrics.stored.inc(len(intake.events))
        log(_logger, "debug", "webhook", event_id=event_id, outcome=outcome, events=len(intake.events))
        if error is None:
            return _OUTCOMES[outcome]
        return 200, orjson.dumps({"status": outcome, "error": error})

    async def _body(self, headers: Mapping[str, str], receive: Receive) -> bytes | None:
        """The raw body, or None when it is larger than allowed (read no further than that);
        raises _DisconnectedError when the client leaves first."""
        limit = self.options.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return None
        chunks = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _DisconnectedError
            chunks += message.get("body", b"")
            if len(chunks) > limit:
                return None
            if not message.get("more_body", False):
                return bytes(chunks)

    async def healthz(self, request: Request) -> Response:
        """GET /healthz (liveness): 200 while the writer (and forwarder) run."""
        problems = self.health.liveness()
        forwarder = self.health.forwarder
        forwarding = "off" if forwarder is None else ("blocked" if forwarder.blocked else "ok")
        return _answer(503 if problems else 200, {
            "status": "unhealthy" if problems else "ok", "problems": problems,
            "forwarding": forwarding, "signatures": "verified" if self.source.verifies else "NOT VERIFIED"})

    async def readyz(self, request: Request) -> Response:
        """GET /readyz (readiness): 200 when webhooks are safely taken in and forwarded."""
        problems, oldest = await self.health.readiness()
        return _answer(503 if problems else 200, {
            "status": "unready" if problems else "ready", "problems": problems,
            "queue_oldest_age_seconds": round(oldest, 3)})

    async def prometheus(self, request: Request) -> Response:
        """GET /metrics in Prometheus' text format."""
        try:
            await self.health.read(self._gauges)
        except Exception as exc:  # noqa: BLE001 - the counters are still worth serving
            log(_logger, "error", "metrics_store_read_failed", error=str(exc))
        others = await self.health.read(self.peers.others) if self.peers is not None else []
        return Response(self.metrics.render(others), media_type="text/plain; version=0.0.4; charset=utf-8")

    def _gauges(self) -> None:
        stats = self.store.stats()
        self.metrics.queue_depth.set(stats.depth)
        self.metrics.oldest_age.set(round(stats.oldest_age, 3))
        self.metrics.leased.set(stats.leased)
        self.metrics.dead_letters.set(stats.letters)


def create_app(mapping: CompiledMapping, store: Queue, options: ReceiverOptions | None = None, *,
               signing_secret: str | None = None, transport: httpx.BaseTransport | None = None,
               clock: Callable[[], float] = time.time, source: Source | None = None,
               destination: Destination | None = None, peers: tuple[Path, str] | None = None) -> Starlette:
    """The receiver's ASGI app; `app.state.receiver` is its `Receiver` (which see for `source`,
    `destination` and `peers`)."""
    receiver = Receiver(mapping, store, options, signing_secret=signing_secret, transport=transport,
                        clock=clock, source=source, destination=destination, peers=peers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        receiver.start()
        try:
            yield
        finally:
            await run_in_threadpool(receiver.close)

    app = _ReceiverApp(receiver, routes=[
        Route(f"/webhooks/{receiver.source.name}", _Asgi(receiver.webhook), methods=["POST"]),
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/readyz", receiver.readyz, methods=["GET"]),
        Route("/metrics", receiver.prometheus, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.receiver = receiver
    return app


class _Asgi:
    """An ASGI app that calls `app` (Starlette's Route takes a function or method for one that
    takes a Request and returns a Response)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _ReceiverApp(Starlette):
    """Starlette, with POST to the webhook path handed straight to the receiver, unless
    middleware was added to the app (which then sees every request)."""

    def __init__(self, receiver: Receiver, **options: Any) -> None:
        super().__init__(**options)
        self._webhook = receiver.webhook
        self._webhook_path = f"/webhooks/{receiver.source.name}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self._webhook_path
                and not self.user_middleware):
            await self._webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _source(mapping: CompiledMapping, signing_secret: str | None, options: ReceiverOptions) -> Source:
    """The source the mapping names, from its settings; refuses one that cannot verify unless
    unsigned webhooks are allowed."""
    if mapping.plan.source is None:
        raise ValueError("the mapping names no source (add `source: customerio` to it)")
    kind = source_kind(mapping.plan.source)
    settings = dict(mapping.settings)
    if signing_secret is not None:
        settings[kind.secret] = signing_secret
    source = kind.create(settings, options.timestamp_tolerance)
    if not source.verifies and not options.allow_unsigned:
        raise ValueError(f"no signing secret (setting {kind.secret}, env {kind.secret_env}); "
                         "refusing to accept unsigned webhooks unless allow_unsigned is set")
    return source


def _destination(mapping: CompiledMapping) -> Destination:
    """The destination the mapping names, from its settings."""
    if mapping.plan.destination is None:
        raise ValueError("the mapping names no destination (add `destination: amplitude` to it)")
    return destination_kind(mapping.plan.destination).create(mapping.settings)
