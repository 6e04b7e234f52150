"""Reading payload streams: arrays element by element, NDJSON line by line, with flat memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from transformer.io.jsonio import dumps, read_items


def test_json_array_is_streamed_and_memory_stays_flat(tmp_path: Path) -> None:
    source = tmp_path / "big.json"
    payload = {"event_id": "x" * 26, "data": {"content": "y" * 2000}}
    with source.open("w") as out:
        out.write("[")
        out.write(",".join(json.dumps(payload | {"n": i}) for i in range(10_000)))
        out.write("]")
    assert source.stat().st_size > 20_000_000
    tracemalloc.start()
    count = sum(1 for item in read_items(str(source)) if item.payload["n"] >= 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 10_000
    assert peak < 2_000_000          # a few payloads at a time, not the 20 MB file


def test_ndjson_lines_that_are_not_json_are_reported_and_reading_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_text('{"a": 1}\n\nnot json\n{"a": 2}\n')
    items = list(read_items(str(source)))
    assert [(i.where.rsplit(":", 1)[1], i.payload, i.error is not None) for i in items] == [
        ("1", {"a": 1}, False), ("3", None, True), ("4", {"a": 2}, False)]


def test_a_broken_array_reports_where_and_stops(tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_text('[{"a": 1}, {"a": ]')
    items = list(read_items(str(source)))
    assert [(i.where.rsplit("/", 1)[1], i.payload, i.error) for i in items] == [
        ("broken.json[0]", {"a": 1}, None),
        ("broken.json[1]", None, "invalid JSON: unexpected character, expected a JSON value (column 7)"),
        ("broken.json[2]", None, "invalid JSON: the array is not closed after element 2; "
                                 "the rest of this input is not read")]


def test_dumps_handles_integers_beyond_64_bits() -> None:
    assert dumps({"n": 2**70}) == b'{"n":1180591620717411303424}\n'


def test_depth_is_measured_on_brackets_outside_strings() -> None:
    from transformer.io.split import depth_exceeds

    assert not depth_exceeds(b"[[[]]]", 3)
    assert depth_exceeds(b"[[[[]]]]", 3)
    assert depth_exceeds(b'[{"a":[{"b":"x"}]}]', 3)
    assert not depth_exceeds(b'[{"a":[{"b":"x"}]}]', 4)
    # brackets inside strings, escaped quotes included, do not count
    assert not depth_exceeds(b'{"a":"[[[[[[","b":"\\"[[[[{{{{"}', 2)


def test_a_payload_deeper_than_the_limit_is_refused_before_parsing() -> None:
    from transformer.io.jsonio import TooDeepError, loads_payload

    assert loads_payload(b'{"a":[[1]]}', max_depth=3) == {"a": [[1]]}
    with pytest.raises(TooDeepError, match="nested deeper than 3 levels"):
        loads_payload(b'{"a":[[[1]]]}', max_depth=3)
    with pytest.raises(TooDeepError):
        loads_payload(b"[" * 100_000 + b"]" * 100_000)


def test_values_split_across_any_chunk_boundary_read_as_the_whole_text_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformer.io import split as json_split

    values = [{"a": "x]}[{", "b": ['\\"', {"c": "\\\\"}], "d": "é\u2028"}, [1, [2, [3]]], "s,]",
              12345, {"e": []}, True, None]
    text = json.dumps(values, ensure_ascii=False).encode()
    (tmp_path / "array.json").write_bytes(text)
    (tmp_path / "values.json").write_bytes(b"\n".join(json.dumps(v, indent=1).encode() for v in values))
    for chunk in (1, 2, 3, 5, 7, 64):
        monkeypatch.setattr(json_split, "CHUNK", chunk)
        assert [i.payload for i in read_items(str(tmp_path / "array.json"))] == values, chunk
        assert [i.payload for i in read_items(str(tmp_path / "values.json"))] == values, chunk
