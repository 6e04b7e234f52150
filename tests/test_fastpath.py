"""The fast path (`runtime/fastpath.py`) gives what the exact code gives: the same events, the
same skip, the same located error, on any payload; and it reads what it promises to read once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer import PayloadError, load_mapping
from transformer.runtime.codegen import MEMO_ENTRIES, MEMO_LENGTH
from transformer.runtime.mapping import CompiledMapping

from .conftest import MAPPING, ROOT, compiled_mapping
from .test_properties import json_scalars, json_values

MAPPINGS = [compiled_mapping(MAPPING), compiled_mapping(MAPPING, {"body_content": True, "account_id": "1"}),
            compiled_mapping(MAPPING, {"events": ["email/*", "push/sent"], "workspace_id": "9"}),
            compiled_mapping(ROOT / "tests" / "mappings" / "orders.yaml")]

ids = st.one_of(json_scalars, st.sampled_from(["user-1", "0", "  ", 42, 4.0]))
webhooks = st.fixed_dictionaries({}, optional={
    "event_id": ids, "object_type": st.sampled_from(["email", "push", "in_app", "customer", 3, None]),
    "object_type_type": st.sampled_from(["customer", None]),
    "metric": st.sampled_from(["sent", "opened", "cio_subscription_preferences_changed", 1, None]),
    "timestamp": st.one_of(st.integers(0, 2**40), st.floats(allow_nan=True), st.text(max_size=3)),
    "data": st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "identifiers": st.one_of(json_values, st.fixed_dictionaries({}, optional={"id": ids, "email": ids})),
        "customer_id": ids, "email_address": ids, "content": st.one_of(st.text(max_size=4), json_values),
        "headers": json_values, "recipients": st.lists(st.one_of(json_values, st.fixed_dictionaries(
            {}, optional={"device_id": ids, "device_platform": ids, "platform": ids})), max_size=3)}))})


def exact(mapping: CompiledMapping, payload: Any) -> Any:
    """What the exact code alone gives: the Result, or the error's rule, path and message."""
    try:
        return mapping._make_apply()(payload)
    except PayloadError as exc:
        return exc.rule, exc.path, exc.message


def fast(mapping: CompiledMapping, payload: Any) -> Any:
    try:
        result = mapping.apply(payload)
    except PayloadError as exc:
        return exc.rule, exc.path, exc.message
    try:
        out = mapping.outcome(payload)
    except PayloadError:
        raise AssertionError("outcome failed where apply did not") from None
    assert out == (result.events if result.skip is None else result.skip)
    return result


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(webhooks, json_values))
def test_the_fast_path_gives_what_the_exact_code_gives(payload: Any) -> None:
    for mapping in MAPPINGS:
        assert fast(mapping, payload) == exact(mapping, payload)


LAZY = """\
version: 1
let:
  digest: {from: "sha256(@)"}
  person: {from: "data.id"}
  label: {from: "join(':', ['anonymous', $digest])", when: "!$person"}
skip:
  - {id: nobody, when: "!data", reason: no data}
fields:
  person: $person
  label: $label
  again: data.id
"""


def test_a_let_calling_an_expensive_function_is_computed_on_first_use(tmp_path: Path) -> None:
    spec = tmp_path / "lazy.yaml"
    spec.write_text(LAZY)
    mapping = load_mapping(spec, environ={})
    outcome = _function(mapping.source, "_outcome")
    assert "_lazy1(_cur)" in outcome and "_v1 = _U" in outcome   # sha256 only when $label needs it
    assert outcome.count(".get('data')") == 1                    # data read once, into a local
    for payload in [{"data": {"id": "p"}}, {"data": {"other": 1}}, {"data": 0}, {}, {"data": {"id": 5}}]:
        assert fast(mapping, payload) == exact(mapping, payload)
    assert re.fullmatch("anonymous:[0-9a-f]{64}", mapping.apply({"data": {"x": 1}}).events[0]["label"])
    assert mapping.apply({"data": {"id": "p"}}).events == [{"person": "p", "again": "p"}]


def test_the_amplitude_fast_path_reads_each_shared_path_once_and_folds_the_selection() -> None:
    outcome = _function(compiled_mapping(MAPPING).source, "_outcome")
    assert outcome.count("_cur.get('data')") == 1 and outcome.count("_cur.get('metric')") == 1
    assert "_fill" not in outcome and "env" not in outcome           # lets are locals
    assert "_f_matches_any" in outcome and "True if type(" in outcome  # events ['*']: any string


def _function(source: str, name: str) -> str:
    found = re.search(rf"^def {name}\(.*?(?=^def |\Z)", source, re.S | re.M)
    assert found is not None
    return found.group(0)


