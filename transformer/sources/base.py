"""What the receiver needs from a source of webhooks, and what the registry knows of one.

A `Source` checks each request (`verify`: None, or a short reason for refusing it, used as a
metric label and never shown to the caller) and splits an accepted body into the payloads the
mapping transforms (`payloads`: Customer.io sends one per body). Parsing the body (size and
nesting limits, "not JSON") stays with the receiver, the same for every source. A `SourceKind`
is a registry entry: the name (the receiver takes its webhooks at `/webhooks/<name>`), the
settings the source declares, which of them is the verifying secret, and how to make a `Source`
from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..spec.settings import SettingDecl, env_names

__all__ = ["Source", "SourceKind"]


class Source(Protocol):
    """One source of webhooks, configured."""

    @property
    def name(self) -> str:
        """Its registry name: "customerio"."""

    @property
    def verifies(self) -> bool:
        """False when built without a secret: `verify` then refuses nothing."""

    @property
    def rejections(self) -> tuple[str, ...]:
        """Every reason `verify` may give (metric labels)."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Scrubbed out of logs and dead-letter reasons."""

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
        """None for a request that is signed as it must be and recent (`now`: unix seconds);
        else why it is refused, one of `rejections`."""

    def payloads(self, body: Any) -> list[Any]:
        """The payloads of one accepted body (already parsed as JSON), in order."""


@dataclass(frozen=True, slots=True)
class SourceKind:
    """What the registry knows of a source. `create(settings, tolerance)` makes one (`tolerance`:
    seconds a signed timestamp may be from our clock); `secret` names the setting that holds
    its verifying secret (`serve` refuses to start without it unless told to accept unsigned
    webhooks), `secret_hint` says what that secret is, for people. `sign(secret, body, now)` is
    the client's side: the headers that make a request with this body verify (for tests, load
    generators and people trying `serve`)."""

    name: str
    settings: tuple[SettingDecl, ...]
    secret: str
    secret_hint: str
    create: Callable[[Mapping[str, Any], float], Source]
    sign: Callable[[str, bytes, float], dict[str, str]]

    @property
    def secret_env(self) -> str:
        """The environment variable read first for the secret: `CIO_SIGNING_SECRET`."""
        decl = next(d for d in self.settings if d.name == self.secret)
        return env_names(decl)[0]
