"""The output folder of a backfill (a local path or an fsspec URL), written atomically: each
file is written under a temporary name, then renamed, so that a reader (or a re-run) sees a
whole file or none."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

__all__ = ["Store"]


class Store:
    """Files under one folder: `write` and `read` by name relative to it."""

    def __init__(self, root: str) -> None:
        from fsspec.core import url_to_fs

        self.root = root.rstrip("/")
        self.fs: Any
        self.fs, self._base = url_to_fs(self.root)
        self.fs.makedirs(self._base, exist_ok=True)

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return Store, (self.root,)

    def path(self, name: str) -> str:
        """Where `name` is, as the user would write it."""
        return f"{self.root}/{name}"

    def _full(self, name: str) -> str:
        return f"{self._base}/{name}"

    def write(self, name: str, data: bytes) -> None:
        """Write `data` as `name`, atomically (folders made as needed)."""
        final = self._full(name)
        folder = final.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{final.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
        with self.fs.open(temporary, "wb") as handle:
            handle.write(data)
        self.fs.mv(temporary, final)

    def read(self, name: str) -> bytes | None:
        """The content of `name`, or None when there is no such file."""
        try:
            with self.fs.open(self._full(name), "rb") as handle:
                data: bytes = handle.read()
                return data
        except FileNotFoundError:
            return None

    def clean(self) -> int:
        """Remove temporary files left by writes that never finished (a worker killed while
        writing); returns how many. Only for when no write of this folder is under way."""
        found = [name for folder in (self._base, f"{self._base}/dead-letters")
                 for name in self.fs.glob(f"{folder}/.*.tmp")]
        for name in found:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(name)
        return len(found)

    def remove(self, name: str) -> None:
        """Remove `name` if it is there."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._full(name))
