"""Reading one partition's payloads, as `replay` reads them (`transformer.io.jsonio`).

Lines are numbered from the partition's first line (1): a task does not know how many lines the
partitions before it hold; the job does, and turns them into the file's line numbers. Array
elements, values of a `.json` sequence and Parquet rows are located in the whole file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any, cast

from ..io.jsonio import Item, parse_item, split_items
from ..io.split import BOM, Splitter
from .inputs import InputKind, Partition

__all__ = ["PartitionReader"]


class PartitionReader:
    """Iterate to get `(line, item)` for each payload of `partition`: `line` is its line within
    the partition for line-based inputs (the item's `where` is then empty), else None (`where`
    is whole). `lines` is the number of lines the partition holds, once read to its end."""

    def __init__(self, partition: Partition, max_depth: int) -> None:
        self.partition = partition
        self.max_depth = max_depth
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int | None, Item]]:
        part = self.partition
        if part.kind is InputKind.PARQUET:
            yield from self._rows()
            return
        from fsspec.core import open as fs_open

        with fs_open(part.path, "rb", compression=part.compression) as handle:
            if part.kind is InputKind.NDJSON:
                yield from self._lines(handle)
            else:
                yield from self._values(handle)

    def _lines(self, handle: IO[bytes]) -> Iterator[tuple[int | None, Item]]:
        part, max_depth = self.partition, self.max_depth
        position = 0
        if part.start > 0:  # the line holding the byte before the range belongs to the partition before
            handle.seek(part.start - 1)
            position = part.start - 1 + len(handle.readline())
        end = part.end
        number = 0
        while end is None or position < end:
            line = handle.readline()
            if not line:
                break
            position += len(line)
            number += 1
            line = line.removeprefix(BOM)
            if line.strip():
                yield number, parse_item("", line, max_depth)
        self.lines = number

    def _values(self, handle: IO[bytes]) -> Iterator[tuple[int | None, Item]]:
        name = self.partition.path
        buffered: Any = handle if hasattr(handle, "peek") else io.BufferedReader(cast(Any, handle))
        head: bytes = buffered.peek(4096)
        is_array = head.lstrip(b" \t\r\n").removeprefix(BOM).lstrip(b" \t\r\n")[:1] == b"["
        splitter = Splitter(buffered, self.max_depth)
        pieces = splitter.array() if is_array else splitter.sequence()
        for item in split_items(pieces, name, self.max_depth, is_array):
            yield None, item

    def _rows(self) -> Iterator[tuple[int | None, Item]]:
        import pyarrow.parquet as pq
        from fsspec.core import open as fs_open

        part = self.partition
        with fs_open(part.path, "rb") as handle:
            table = pq.ParquetFile(handle).read_row_group(part.row_group or 0)
        for offset, row in enumerate(table.to_pylist()):
            yield None, self._row(f"{part.path}[{part.first_row + offset}]", row)

    def _row(self, where: str, row: dict[str, Any]) -> Item:
        """A Parquet row as the webhook it was. A column (or struct field) that is null in this
        row is left out, since Parquet gives every row every column of the file; a text column
        holding a JSON object or array (`data` kept as JSON, as exports of varying shapes do) is
        parsed."""
        payload: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, str) and value[:1] in ("{", "["):
                item = parse_item(where, value.encode(), self.max_depth)
                if item.error is not None:
                    return Item(where, error=f"column {key}: {item.error}", raw=item.raw)
                payload[key] = item.payload
            elif value is not None:
                payload[key] = _present(value)
        return Item(where, payload)


def _present(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _present(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_present(item) for item in value]
    return value
