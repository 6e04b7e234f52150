"""Straight-line code for a `rest` copy whose exclusions are fixed at load.

`values.copy_except` walks a trie of excluded paths for every key of every payload. Here the
trie is written into the code, one block per object level, nested levels inline: a shallow copy
(keys in their order) without the keys dropped, then a loop that replaces each value that is not
an atom by its copy, a key with exclusions below it by its own level's copy. Same result as
`copy_except`, including `prune_empty` (an object that lost every key to the exclusions is left
out).
"""

from __future__ import annotations

from .values import Trie, is_removed

__all__ = ["MAX_LEVELS", "rest_copy_lines", "rest_copy_source", "trie_depth"]

MAX_LEVELS = 8
"""Deepest exclusion path written as code: each level nests a loop, and Python refuses more
than 20 nested blocks in a function (deeper ones use `values.copy_except`)."""


def rest_copy_source(trie: Trie, prune: bool, name: str) -> str:
    """The source of `def {name}(obj)`: a deep copy of the dict `obj` without the paths of
    `trie`; it uses the globals `_ATOMS` and `_deep_copy`."""
    body = rest_copy_lines(trie, prune, "obj", "out")
    return "\n".join([f"def {name}(obj):", *("    " + line for line in body), "    return out"]) + "\n"


def rest_copy_lines(trie: Trie, prune: bool, obj: str, out: str, level: int = 0) -> list[str]:
    """Statements (not indented) that leave in `out` the copy of the dict named `obj` without
    the paths of `trie`; the names they bind besides `out` start with `_r`."""
    drop = sorted(key for key, sub in trie.items() if is_removed(sub))
    nested = [(key, sub) for key, sub in trie.items() if not is_removed(sub)]
    k, v, c = f"_rk{level}", f"_rv{level}", f"_rc{level}"
    lines = [f"{out} = dict({obj})", *(f"{out}.pop({key!r}, None)" for key in drop),
             f"for {k}, {v} in {obj}.items():", f"    if type({v}) not in _ATOMS:"]
    keyword = "if"
    for key, sub in nested:
        lines += [f"        {keyword} {k} == {key!r}:", f"            if isinstance({v}, dict):"]
        lines += ["                " + line for line in rest_copy_lines(sub, prune, v, c, level + 1)]
        lines += ([f"                if {v} and not {c}:", f"                    del {out}[{k}]",
                   "                else:", f"                    {out}[{k}] = {c}"] if prune else
                  [f"                {out}[{k}] = {c}"])
        lines += ["            else:", f"                {out}[{k}] = _deep_copy({v})"]
        keyword = "elif"
    if drop:
        lines += [f"        {keyword} {_outside(k, drop)}:", f"            {out}[{k}] = _deep_copy({v})"]
    elif nested:
        lines += ["        else:", f"            {out}[{k}] = _deep_copy({v})"]
    else:
        lines += [f"        {out}[{k}] = _deep_copy({v})"]
    return lines


def trie_depth(trie: Trie) -> int:
    """How many object levels the exclusions of `trie` reach."""
    return 1 + max((trie_depth(sub) for sub in trie.values() if not is_removed(sub)), default=0)


def _outside(name: str, keys: list[str]) -> str:
    """A test that `name` is none of `keys` (a set display of constants compiles to a constant)."""
    if len(keys) == 1:
        return f"{name} != {keys[0]!r}"
    return f"{name} not in {{{', '.join(map(repr, sorted(keys)))}}}"
