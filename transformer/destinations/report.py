"""What a sender is given (`Outgoing`, `Prepared`) and what it says back (`SendReport`,
`SendInterrupted`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["Outgoing", "Prepared", "SendInterrupted", "SendReport"]


@dataclass(slots=True)
class Outgoing:
    """An event to send, with the id of the payload it came from (kept in dead letters) and an
    optional `ref` of the caller's own (a store's row id), handed back in callbacks."""

    event: dict[str, Any]
    source_id: str | None = None
    ref: Any = None


class Prepared(NamedTuple):
    """An event already checked and encoded for the sender's destination, by its `preflight`
    (which found nothing to refuse), `keys` and `encode_event`, e.g. in another process: the
    sender takes `body` and `keys` as they are and decodes the body (`decode_event`, which the
    destination must have) only where it needs the event again, for a dead letter or an
    `on_accepted`. A tuple, so that it is cheap to make and to pickle."""

    body: bytes
    keys: tuple[tuple[str, str], ...]
    source_id: str | None = None
    ref: Any = None


@dataclass(slots=True)
class SendReport:
    """What became of the events given to `send`: `retries` counts requests that carried
    events sent before, `resent` those events; `errors` counts the requests that were not
    accepted, by status (`"503"`, `"429"`, …) or `"network"`, and `last_error` says the latest."""

    host: str = ""
    events: int = 0
    accepted: int = 0
    set_aside: Counter[str] = field(default_factory=Counter)
    undelivered: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    resent: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    fatal: str | None = None
    unreachable: str | None = None  # set when connections fail before anything ever answered
    retrying: str | None = None     # why the last failed request is being retried; None after a success
    interrupted: bool = False
    stopped: bool = False
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every event was accepted or deliberately set aside."""
        return (not self.undelivered and self.fatal is None and not self.interrupted
                and not self.stopped)

    @property
    def pending(self) -> int:
        """Events neither accepted nor set aside nor undelivered (0 once `send` returns)."""
        return (self.events - self.accepted - sum(self.set_aside.values())
                - sum(self.undelivered.values()))


class SendInterrupted(KeyboardInterrupt):
    """Ctrl-C during `send`: every unsent event is in the dead letters; `report` says so."""

    def __init__(self, report: SendReport) -> None:
        super().__init__("interrupted")
        self.report = report
