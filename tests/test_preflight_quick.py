"""The preflight's quick check: it accepts only what the full schema check accepts, so every
event gets the same verdict and message as from fastjsonschema alone."""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer.data import data_file
from transformer.destinations.amplitude.preflight import Preflight
from transformer.destinations.amplitude.quick_check import compile_quick_check

SCHEMA_PATH = data_file("schemas", "amplitude-event.schema.json")
SCHEMA = json.loads(Path(SCHEMA_PATH).read_text())
PROPERTIES = sorted(SCHEMA["properties"])
BLOCKED = ["0", "-1", "null", "unknown", "anonymous", "00000000-0000-0000-0000-000000000000", "{}", '""']


@functools.cache
def slow(min_id_length: int | None) -> Preflight:
    """The preflight without its quick check: fastjsonschema decides every event (one per
    min_id_length: compiling one takes a while, and a verdict does not depend on the ones before)."""
    preflight = Preflight(SCHEMA_PATH, min_id_length)
    preflight._quick = None
    return preflight


@functools.cache
def quick_preflight(min_id_length: int | None) -> Preflight:
    """The preflight as the sender makes it, once per min_id_length."""
    return Preflight(SCHEMA_PATH, min_id_length)


def full_validator() -> Any:
    schema = json.loads(Path(SCHEMA_PATH).read_text())
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema)


VALIDATE = full_validator()
QUICK = compile_quick_check(SCHEMA)


def valid_by_schema(event: Any) -> bool:
    try:
        VALIDATE(event)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


# values near every rule's edge: right and wrong types, empty, blocked, short, with a newline
ids = st.one_of(st.sampled_from(BLOCKED + [b + "\n" for b in BLOCKED] + ["", "4", "42", "user-1",
                                                                        "user-00001", "a\n"]),
                st.text(max_size=8), st.integers(-2, 2), st.none(), st.booleans())
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
                    st.just(1.0), st.text(max_size=6),
                    st.sampled_from(["EUR", "eur", "EURO", "EUR\n", "[Amplitude] Revenue",
                                     "[Amplitude] Revenue\n", "Email Sent"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=6)
keys = st.one_of(st.sampled_from(PROPERTIES), st.sampled_from(["colour", "poison", "", "userId"]))
events = st.fixed_dictionaries(
    {}, optional={"event_type": st.one_of(st.sampled_from(["Email Sent", "", "[Amplitude] Revenue",
                                                           "[Amplitude] Merged User\n"]), values),
                  "user_id": ids, "device_id": ids,
                  "time": st.one_of(st.integers(-1, 2**40), st.just(3.0), st.booleans(), st.text(max_size=3)),
                  "insert_id": st.one_of(st.text(max_size=4), st.integers(0, 2)),
                  "groups": st.one_of(st.dictionaries(st.text(max_size=3), st.one_of(
                      st.text(max_size=3), st.lists(st.one_of(st.text(max_size=3), st.integers(0, 2)),
                                                    max_size=3), st.integers(0, 2)), max_size=3), values),
                  "plan": st.one_of(st.dictionaries(st.sampled_from(["branch", "source", "version", "x"]),
                                                    scalars, max_size=3), values),
                  "ingestion_metadata": st.one_of(st.dictionaries(
                      st.sampled_from(["source_name", "source_version", "other"]), scalars, max_size=2),
                      values)},
).flatmap(lambda base: st.dictionaries(keys, values, max_size=3).map(lambda extra: {**extra, **base}))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events, min_id_length=st.sampled_from([None, 1, 5, 8]))
def test_the_quick_check_gives_every_event_the_full_checks_verdict_and_message(
        event: dict[str, Any], min_id_length: int | None) -> None:
    quick = quick_preflight(min_id_length)
    assert quick._quick is not None
    assert quick.reason(event) == slow(min_id_length).reason(event)
    if quick._quick(event):  # what it accepts, the schema accepts
        assert valid_by_schema(event)


@settings(max_examples=300, deadline=None)
@given(event=st.one_of(values, events))
def test_whatever_the_quick_check_accepts_the_schema_accepts(event: Any) -> None:
    check = QUICK
    assert check is not None
    if check(event):
        assert valid_by_schema(event)


