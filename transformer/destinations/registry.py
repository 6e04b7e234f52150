"""Every destination a mapping may name (`destination: NAME`): one import and one entry each."""

from __future__ import annotations

from ..errors import unknown_name
from .amplitude.destination import AMPLITUDE
from .base import DestinationKind
from .http.destination import HTTP

__all__ = ["DESTINATIONS", "destination_kind"]

DESTINATIONS: dict[str, DestinationKind] = {kind.name: kind for kind in (AMPLITUDE, HTTP)}


def destination_kind(name: str) -> DestinationKind:
    """The destination called `name`; raises `ValueError` naming the known ones."""
    kind = DESTINATIONS.get(name)
    if kind is None:
        raise ValueError(unknown_name("destination", name, DESTINATIONS))
    return kind
