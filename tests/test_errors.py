"""How values are shown in messages: as short JSON, the same everywhere."""

from __future__ import annotations

from transformer.errors import describe_value, json_type, python_types, short_repr


def test_short_repr_renders_json_values() -> None:
    assert short_repr([None, None]) == "[null, null]"
    assert short_repr({"a": True, "b": False}) == '{"a": true, "b": false}'
    assert short_repr("it's") == '"it\'s"'
    assert short_repr(1.5) == "1.5"


def test_short_repr_truncates_long_strings_lists_and_deep_objects() -> None:
    assert short_repr("x" * 50) == '"' + "x" * 40 + '…"'
    assert short_repr([1, 2, 3, 4, 5, 6]) == "[1, 2, 3, 4, …]"
    assert short_repr({"a": {"b": {"c": 1}}}) == '{"a": {"b": {…}}}'


def test_describe_value_names_the_json_type() -> None:
    assert describe_value([None, "unsubscribed"]) == 'array [null, "unsubscribed"]'
    assert describe_value(3) == "number 3"
    assert describe_value(3, integer=True) == "integer 3"
    assert describe_value(None) == "null null"


def test_payload_errors_are_values() -> None:
    from transformer import PayloadError

    a, b = PayloadError("fields.x", "$.x", "bad"), PayloadError("fields.x", "$.x", "bad")
    assert a == b and hash(a) == hash(b) and a != PayloadError("fields.x", "$.y", "bad")
    assert len({a, b}) == 1 and a != "fields.x: bad (at $.x)"


def test_one_table_names_json_types_and_back() -> None:
    values = [(True, "boolean"), (1, "number"), (1.5, "number"), ("s", "string"), (None, "null")]
    for value, name in values:
        assert json_type(value) == name and type(value) in python_types(name)
    assert (json_type([]), json_type(()), json_type({})) == ("array", "array", "object")
    assert json_type(2, integer=True) == "integer" and json_type(True, integer=True) == "boolean"
    assert json_type(b"x") == "bytes"
    assert python_types("number") == (int, float) and python_types("array") == (list, tuple)
    assert python_types("integer") == ()


def test_spec_problems_name_types_in_yaml_words_through_the_same_table() -> None:
    from jsonschema import Draft202012Validator

    from transformer.spec.schema import _message

    for instance, got in [({}, "mapping"), ([], "list"), (3, "integer"), (3.5, "number"), (None, "null")]:
        (error,) = Draft202012Validator({"type": "string"}).iter_errors(instance)
        assert _message(error) == f"expected a string, got {got}"
