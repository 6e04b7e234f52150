"""Every source a mapping may name (`source: NAME`): one import and one entry each."""

from __future__ import annotations

from ..errors import unknown_name
from .base import SourceKind
from .customerio import CUSTOMERIO

__all__ = ["SOURCES", "source_kind"]

SOURCES: dict[str, SourceKind] = {kind.name: kind for kind in (CUSTOMERIO,)}


def source_kind(name: str) -> SourceKind:
    """The source called `name`; raises `ValueError` naming the known ones."""
    kind = SOURCES.get(name)
    if kind is None:
        raise ValueError(unknown_name("source", name, SOURCES))
    return kind
