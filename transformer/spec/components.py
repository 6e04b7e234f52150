"""What a mapping's `destination:` and `source:` may name, and the settings each of them declares.

The spec layer knows no destination and no source: whoever loads a mapping hands the compiler a
`Components` (the built-in one is `transformer.catalog.COMPONENTS`, made from the destination and
source registries). The compiler checks the names the spec gives against it, and resolves the
settings they declare together with the mapping's own, so that `--set`, `--settings` and the
environment reach all of them alike. Expressions read only the mapping's own settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .settings import SettingDecl

__all__ = ["Components"]


@dataclass(frozen=True, slots=True)
class Components:
    """Destination and source names, each with the settings it declares (their `owner` set).

    `destination` replaces the spec's `destination:` (`transformer send --destination NAME`); it
    must be one of `destinations`."""

    destinations: Mapping[str, tuple[SettingDecl, ...]] = field(default_factory=dict)
    sources: Mapping[str, tuple[SettingDecl, ...]] = field(default_factory=dict)
    destination: str | None = None

    def choosing(self, destination: str | None) -> Components:
        """The same components, with `destination` used instead of the spec's (None: the spec's)."""
        if destination is not None and destination not in self.destinations:
            raise ValueError(f"unknown destination {destination!r}")
        return replace(self, destination=destination)

    def of(self, kind: str) -> Mapping[str, tuple[SettingDecl, ...]]:
        """The destinations (`kind` "destination") or the sources ("source")."""
        return self.destinations if kind == "destination" else self.sources
