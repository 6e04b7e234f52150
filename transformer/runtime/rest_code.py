"""Straight-line code for a `rest` copy whose exclusions are fixed at load.

`values.copy_except` walks a trie of excluded paths for every key of every payload. Here the
trie is turned into one function per object level, with the keys it drops and the keys whose
value it descends into written into the code: each level is a shallow copy (keys in their
order) without the dropped keys, then a loop that replaces each value that is not an atom by
its copy (a nested level by its own function). Same result as `copy_except`, including
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
    # a shallow copy (in C), keys in their order; then each value that is not an atom replaced
    # by its copy, a nested level by its own function
    lines = [f"def {name}(obj):", "    out = dict(obj)"]
    lines += [f"    out.pop({key!r}, None)" for key in drop]
    lines += ["    for k, v in obj.items():", "        if type(v) not in _ATOMS:"]
    keyword = "if"
    for i, (key, sub) in enumerate(nested):
        child = f"{name}_{i}"
        _level(sub, prune, child, out)
        lines += [f"            {keyword} k == {key!r}:",
                  "                if isinstance(v, dict):",
                  f"                    c = {child}(v)"]
        lines += (["                    if v and not c:", "                        del out[k]",
                   "                    else:", "                        out[k] = c"] if prune else
                  ["                    out[k] = c"])
        lines += ["                else:", "                    out[k] = _deep_copy(v)"]
        keyword = "elif"
    if drop:
        lines += [f"            {keyword} {_outside(drop)}:", "                out[k] = _deep_copy(v)"]
    elif nested:
        lines += ["            else:", "                out[k] = _deep_copy(v)"]
    else:
        lines += ["            out[k] = _deep_copy(v)"]
    lines.append("    return out")
    out.append("\n".join(lines) + "\n")


def _outside(keys: list[str]) -> str:
    """A test that `k` is none of `keys` (a set display of constants compiles to a constant)."""
    if len(keys) == 1:
        return f"k != {keys[0]!r}"
    return f"k not in {{{', '.join(map(repr, sorted(keys)))}}}"
