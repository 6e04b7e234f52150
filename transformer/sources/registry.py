"""Every source a mapping may name (`source: NAME`): one import and one entry each."""

from __future__ import annotations

from ..errors import did_you_mean
from .base import SourceKind
from .customerio import CUSTOMERIO

__all__ = ["SOURCES", "source_kind"]

SOURCES: dict[str, SourceKind] = {kind.name: kind for kind in (CUSTOMERIO,)}


def source_kind(name: str) -> SourceKind:
    """The source called `name`; raises `ValueError` naming the known ones."""
    kind = SOURCES.get(name)
    if kind is None:
        raise ValueError(f"unknown source '{name}'{did_you_mean(name, SOURCES)} "
                         f"(known: {', '.join(sorted(SOURCES))})")
    return kind
