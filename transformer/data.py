"""Files shipped with the project: the schemas and the bundled mapping."""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_file"]


def data_file(*parts: str) -> Path:
    """A file shipped with the project: `schemas/…` or `mappings/…`."""
    bundled = Path(__file__).parent / "_data" / Path(*parts)
    if bundled.exists():
        return bundled
    return Path(__file__).resolve().parent.parent / Path(*parts)
