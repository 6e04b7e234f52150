"""Replay one corpus through two versions of a mapping and say what changes.

For each payload both outcomes are compared: events (field by field, one level into objects),
skips (by rule) and payload errors. The report counts changes per output field and per skip
rule, counts outcome changes (an event that becomes a skip, …), and keeps a few concrete
examples of each kind of change.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..runtime.mapping import CompiledMapping
from ..runtime.result import ResultKind

__all__ = ["DiffReport", "Example", "diff_mappings", "render_diff"]

_MISSING: Any = object()


@dataclass(slots=True)
class Example:
    """One concrete change: where the payload came from, and the values before and after."""

    where: str
    payload_id: str | None
    a: Any
    b: Any


@dataclass(slots=True)
class DiffReport:
    """What changes between mapping A and mapping B on one corpus."""

    payloads: int = 0
    changed: int = 0
    outcomes_a: Counter[str] = field(default_factory=Counter)
    outcomes_b: Counter[str] = field(default_factory=Counter)
    fields: Counter[tuple[str, str]] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[str, list[Example]] = field(default_factory=dict)

    def add_example(self, kind: str, example: Example, limit: int) -> None:
        found = self.examples.setdefault(kind, [])
        if len(found) < limit:
            found.append(example)


def _outcome(mapping: CompiledMapping, payload: Any) -> tuple[str, Any]:
    """The outcome's label (`events`, `skip: <rule>`, `error at <rule>`) and its events."""
    result = mapping.result(payload)
    if result.error is not None:
        return f"{ResultKind.ERROR} at {result.error.rule}", None
    if result.skip is not None:
        return f"{ResultKind.SKIP}: {result.skip.rule}", None
    return ResultKind.EVENTS, result.events


def diff_mappings(a: CompiledMapping, b: CompiledMapping, items: Iterable[tuple[str, Any]], *,
                  examples: int = 3) -> DiffReport:
    """Compare the two mappings' outcomes on each `(where, payload)`."""
    report = DiffReport()
    for where, payload in items:
        report.payloads += 1
        kind_a, out_a = _outcome(a, payload)
        kind_b, out_b = _outcome(b, payload)
        report.outcomes_a[kind_a] += 1
        report.outcomes_b[kind_b] += 1
        payload_id = a.payload_id(payload)
        if kind_a != kind_b:
            report.changed += 1
            report.transitions[(kind_a, kind_b)] += 1
            report.add_example(f"{kind_a} → {kind_b}", Example(where, payload_id, kind_a, kind_b), examples)
            continue
        if kind_a != ResultKind.EVENTS or out_a == out_b:
            continue
        report.changed += 1
        if len(out_a) != len(out_b):
            report.transitions[(f"{len(out_a)} events", f"{len(out_b)} events")] += 1
        for event_a, event_b in zip(out_a, out_b, strict=False):
            for path, before, after in _field_changes(event_a, event_b):
                change = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
                report.fields[(path, change)] += 1
                report.add_example(f"{path} {change}", Example(
                    where, payload_id, None if before is _MISSING else before,
                    None if after is _MISSING else after), examples)
    return report


def _field_changes(a: dict[str, Any], b: dict[str, Any]) -> Iterable[tuple[str, Any, Any]]:
    for key in [*a, *(k for k in b if k not in a)]:
        before, after = a.get(key, _MISSING), b.get(key, _MISSING)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            for sub in [*before, *(k for k in after if k not in before)]:
                inner_a, inner_b = before.get(sub, _MISSING), after.get(sub, _MISSING)
                if inner_a != inner_b:
                    yield f"{key}.{sub}", inner_a, inner_b
        else:
            yield key, before, after


def _show(value: Any, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[:width - 1] + "…"


def render_diff(report: DiffReport, name_a: str, name_b: str) -> str:
    """The report as text: totals, outcome table, changes by field and outcome, examples."""
    lines = [f"A: {name_a}", f"B: {name_b}",
             f"{report.payloads} payloads; outputs differ for {report.changed}"]
    kinds = sorted(set(report.outcomes_a) | set(report.outcomes_b))
    width = max([len(k) for k in kinds] + [8])
    lines.append(f"  {'outcome':<{width}}  {'A':>7}  {'B':>7}")
    for kind in kinds:
        lines.append(f"  {kind:<{width}}  {report.outcomes_a[kind]:>7}  {report.outcomes_b[kind]:>7}")
    if report.fields:
        lines.append("changes by output field (A → B):")
        for (path, change), count in sorted(report.fields.items()):
            lines.append(f"  {path}: {change} in {count} event{'s' if count != 1 else ''}")
    if report.transitions:
        lines.append("changes of outcome (A → B):")
        for (before, after), count in sorted(report.transitions.items()):
            lines.append(f"  {before} → {after}: {count}")
    if report.examples:
        lines.append("examples:")
        for kind, found in sorted(report.examples.items()):
            lines.append(f"  {kind}:")
            for ex in found:
                label = f"{ex.where} ({ex.payload_id})" if ex.payload_id else ex.where
                if kind.endswith(" changed") or kind.endswith(" added") or kind.endswith(" removed"):
                    lines.append(f"    {label}: {_show(ex.a)} → {_show(ex.b)}")
                else:
                    lines.append(f"    {label}")
    if not report.changed:
        lines.append("no differences")
    return "\n".join(lines)
