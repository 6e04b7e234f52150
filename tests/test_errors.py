"""How values are shown in messages: as short JSON, the same everywhere."""

from __future__ import annotations

from transformer.errors import describe_value, short_repr


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
