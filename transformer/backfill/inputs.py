"""What a backfill reads: input names and globs (local paths or fsspec URLs) → partitions.

A partition is a piece of one input that one task reads: a byte range of an uncompressed NDJSON
file (it owns every line that starts in the range), a row group of a Parquet file, or a whole
file (a `.json` array or sequence, anything compressed). Partitions are numbered in input order,
so that their outputs, concatenated in that order, are the input's events in input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_PARTITION_SIZE",
    "InputKind",
    "Partition",
    "PlanError",
    "expand_inputs",
    "input_kind",
    "plan_partitions",
]

DEFAULT_PARTITION_SIZE = 32 << 20
"""Bytes of uncompressed NDJSON per partition."""

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}


class PlanError(ValueError):
    """An input that cannot be read or split, for people."""


class InputKind(StrEnum):
    """How an input is read."""

    NDJSON = "ndjson"    # one payload per line (.ndjson, .jsonl)
    JSON = "json"        # an array of payloads, or payloads one after another (.json)
    PARQUET = "parquet"  # one payload per row (.parquet, .pq)


@dataclass(frozen=True, slots=True)
class Partition:
    """One task's piece of an input. `start`/`end`: a byte range of an NDJSON file (`end` None:
    to the end); `row_group` and `first_row` (the index of its first row in the file) for
    Parquet."""

    index: int
    path: str
    kind: InputKind
    compression: str | None = None
    start: int = 0
    end: int | None = None
    row_group: int | None = None
    first_row: int = 0
    size: int = 0

    def describe(self) -> dict[str, Any]:
        """What the manifest records of it."""
        found: dict[str, Any] = {"input": self.path, "kind": str(self.kind)}
        if self.compression:
            found["compression"] = self.compression
        if self.row_group is not None:
            found["row_group"] = self.row_group
        elif self.start or self.end is not None:
            found["bytes"] = [self.start, self.end]
        return found


def input_kind(path: str) -> tuple[InputKind, str | None]:
    """The kind of an input and its compression, by its name; `PlanError` when neither is known."""
    name = path.rsplit("/", 1)[-1].lower()
    compression = None
    for suffix, codec in COMPRESSIONS.items():
        if name.endswith(suffix):
            compression, name = codec, name.removesuffix(suffix)
    if name.endswith((".ndjson", ".jsonl")):
        return InputKind.NDJSON, compression
    if name.endswith(".json"):
        return InputKind.JSON, compression
    if name.endswith((".parquet", ".pq")) and compression is None:
        return InputKind.PARQUET, None
    raise PlanError(f"{path}: cannot tell how to read it: name it .ndjson, .jsonl, .json (each may be "
                    ".gz, .bz2, .xz or .zst) or .parquet")


def _fs(path: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(path)  # type: ignore[no-any-return]


def _is_glob(path: str) -> bool:
    return any(char in path for char in "*?[")


def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """Each input as given, or for a glob the files it matches, sorted; in the order given.
    Names keep the form given (a local path stays relative, a URL keeps its scheme)."""
    found: list[str] = []
    for given in inputs:
        if not _is_glob(given):
            found.append(given)
            continue
        fs, pattern = _fs(given)
        matches = sorted(name for name in fs.glob(pattern) if fs.isfile(name))
        if not matches:
            raise PlanError(f"{given}: no file matches")
        found.extend(_as_given(given, pattern, fs, name) for name in matches)
    return found


def _as_given(given: str, pattern: str, fs: Any, name: str) -> str:
    """A glob's match in the form of the glob: `data/*.ndjson` → `data/a.ndjson`."""
    if "://" in given:
        return str(fs.unstrip_protocol(name))
    if given.startswith("/"):
        return name
    return os.path.relpath(name)


def plan_partitions(paths: Iterable[str], partition_size: int = DEFAULT_PARTITION_SIZE) -> list[Partition]:
    """Every input split into partitions, in input order."""
    if partition_size < 1:
        raise PlanError(f"the partition size must be at least 1 byte, got {partition_size}")
    planned: list[Partition] = []
    for path in paths:
        kind, compression = input_kind(path)
        fs, local = _fs(path)
        try:
            size = int(fs.size(local))
        except (OSError, ValueError) as exc:
            raise PlanError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
        if kind is InputKind.PARQUET:
            planned.extend(_row_groups(path, fs, local, len(planned)))
        elif kind is InputKind.NDJSON and compression is None and size > partition_size:
            for start in range(0, size, partition_size):
                end = start + partition_size if start + partition_size < size else None
                planned.append(Partition(len(planned), path, kind, None, start, end,
                                         size=min(partition_size, size - start)))
        else:
            planned.append(Partition(len(planned), path, kind, compression, size=size))
    return planned


def _row_groups(path: str, fs: Any, local: str, first: int) -> list[Partition]:
    import pyarrow.parquet as pq

    try:
        with fs.open(local, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise PlanError(f"cannot read {path} as Parquet: {exc}") from None
    planned, row = [], 0
    for group in range(meta.num_row_groups):
        info = meta.row_group(group)
        planned.append(Partition(first + group, path, InputKind.PARQUET, row_group=group, first_row=row,
                                 size=int(info.total_byte_size)))
        row += int(info.num_rows)
    return planned
