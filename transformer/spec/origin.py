"""What a plan is compiled from, as plain data: the YAML text, its file name, and the files the
spec names (`input.schema`, `output.schema`, the `tests` folder).

`SpecFiles` finds those files relative to the spec's folder and records each one it found: the
bytes of a file it read, no bytes for a folder. A compiled mapping carries that record (an
`Origin`) when it is pickled, so that another process compiles the same text again from the
record alone: the files need not exist there, and are not read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Found", "Origin", "SpecFiles"]


@dataclass(frozen=True, slots=True)
class Found:
    """A file or folder a spec names: where it was found, and a file's bytes once read."""

    path: str
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """The YAML text of a spec, the file name it was read under, and what it named, as found."""

    text: str
    file: str
    files: Mapping[str, Found] = field(default_factory=dict)


class SpecFiles:
    """Finds and reads what a spec names, relative to the spec's folder; with `recorded`, from
    that record only (what a pickled mapping carries). `found` records every name found."""

    def __init__(self, spec_file: str, recorded: Mapping[str, Found] | None = None) -> None:
        self.folder = Path(spec_file).parent
        self.recorded = recorded
        self.found: dict[str, Found] = {}

    def find(self, name: str) -> Path | None:
        """Where `name` is (an absolute path), or None when nothing by that name exists."""
        if self.recorded is not None:
            found = self.recorded.get(name)
            if found is None:
                return None
            self.found[name] = found
            return Path(found.path)
        path = (self.folder / name).resolve()
        if not path.exists():
            return None
        self.found.setdefault(name, Found(str(path)))
        return path

    def read(self, name: str) -> bytes:
        """The bytes of a file `find` found; raises `OSError`."""
        known = self.found[name]
        if known.raw is not None:
            return known.raw
        if self.recorded is not None:
            raise IsADirectoryError(21, "Is a directory", known.path)
        raw = Path(known.path).read_bytes()
        self.found[name] = Found(known.path, raw)
        return raw
