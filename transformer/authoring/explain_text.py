"""An explanation as text for a terminal: one block per let, skip rule and output field."""

from __future__ import annotations

import json
from typing import Any

from ..spec.plan import NOVALUE
from .explain import Explanation, RuleTrace

__all__ = ["render_explanation"]

_WIDTH = 100


def render_explanation(story: Explanation, *, where: str = "") -> str:
    """The explanation, indented, each rule with its file:line:column."""
    lines: list[str] = []
    head = f"payload {story.payload_id or '(no id)'}"
    lines.append(f"{where}: {head}" if where else head)
    if story.lets:
        lines.append("let")
        for name, trace in story.lets.items():
            _rule(lines, f"${name}", trace, story.file, 1)
    if story.skips_checked:
        lines.append("skip rules")
        for check in story.skips_checked:
            verdict = "MATCHED: payload skipped" if check.matched else "no"
            lines.append(f"  {check.id}  ({story.file}:{check.line}:{check.column}, {check.rule}): {verdict}")
    if story.skip is not None:
        lines.append(f"result: skipped by {story.skip.id}: {story.skip.reason}")
        return "\n".join(lines)
    for n, event in enumerate(story.events, start=1):
        lines.append(f"event {n}" if len(story.events) > 1 else "event")
        for key, child in event.children.items():
            _rule(lines, key, child, story.file, 1)
    if story.error is not None:
        error = story.error
        lines.append(f"result: payload error at {error.rule}: {error.message} (at {error.path})")
    elif story.events:
        lines.append(f"result: {len(story.events)} event{'s' if len(story.events) != 1 else ''}")
    else:
        lines.append("result: no events")
    return "\n".join(lines)


def _rule(lines: list[str], label: str, trace: RuleTrace, file: str, depth: int) -> None:
    pad = "  " * depth
    lines.append(f"{pad}{label}  ({file}:{trace.line}:{trace.column})")
    _body(lines, trace, file, depth + 1)


def _body(lines: list[str], trace: RuleTrace, file: str, depth: int) -> None:
    pad = "  " * depth
    if trace.when is not None:
        lines.append(f"{pad}when {trace.when} → {'true' if trace.when_held else 'false'}")
        if not trace.when_held:
            lines.append(f"{pad}= no value (left out)")
            return
    if trace.candidates:
        for i, candidate in enumerate(trace.candidates):
            won = "  ← first with a value" if trace.winner == i else ""
            lines.append(f"{pad}fallback [{i}] ({file}:{candidate.line}:{candidate.column}){won}")
            _body(lines, candidate, file, depth + 1)
    elif trace.is_const:
        lines.append(f"{pad}const {_show(trace.found)}")
    elif trace.expression is not None and not trace.children:
        source = f" ({trace.json_path})" if trace.json_path and trace.json_path != f"`{trace.expression}`" \
            and not trace.json_path.endswith(trace.expression) else ""
        lines.append(f"{pad}from {trace.expression}{source} → {_show(trace.found)}")
    elif trace.children:
        if trace.expression is not None:
            lines.append(f"{pad}{trace.expression} ({trace.json_path})")
        for key, child in trace.children.items():
            _rule(lines, key, child, file, depth)
    for step in trace.filters:
        lines.append(f"{pad}| {step.name} → {_show(step.value)}")
    if trace.error is not None:
        lines.append(f"{pad}ERROR: {trace.error}" + (f" (at {trace.json_path})" if trace.json_path else ""))
    elif not trace.children or trace.value is NOVALUE:
        lines.append(f"{pad}= {_show(trace.value, final=True)}")


def _show(value: Any, *, final: bool = False) -> str:
    if value is NOVALUE:
        return "no value (left out)" if final else "no value"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _WIDTH else text[:_WIDTH - 1] + "…"
