"""Helpers the generated per-event code calls: deep copies, `rest` copies, error locations."""

from __future__ import annotations

from typing import Any

from ..expr.compile import CompiledExpr, is_false
from ..spec.plan import RestSpec, RuleSpec, no_value_test

__all__ = ["ATOMS", "Trie", "copy_except", "deep_copy", "is_removed", "locate", "rest_copier", "rest_tries"]


_REMOVE: Any = object()
Trie = dict[str, Any]


def is_removed(node: Any) -> bool:
    """Whether a trie node stands for a path that is excluded (not a deeper trie)."""
    return node is _REMOVE


def _trie(paths: list[tuple[str, ...]]) -> Trie:
    root: Trie = {}
    for keys in paths:
        node = root
        for key in keys[:-1]:
            child = node.get(key)
            if child is _REMOVE:
                break
            node = node.setdefault(key, {})
        else:
            node[keys[-1]] = _REMOVE
    return root


def _split(rest: RestSpec) -> tuple[list[tuple[str, ...]], list[tuple[CompiledExpr, list[tuple[str, ...]]]]]:
    """`rest`'s exclusions that always apply (no condition, or one decided true at load: one
    decided false drops its exclusion), and those whose condition depends on the payload,
    grouped by condition: one flag per distinct condition, however many paths it excludes."""
    fixed = [e.keys for e in rest.exclusions
             if e.when is None or (e.when.const and not is_false(e.when.value))]
    groups: dict[str, tuple[CompiledExpr, list[tuple[str, ...]]]] = {}
    for e in rest.exclusions:
        if e.when is not None and not e.when.const:
            groups.setdefault(e.when.text, (e.when, []))[1].append(e.keys)
    return fixed, list(groups.values())


def rest_copier(rest: RestSpec) -> tuple[Any, list[CompiledExpr]]:
    """For a `rest` rule: the fixed trie when no exclusion has a condition that depends on the
    payload, else a function of (object, flags) that copies with the exclusions whose
    condition's flag is on, and those conditions (see `_split`)."""
    fixed, groups = _split(rest)
    if not groups:
        return _trie(fixed), []
    prune = rest.prune_empty
    tries: dict[tuple[bool, ...], Trie] = {}

    def copy_with(obj: dict[str, Any], flags: tuple[bool, ...]) -> dict[str, Any]:
        found = tries.get(flags)
        if found is None:
            chosen = fixed + [keys for (_, paths), on in zip(groups, flags, strict=True) if on
                              for keys in paths]
            found = tries[flags] = _trie(chosen)
        return copy_except(obj, found, prune)
    return copy_with, [when for when, _ in groups]


def rest_tries(rest: RestSpec, most: int = 4) -> tuple[list[Trie], list[CompiledExpr]]:
    """For a `rest` rule: the trie of each combination of its payload-dependent conditions
    (index bit i set: the i-th condition holds), none when there are more than `most` of them,
    and those conditions, as `rest_copier` decides them."""
    fixed, groups = _split(rest)
    conditions = [when for when, _ in groups]
    if len(groups) > most:
        return [], conditions
    tries = [_trie(fixed + [keys for i, (_, paths) in enumerate(groups) if combo >> i & 1 for keys in paths])
             for combo in range(1 << len(groups))]
    return tries, conditions


def copy_except(obj: dict[str, Any], trie: Trie, prune: bool) -> dict[str, Any]:
    """A deep copy of `obj` without the paths in `trie`, keys in their order; with `prune`,
    objects that lost every key to the exclusions are left out too."""
    get = trie.get
    out = {key: (value if type(value) in _ATOMS else deep_copy(value)) if key not in trie
           else _copy_nested(value, trie[key], prune)
           for key, value in obj.items() if get(key) is not _REMOVE}
    if prune:
        for key in trie:
            if out.get(key) is _PRUNED:
                del out[key]
    return out


_PRUNED: Any = object()


def _copy_nested(value: Any, sub: Trie, prune: bool) -> Any:
    if not isinstance(value, dict):
        return deep_copy(value)
    copied = copy_except(value, sub, prune)
    return _PRUNED if prune and value and not copied else copied


_ATOMS = frozenset({str, int, float, bool, type(None)})
ATOMS = _ATOMS
"""The types of JSON values that are shared, not copied."""


def deep_copy(value: Any) -> Any:
    """A copy of a JSON value: new dicts and lists, shared immutable scalars."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or isinstance(value, dict):
        return {k: v if type(v) in _ATOMS else deep_copy(v) for k, v in value.items()}
    if kind is list or isinstance(value, list):
        return [v if type(v) in _ATOMS else deep_copy(v) for v in value]
    return value


def locate(spec: RuleSpec, env: list[Any]) -> str:
    """The JSON path the rule's value came from (for error messages); the slow path."""
    if spec.source is not None:
        return spec.source.json_path()
    if spec.rest is not None:
        return spec.rest.source.json_path()
    empty = no_value_test(spec.no_value)
    for candidate in spec.first:
        try:
            if candidate.when is not None and is_false(candidate.when.fn(env[0], env)):
                continue
            if candidate.source is not None and empty(candidate.source.fn(env[0], env)):
                continue
        except Exception:  # noqa: BLE001 - only locating; the real error is being raised
            continue
        return locate(candidate, env)
    return locate(spec.first[0], env) if spec.first else "$"
