"""Straight-line code for a `rest` copy whose exclusions are fixed at load.

`values.copy_except` walks a trie of excluded paths for every key of every payload. Here the
trie is turned into one function per object level, with the keys it drops and the keys whose
value it descends into written into the code: each level is one dict comprehension (keys in
their order), then the nested copies put in place. Same result as `copy_except`, including
`prune_empty` (an object that lost every key to the exclusions is left out).
"""

from __future__ import annotations

from .values import Trie, is_removed

__all__ = ["rest_copy_source"]


def rest_copy_source(trie: Trie, prune: bool, name: str) -> str:
    """The source of `def {name}(obj)`: a deep copy of the dict `obj` without the paths of
    `trie`; it uses the globals `_ATOMS` and `_deep_copy`."""
    functions: list[str] = []
    _level(trie, prune, name, functions)
    return "\n".join(functions)


def _level(trie: Trie, prune: bool, name: str, out: list[str]) -> None:
    drop = sorted(key for key, sub in trie.items() if is_removed(sub))
    nested = [(key, sub) for key, sub in trie.items() if not is_removed(sub)]
    value = "(v if type(v) in _ATOMS else _deep_copy(v))"
    lines = [f"def {name}(obj):"]
    if nested:
        # nested keys keep their place: a placeholder first, the copy after
        keep = f"{value} if {_outside([k for k, _ in nested])} else None"
        lines.append(f"    out = {{k: {keep} for k, v in obj.items(){_where(drop)}}}")
    else:
        lines.append(f"    out = {{k: {value} for k, v in obj.items(){_where(drop)}}}")
    for i, (key, sub) in enumerate(nested):
        child = f"{name}_{i}"
        _level(sub, prune, child, out)
        lines += [f"    if {key!r} in obj:",
                  f"        v = obj[{key!r}]",
                  "        if isinstance(v, dict):",
                  f"            c = {child}(v)",
                  (f"            if v and not c:\n                del out[{key!r}]\n            else:\n"
                   f"                out[{key!r}] = c") if prune else f"            out[{key!r}] = c",
                  "        else:",
                  f"            out[{key!r}] = _deep_copy(v)"]
    lines.append("    return out")
    out.append("\n".join(lines) + "\n")


def _outside(keys: list[str]) -> str:
    """A test that `k` is none of `keys` (a set display of constants compiles to a constant)."""
    if len(keys) == 1:
        return f"k != {keys[0]!r}"
    return f"k not in {{{', '.join(map(repr, sorted(keys)))}}}"


def _where(drop: list[str]) -> str:
    return f" if {_outside(drop)}" if drop else ""