def test_rest_exclusions_deeper_than_the_code_nests_are_copied_by_the_trie_walk(tmp_path: Path) -> None:
    deep, written = ".".join("abcdefghi"), ".".join("abcdefgh")   # 9 levels, and 8: code
    for name, path in (("deep", deep), ("written", written)):   # each alone: the 8 levels are code
        alone = tmp_path / f"{name}.yaml"
        alone.write_text(f"version: 1\nfields:\n  one: {{rest: {{from: x, except: [{path}]}}}}\n")
        assert ("_tries" in load_mapping(alone, environ={}).source) is (path == deep)
    spec = tmp_path / "deep.yaml"
    spec.write_text(f"version: 1\nfields:\n  one: {{rest: {{from: x, except: [{deep}]}}}}\n"
                    f"  two: {{rest: {{from: x, except: [{written}], prune_empty: true}}}}\n")
    mapping = load_mapping(spec, environ={})
    value: Any = {"i": 1, "j": [2]}
    for key in reversed("abcdefgh"):
        value = {key: value, "keep": key}
    payload = {"x": value}
    event = mapping.apply(payload).events[0]
    assert fast(mapping, payload) == exact(mapping, payload)
    inner_one, inner_two = event["one"], event["two"]
    for key in "abcdefg":
        inner_one, inner_two = inner_one[key], inner_two[key]
    assert inner_one == {"h": {"j": [2]}, "keep": "h"} and inner_two == {"keep": "h"}
    assert event["one"]["a"]["b"] is not payload["x"]["a"]["b"]   # copied, not shared


def test_remembered_filter_results_are_bounded_and_never_change_a_result() -> None:
    mapping = load_mapping(MAPPING, environ={})   # its own memos
    names = mapping.outcome.__globals__["__memos__"].values()   # the generated code's memo dicts, by name
    memos = [mapping.outcome.__globals__[name] for name in names]
    assert memos and all(isinstance(memo, dict) for memo in memos)
    payload = {"object_type": "email", "metric": "sent", "timestamp": 1, "data": {"identifiers": {"id": "p"}}}
    long_type = "x_" * 100   # longer than MEMO_LENGTH: computed each time, not kept
    for i in range(MEMO_ENTRIES * 2):   # more distinct types than the memo holds
        payload["object_type"] = f"kind_{i}" if i % 7 else long_type
        expected = " ".join(w.capitalize() for w in f"{payload['object_type']}_sent".split("_") if w)
        assert mapping.apply(payload).events[0]["event_type"] == expected
    assert max(len(memo) for memo in memos) == MEMO_ENTRIES   # filled up to the bound, not past it
    assert not any(len(key) > MEMO_LENGTH for memo in memos for key in memo)
    assert mapping.apply(payload).events[0]["event_type"] == mapping._make_apply()(payload).events[0]["event_type"]
    # a remembered result is read back, not computed again, and is the same
    assert any(memo.get("kind_1_sent") == "Kind 1 Sent" for memo in memos)
    payload["object_type"] = "kind_1"
    assert mapping.apply(payload).events[0]["event_type"] == "Kind 1 Sent"


def test_the_exact_code_is_generated_only_when_a_payload_needs_it() -> None:
    from transformer.runtime.codegen import generated_source

    mapping = load_mapping(MAPPING, environ={})   # a mapping of its own: nothing generated before
    sample = json.loads((ROOT / "samples" / "email_sent.json").read_bytes())
    assert mapping.apply(sample).events                                # the fast path alone
    assert "def _run(" not in generated_source(mapping.plan.namespace)
    assert mapping.result([1]).events == mapping.result([1]).events    # not an object: the exact code
    assert "def _run(" in generated_source(mapping.plan.namespace)
    assert "def _run(" in mapping.source


def _conditional_rest(n: int) -> str:
    """A mapping whose `rest` drops key kN when flag fN is 1, for N below `n`."""
    excluded = "\n".join(f"        - {{path: k{i}, when: \"f{i} == `1`\"}}" for i in range(n))
    return f"version: 1\nfields:\n  out:\n    rest:\n      from: data\n      except:\n{excluded}\n"


@pytest.mark.parametrize("n", [2, 5])   # 5: past the combinations generated as code (4)
def test_each_conditional_exclusion_follows_its_own_condition(tmp_path: Path, n: int) -> None:
    spec = tmp_path / "rest.yaml"
    spec.write_text(_conditional_rest(n))
    mapping = load_mapping(spec, environ={})
    data = {f"k{i}": i for i in range(n)} | {"other": "x"}
    for flags in range(1 << n):
        payload = {f"f{i}": (flags >> i) & 1 for i in range(n)} | {"data": data}
        expected = {k: v for k, v in data.items() if not (k.startswith("k") and (flags >> int(k[1:])) & 1)}
        assert mapping.apply(payload).events == [{"out": expected}], flags
        assert exact(mapping, payload).events == [{"out": expected}], flags
