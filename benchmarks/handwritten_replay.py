"""The hand-written peer of `transformer replay`: NDJSON in, the Amplitude events as NDJSON out,
with `amplitude_handwritten.transform`, written as a competent engineer would (buffered reads,
one write per chunk of lines). `--parser json` uses the standard library, `orjson` the same
library the engine uses; `--floor` only parses and dumps each payload (no transform).

    python benchmarks/handwritten_replay.py INPUT.ndjson [--parser orjson|json] [--floor] > out.ndjson
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import amplitude_handwritten

SETTINGS: dict[str, Any] = {"account_id": "1", "workspace_id": "56354", "body_content": True}
CHUNK = 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--parser", choices=["orjson", "json"], default="orjson")
    parser.add_argument("--floor", action="store_true", help="parse and dump only")
    args = parser.parse_args()
    if args.parser == "orjson":
        import orjson

        loads: Any = orjson.loads

        def dumps(value: Any) -> bytes:
            return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
    else:
        loads = json.loads

        def dumps(value: Any) -> bytes:
            return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    transform = amplitude_handwritten.transform
    out = sys.stdout.buffer
    lines: list[bytes] = []
    with open(args.input, "rb") as source:
        for line in source:
            payload = loads(line)
            if args.floor:
                lines.append(dumps(payload))
            else:
                event = transform(payload, **SETTINGS)
                if isinstance(event, dict):
                    lines.append(dumps(event))
            if len(lines) >= CHUNK:
                out.write(b"".join(lines))
                lines.clear()
    out.write(b"".join(lines))


if __name__ == "__main__":
    main()
