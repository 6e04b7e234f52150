"""Generated backfill inputs: payloads built from the samples with fresh ids, written as
NDJSON, gzip'd NDJSON, JSON arrays and Parquet, with plain NDJSON twins of the last two kinds
(what `replay`, which reads neither, is compared on)."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import SAMPLES

SETTINGS = ["--set", "account_id=1", "--set", "workspace_id=56354"]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def templates() -> list[dict[str, Any]]:
    lines = (SAMPLES / "events.ndjson").read_text().splitlines()
    found = [json.loads(line) for line in lines]
    found += [json.loads(path.read_text()) for path in sorted(SAMPLES.glob("*.json"))]
    return [_strip(payload) for payload in found]


def payloads(count: int, first: int = 0) -> list[dict[str, Any]]:
    """`count` payloads with fresh event ids (numbered from `first`)."""
    shapes = templates()
    made = []
    for n in range(first, first + count):
        payload = dict(shapes[n % len(shapes)])
        payload["event_id"] = f"01BACKF{n:019d}"
        made.append(payload)
    return made


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)


BROKEN = {1500: b"not json at all\n", 4200: b"\n", 7300: b'{"event_id":"bad-time","object_type":"email",'
          b'"metric":"sent","timestamp":"2024-01-01","data":{"customer_id":"user-1"}}\n'}
"""Lines spliced into the first NDJSON file, by the number of payloads before them."""


@dataclass
class Inputs:
    files: list[Path]       # what backfill reads, in order
    twins: list[Path]       # what replay reads for the same payloads, in the same order

    @property
    def names(self) -> list[str]:
        return [str(path) for path in self.files]


def write_inputs(folder: Path, files: int = 20, per_file: int = 10_000) -> Inputs:
    """`files` inputs of `per_file` payloads: mostly NDJSON, then gzip, JSON arrays, Parquet
    (a fifth each of the last three, at least one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "twins").mkdir(exist_ok=True)
    each = max(1, files // 5)
    kinds = ["ndjson"] * (files - 3 * each) + ["gz"] * each + ["json"] * each + ["parquet"] * each
    made, twins = [], []
    for index, kind in enumerate(kinds):
        rows = payloads(per_file, index * per_file)
        stem = f"f{index:02d}"
        data = _ndjson(rows)
        if index == 0:
            lines = data.splitlines(keepends=True)
            for at in sorted(BROKEN, reverse=True):
                lines.insert(at, BROKEN[at])
            data = b"".join(lines)
        if kind == "ndjson":
            path = folder / f"{stem}.ndjson"
            path.write_bytes(data)
            twin = path
        elif kind == "json":
            path = folder / f"{stem}.json"
            path.write_text(json.dumps(rows, indent=1))
            twin = path
        else:
            twin = folder / "twins" / f"{stem}.ndjson"
            twin.write_bytes(data)
            if kind == "gz":
                path = folder / f"{stem}.ndjson.gz"
                path.write_bytes(gzip.compress(data, compresslevel=1))
            else:
                path = folder / f"{stem}.parquet"
                table = pa.Table.from_pylist([{**row, "data": json.dumps(row["data"])} for row in rows])
                pq.write_table(table, path, row_group_size=max(1, per_file // 4))
        made.append(path)
        twins.append(twin)
    return Inputs(made, twins)
