"""A valid mapping whose output grows exponentially: 30 lets that each double the one before
pass `validate`, and `replay` used to be killed. The output budget (about 1 MB of JSON per
payload, `--output-budget`, `load_mapping(output_budget=…)`) turns that into a payload error
naming the rule, in bounded time and memory; mappings that cannot grow are not measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from transformer import PayloadError, load_mapping

from ..conftest import MAPPING, ROOT
from .cli_process import cli_peak, run

PAYLOAD = {"data": {"x": "ab", "list": ["ab"], "items": [{"n": i} for i in range(2000)],
                    "blob": "y" * 2000}}


def doubling(step: str, start: str = "data.x", count: int = 30) -> str:
    """A spec whose lets each hold two of the let before: `step` uses `{prev}`."""
    lets = [f"  a0: {json.dumps(start)}"]
    lets += [f"  a{i}: " + step.format(prev=f"$a{i - 1}") for i in range(1, count + 1)]
    return "version: 1\nlet:\n" + "\n".join(lets) + f"\nfields:\n  x: $a{count}\n"


ATTACKS = {
    # name: (spec, rule named, where, the message after the rule)
    "list lets": (doubling('"[{prev}, {prev}]"'), "let.a18", "`[$a17, $a17]`"),
    "object lets": (doubling("{{fields: {{l: {prev}, r: {prev}}}}}"), "let.a17", "$"),
    "string lets": (doubling("\"join('', [{prev}, {prev}])\""), "let.a19.from", "`join('', [$a18, $a18])`"),
    # to_string's argument is measured (the guard), and so is its longer, escaped result (the let)
    "to_string lets": (doubling('"to_string([{prev}, {prev}])"'), "let.a10", "`to_string([$a9, $a9])`"),
    "constant lets": (doubling('"[{prev}, {prev}]"', start="`\"ab\"`"), "let.a18", "`[$a17, $a17]`"),
    "one expression": ("version: 1\nfields:\n  x: \"" + "map(&join('', [@, @]), " * 30 + "data.list"
                       + ")" * 30 + '"\n', "fields.x.from", "`" + "map(&join('', [@, @]), " * 30
                       + "data.list" + ")" * 30 + "`"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_runaway_output_is_a_payload_error_naming_the_rule(attack: str, tmp_path: Path) -> None:
    spec, rule, where = ATTACKS[attack]
    (tmp_path / "grow.yaml").write_text(spec)
    (tmp_path / "in.ndjson").write_text(json.dumps(PAYLOAD) + "\n")
    assert run("validate", str(tmp_path / "grow.yaml")).code == 0          # a valid mapping
    args = ("replay", str(tmp_path / "in.ndjson"), "--mapping", str(tmp_path / "grow.yaml"))
    if attack in ("list lets", "string lets"):   # as a process: its memory stays bounded
        done, peak = cli_peak(*args, timeout=120)
        assert peak < 300 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    else:
        done = run(*args)
    assert done.code == 1
    assert done.err.splitlines() == [
        f"{tmp_path}/in.ndjson:1: {rule}: output budget exceeded: larger than 1,000,000 bytes as JSON, "
        f"at {where}", "read 1 payload, wrote 0 events, skipped 0, 1 payload error"]


def test_the_budget_is_a_cli_option_and_a_library_argument(tmp_path: Path) -> None:
    spec = tmp_path / "grow.yaml"
    spec.write_text(doubling("\"join('', [{prev}, {prev}])\"", count=13))   # "ab" 8,192 times
    payload = {"data": {"x": "ab"}}
    assert load_mapping(spec, environ={}).apply(payload).events == [{"x": "ab" * 8192}]
    small = load_mapping(spec, environ={}, output_budget=10_000)
    with pytest.raises(PayloadError) as caught:
        small.apply(payload)
    assert (caught.value.rule, caught.value.message) == (
        "let.a13.from", "output budget exceeded: larger than 10,000 bytes as JSON")
    (result,) = small.apply_many([payload])
    assert result.error is not None and result.error.rule == "let.a13.from"
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps(payload) + "\n")
    assert run("replay", str(source), "--mapping", str(spec)).code == 0
    done = run("replay", str(source), "--mapping", str(spec), "--output-budget", "10000")
    assert done.code == 1
    assert done.err.splitlines()[0] == (f"{source}:1: let.a13.from: output budget exceeded: larger than "
                                        "10,000 bytes as JSON, at `join('', [$a12, $a12])`")


def test_each_events_are_measured_together() -> None:
    # each order line copies the whole order: n lines give n copies, measured as they come
    mapping = load_mapping(ROOT / "tests" / "mappings" / "orders.yaml", environ={}, output_budget=50_000)
    order: dict[str, Any] = {"order": {
        "id": "o-1", "customer": {"email": "c@example.com"}, "notes": "n" * 5_000,
        "lines": [{"sku": f"s{i}", "quantity": 1, "price": 9.5} for i in range(2_000)]}}
    with pytest.raises(PayloadError) as caught:
        mapping.apply(order)
    assert caught.value.message == ("output budget exceeded: larger than 50,000 bytes as JSON "
                                    "(the events of this payload)")
    assert caught.value.rule == "fields.meta"       # the largest field: the copy of the order
    order["order"]["lines"] = order["order"]["lines"][:5]
    assert len(mapping.apply(order).events) == 5


def test_the_shipped_mapping_cannot_grow_so_nothing_is_measured() -> None:
    # its output holds at most a few copies of any part of the payload: zero cost per event
    mapping = load_mapping(MAPPING, environ={})
    assert mapping.plan.measured == []
    assert "_json_size" not in mapping.source


def test_a_growing_mapping_measures_only_what_can_grow(tmp_path: Path) -> None:
    spec = tmp_path / "grow.yaml"
    spec.write_text(doubling('"[{prev}, {prev}]"', count=5) + "  y: data.x\n")
    # a0..a2 hold at most 4 copies of data.x; a3 holds 8, a4 16, a5 32: measured from a4 on
    assert load_mapping(spec, environ={}).plan.measured == ["a4", "a5", "fields"]