def test_the_usual_events_are_accepted_by_the_quick_check_alone() -> None:
    check = compile_quick_check(SCHEMA)
    assert check is not None
    event = {"user_id": "user-00001", "device_id": "6b0d549b6f03675a", "platform": "iOS",
             "event_type": "Push Opened", "insert_id": "01J0", "time": 1700000001000,
             "groups": {"account_id": ["1"], "workspace": "56354"},
             "event_properties": {"nested": [{"any": None}]}, "price": 1.5, "quantity": 2,
             "currency": "EUR", "plan": {"branch": "main"}, "ingestion_metadata": {"source_name": "cio"}}
    assert check(event) is True
    assert check({"device_id": "abcdef", "event_type": "Email Sent"}) is True


@pytest.mark.parametrize("event", [
    {"event_type": "Email Sent", "user_id": "null\n"},        # `$` is the end of the string only
    {"event_type": "Email Sent", "user_id": "user-1", "time": 1.0},  # an integral float: the full check decides
    {"event_type": "Email Sent", "user_id": "user-1", "time": True},
    {"event_type": "Email Sent", "user_id": "user-1", "currency": "EUR\n"},
    OrderedDict(event_type="Email Sent", user_id="user-1"),  # a dict subclass
    {"event_type": "Email Sent", "user_id": "user-1", "groups": {"a": ["1", 2]}},
    {"event_type": "Email Sent", "user_id": "user-1", "plan": {"other": "x"}},
    {"event_type": "Email Sent"},
    {"event_type": "Email Sent", "user_id": "user-1", "colour": "red"},
    ["not", "an", "object"],
])
def test_edge_cases_get_the_full_checks_verdict(event: Any) -> None:
    assert Preflight(SCHEMA_PATH, 1).reason(event) == slow(1).reason(event)
    check = compile_quick_check(SCHEMA)
    assert check is not None
    assert not check(event) or valid_by_schema(event)


def test_a_blocked_id_with_a_final_newline_passes_as_in_the_full_check() -> None:
    event = {"event_type": "Email Sent", "user_id": "null\n"}
    assert valid_by_schema(event)            # fastjsonschema reads `$` as the end: "null\n" is not "null"
    assert Preflight(SCHEMA_PATH, 1).reason(event) is None


@pytest.mark.parametrize("schema", [
    {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
    {"type": "string", "format": "email"},
    {"type": "object", "properties": {"a": {"enum": [1, 2]}}},
    {"type": ["object", "string"], "if": {"required": ["a"]}, "then": {"type": "object"}},
    {"type": "object", "if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}},
    {"type": "array", "items": [{"type": "string"}]},
])
def test_a_schema_with_keywords_it_does_not_compile_gets_no_quick_check(schema: dict[str, Any]) -> None:
    assert compile_quick_check(schema) is None


def test_a_schema_without_string_ids_keeps_the_full_check_and_the_id_length_rule(tmp_path: Path) -> None:
    path = tmp_path / "open.schema.json"
    path.write_text(json.dumps({"type": "object", "required": ["event_type"]}))
    preflight = Preflight(path, 5)
    assert preflight._quick is None
    assert preflight.reason({"event_type": "x", "user_id": "42"}) == (
        "id shorter than min_id_length", 'user_id "42" has fewer than 5 characters')


@settings(max_examples=300, deadline=None)
@given(value=values, schema=st.sampled_from([
    {"type": ["string", "array"], "items": {"type": "string"}, "minLength": 2},
    {"minLength": 2, "minimum": 1, "items": {"type": "integer"}, "required": ["a"],
     "properties": {"a": {"type": "number", "exclusiveMaximum": 2}}},
    {"type": "object", "additionalProperties": {"type": "integer", "maximum": 3}},
    {"type": "object", "if": {"required": ["a"]}, "then": {"required": ["b"]},
     "else": {"properties": {"b": {"type": "null"}}}},
    {"type": ["number", "null"], "minimum": 0, "exclusiveMinimum": -1},
]))
def test_other_schemas_it_compiles_accept_only_what_fastjsonschema_accepts(value: Any,
                                                                           schema: dict[str, Any]) -> None:
    check = compile_quick_check(schema)
    assert check is not None
    if check(value):
        fastjsonschema.compile({**schema, "$schema": "http://json-schema.org/draft-07/schema#"})(value)
