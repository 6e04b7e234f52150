"""The straight-line `rest` copies (`runtime/rest_code.py`) give exactly what the trie walk
(`values.copy_except`) gives: same keys, same order, same pruning, no shared containers."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from transformer.runtime.rest_code import rest_copy_source
from transformer.runtime.values import ATOMS, _trie, copy_except, deep_copy

KEYS = st.sampled_from(["a", "b", "c", "id", "x y", "'q'"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=12)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=5)
PATHS = st.lists(st.lists(KEYS, min_size=1, max_size=3).map(tuple), max_size=4)


def compiled(paths: list[tuple[str, ...]], prune: bool) -> Any:
    scope: dict[str, Any] = {"_ATOMS": ATOMS, "_deep_copy": deep_copy}
    exec(rest_copy_source(_trie(paths), prune, "_copy"), scope)
    return scope["_copy"]


def shares_a_container(a: Any, b: Any) -> bool:
    if isinstance(a, (dict, list)) and a is b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return any(shares_a_container(a[k], b[k]) for k in a.keys() & b.keys())
    return False


@settings(max_examples=300, deadline=None)
@given(OBJECTS, PATHS, st.booleans())
def test_the_generated_copy_is_the_trie_walk(obj: dict[str, Any], paths: list[tuple[str, ...]], prune: bool) -> None:
    expected = copy_except(obj, _trie(paths), prune)
    got = compiled(paths, prune)(obj)
    assert got == expected
    assert list(got) == list(expected)
    assert not shares_a_container(obj, got)


def test_an_object_emptied_by_the_exclusions_is_pruned() -> None:
    copy = compiled([("identifiers", "id"), ("secret",)], True)
    assert copy({"identifiers": {"id": 1}, "a": [1], "secret": 2}) == {"a": [1]}
    assert copy({"identifiers": {}, "b": 1}) == {"identifiers": {}, "b": 1}       # empty before: kept
    assert compiled([("identifiers", "id")], False)({"identifiers": {"id": 1}}) == {"identifiers": {}}
