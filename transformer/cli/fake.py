"""`transformer fake-amplitude`: a local fake Amplitude to try `send` against."""

from __future__ import annotations

from typing import Annotated

import typer

from ..destinations.amplitude.fake import FakeAmplitude, Faults
from .common import check_listen_address, err, fail

__all__ = ["fake_amplitude"]


def fake_amplitude(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port on 127.0.0.1.")] = 8787,
    api_key: Annotated[str | None, typer.Option(metavar="KEY",
        help="Accept only this key (default: any); read it from an environment variable in scripts.")] = None,
    error_rate: Annotated[float, typer.Option(metavar="SHARE", help="Share of requests answered 503.")] = 0.0,
    throttle_rate: Annotated[float, typer.Option(metavar="SHARE",
        help="Share of requests answered 429.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(metavar="SHARE",
        help="Share of connections dropped without answer.")] = 0.0,
) -> None:
    """Serve a fake Amplitude on 127.0.0.1 (send with --set endpoint=http://127.0.0.1:PORT).
    Exit 1 when the port is taken, 2 for a bad option."""
    for name, rate in (("--error-rate", error_rate), ("--throttle-rate", throttle_rate),
                       ("--drop-rate", drop_rate)):
        if not 0.0 <= rate <= 1.0:
            fail(f"error: {name} is a share of requests, from 0 to 1; got {rate:g}", 2)
    check_listen_address("127.0.0.1", port)
    try:
        server = FakeAmplitude("127.0.0.1", port, api_key=api_key,
                               faults=Faults(error=error_rate, throttle=throttle_rate, drop=drop_rate))
    except OSError as exc:  # taken between the check and now
        fail(f"error: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", 1)
    err(f"fake Amplitude on {server.url} (/batch, /2/httpapi, GET /stats); Ctrl-C to stop")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        err(f"stats: {server.stats()}")
