"""`transformer fake DESTINATION` (and `fake-amplitude`): a local fake destination to try `send`
against, with faults on demand."""

from __future__ import annotations

from typing import Annotated

import typer

from ..destinations.base import DestinationKind
from ..destinations.fake import Faults
from ..destinations.registry import DESTINATIONS, destination_kind
from .basics import check_listen_address, err, fail

__all__ = ["fake", "fake_amplitude"]

_PortOpt = Annotated[int, typer.Option(metavar="PORT", help="Port on 127.0.0.1.")]
_ErrorRateOpt = Annotated[float, typer.Option(metavar="SHARE", help="Share of requests answered 503.")]
_ThrottleRateOpt = Annotated[float, typer.Option(metavar="SHARE", help="Share of requests answered 429.")]
_DropRateOpt = Annotated[float, typer.Option(metavar="SHARE",
                                            help="Share of connections dropped without answer.")]


def fake(
    destination: Annotated[str, typer.Argument(
        metavar="DESTINATION", help=f"Which destination to fake: {', '.join(sorted(DESTINATIONS))}.")],
    port: _PortOpt = 8787,
    key: Annotated[str | None, typer.Option(metavar="KEY",
        help="Accept only this credential (the destination's key or token); default: any.")] = None,
    error_rate: _ErrorRateOpt = 0.0,
    throttle_rate: _ThrottleRateOpt = 0.0,
    drop_rate: _DropRateOpt = 0.0,
    retry_after: Annotated[float | None, typer.Option(metavar="SECONDS",
        help="Send Retry-After with every 503 and 429.")] = None,
) -> None:
    """Serve a fake of a destination on 127.0.0.1, with faults on demand, to send to (see the
    README's Destinations and sources). Exit 1 when the port is taken, 2 for a bad option."""
    try:
        kind = destination_kind(destination)
    except ValueError as exc:
        fail(f"error: {exc}", 2)
    _serve(kind, port, key, error_rate, throttle_rate, drop_rate, retry_after)


def fake_amplitude(
    port: _PortOpt = 8787,
    api_key: Annotated[str | None, typer.Option(metavar="KEY",
        help="Accept only this key (default: any); read it from an environment variable in scripts.")] = None,
    error_rate: _ErrorRateOpt = 0.0,
    throttle_rate: _ThrottleRateOpt = 0.0,
    drop_rate: _DropRateOpt = 0.0,
) -> None:
    """Serve a fake Amplitude on 127.0.0.1 (send with --set endpoint=http://127.0.0.1:PORT);
    the same as `transformer fake amplitude`. Exit 1 when the port is taken, 2 for a bad option."""
    _serve(destination_kind("amplitude"), port, api_key, error_rate, throttle_rate, drop_rate, None)


def _serve(kind: DestinationKind, port: int, key: str | None, error_rate: float, throttle_rate: float,
           drop_rate: float, retry_after: float | None) -> None:
    for name, rate in (("--error-rate", error_rate), ("--throttle-rate", throttle_rate),
                       ("--drop-rate", drop_rate)):
        if not 0.0 <= rate <= 1.0:
            fail(f"error: {name} is a share of requests, from 0 to 1; got {rate:g}", 2)
    if retry_after is not None and retry_after < 0:
        fail(f"error: --retry-after is a number of seconds, 0 or more; got {retry_after:g}", 2)
    check_listen_address("127.0.0.1", port)
    faults = Faults(error=error_rate, throttle=throttle_rate, drop=drop_rate, retry_after=retry_after)
    try:
        server = kind.fake("127.0.0.1", port, key=key, faults=faults)
    except OSError as exc:  # taken between the check and now
        fail(f"error: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", 1)
    err(f"{server.title} on {server.url} ({server.routes}); Ctrl-C to stop")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        err(f"stats: {server.stats()}")
