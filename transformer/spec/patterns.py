"""Settings whose values are glob patterns over combinations of input fields (`patterns:`).

A mapping selects events with patterns such as `email/*` matched against
`join('/', [object_type, metric])`. Declared as

    events:
      type: list
      patterns: {over: [object_type, metric], separator: /, also_joined_by: ["_", " "]}

each pattern is checked when the mapping loads against the combinations of values that the
mapping's input schema allows: one that matches none is a settings error with a "did you mean".
A pattern written with the canonical separator (`email/sent`, `*/clicked`, `*`) is kept as it
is. One written with another (`email_sent`, `Email Sent`, `In App *`) is matched, ignoring case,
against the combinations spelled that way (values joined by that separator, with `_` and spaces
inside values written as it too) and replaced by the canonical names of those it matches, so
that the expressions only ever see one spelling.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import closest, short_repr
from ..io.schema_check import SchemaFile

__all__ = ["PatternSpec", "allowed_value_combinations", "candidate_values", "resolve_patterns"]

_WORD_BREAK = re.compile(r"[_ ]+")


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """`over`: the input fields combined; `separator`: how the mapping joins them;
    `also_joined_by`: other separators a person may write instead."""

    over: tuple[str, ...]
    separator: str
    also_joined_by: tuple[str, ...] = ()

    def describe(self) -> str:
        return self.separator.join(self.over) + (" pair" if len(self.over) == 2 else " combination")


def candidate_values(schema: Any, name: str) -> list[Any]:
    """Every `enum` / `const` value the schema gives for a property called `name`, anywhere."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            prop = (node.get("properties") or {}).get(name)
            if isinstance(prop, dict):
                for value in ([prop["const"]] if "const" in prop else []) + list(prop.get("enum") or []):
                    if value not in found:
                        found.append(value)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
    walk(schema)
    return found


def allowed_value_combinations(schema: SchemaFile, names: Sequence[str]) -> list[tuple[str, ...]]:
    """The combinations of the named fields' values that the schema allows, in the schema's
    order; cached per schema text (its SHA-256)."""
    key = (schema.digest, tuple(names))
    found = _COMBINATIONS.get(key)
    if found is None:
        found = _COMBINATIONS[key] = _combinations(schema.document, key[1])
        while len(_COMBINATIONS) > 8:
            del _COMBINATIONS[next(iter(_COMBINATIONS))]
    return list(found)


_COMBINATIONS: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], ...]] = {}


def _combinations(schema: Any, names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    values = [[v for v in candidate_values(schema, name) if isinstance(v, str)] for name in names]
    out = []
    for combo in itertools.product(*values):
        # a document with only these fields: the schema's other requirements fail, but any
        # error *at* one of these fields means the combination is not allowed
        errors = validator.iter_errors(dict(zip(names, combo, strict=True)))
        if not any(e.absolute_path and e.absolute_path[0] in names for e in errors):
            out.append(combo)
    return tuple(out)


def resolve_patterns(patterns: list[str], spec: PatternSpec,
                     combinations: Sequence[tuple[str, ...]]) -> list[str]:
    """The patterns in the canonical spelling; raises `ValueError` naming each that matches no
    combination, with the closest name in the spelling it was written in."""
    canonical = [spec.separator.join(c) for c in combinations]
    out: list[str] = []
    problems: list[str] = []
    for pattern in patterns:
        separator = _spelling(pattern, spec)
        if separator is None:
            matched = [name for name in canonical if fnmatch.fnmatchcase(name, pattern)]
            names = canonical
            if matched:
                out.append(pattern)
        else:
            names = [_spelled(c, separator) for c in combinations]
            wanted = _spelled((pattern,), separator).lower()
            matched = [canonical[i] for i, name in enumerate(names)
                       if fnmatch.fnmatchcase(name, wanted)]
            out.extend(m for m in matched if m not in out)
            if pattern != pattern.lower():  # suggest in the case it was written in: Email Sent
                names = [name.title() for name in names]
        if not matched:
            hint = _partwise_hint(pattern, spec, combinations) if separator is None else ""
            if not hint and not any(ch in pattern for ch in "*?["):
                by_lower = {name.lower(): name for name in names}
                close = closest(pattern, names) or by_lower.get(closest(pattern.lower(), by_lower) or "")
                hint = f" (did you mean '{close}'?)" if close else ""
            problems.append(f"{short_repr(pattern)} matches no {spec.describe()} the input schema "
                            f"allows{hint}")
    if problems:
        raise ValueError("; ".join(problems))
    return out


def _partwise_hint(pattern: str, spec: PatternSpec, combinations: Sequence[tuple[str, ...]]) -> str:
    """For a glob such as `emial/*`: the closest known value for each literal part."""
    parts = pattern.split(spec.separator)
    if len(parts) != len(spec.over):
        return ""
    fixed = []
    for i, part in enumerate(parts):
        known = sorted({c[i] for c in combinations})
        if part in known or any(ch in part for ch in "*?["):
            fixed.append(part)
            continue
        fixed.append(closest(part, known) or part)
    suggestion = spec.separator.join(fixed)
    if suggestion == pattern or not any(
            fnmatch.fnmatchcase(spec.separator.join(c), suggestion) for c in combinations):
        return ""
    return f" (did you mean '{suggestion}'?)"


def _spelling(pattern: str, spec: PatternSpec) -> str | None:
    """The separator a pattern is written with: None for the canonical one (or none at all)."""
    if spec.separator in pattern:
        return None
    return next((sep for sep in spec.also_joined_by if sep in pattern), None)


def _spelled(values: Sequence[str], separator: str) -> str:
    """Values joined by `separator`, `_` and spaces inside them written as it, lower-cased."""
    return separator.join(_WORD_BREAK.sub(separator, v) for v in values).lower()
