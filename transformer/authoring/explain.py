"""Why each output value is what it is: a traced evaluation of a mapping on one payload.

The per-event path runs generated code, which records nothing. `explain` walks the compiled rule
specs instead, with the same expressions and filters, and records for every rule its place in
the YAML, its expression and the JSON path it read, the value found, which fallback won, the
value after each filter, and the skip rule or payload error that ended the evaluation.
`tests/test_explain.py` holds the traced values to the generated code's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jmespath.exceptions import JMESPathError

from ..errors import PayloadError
from ..expr import CompiledExpr
from ..expr.budget import OverBudgetError, events_error, json_size, over_budget
from ..expr.compile import is_false
from ..expr.functions import EvalError
from ..expr.runtime import UNSET
from ..filters import FilterValueError
from ..runtime.values import copy_except, deep_copy, rest_copier
from ..spec.plan import NOVALUE, RuleSpec, missing_message, no_value_test

if TYPE_CHECKING:
    from ..runtime.mapping import CompiledMapping

__all__ = ["Explanation", "FilterStepTrace", "RuleTrace", "SkipCheck", "explain"]


@dataclass(frozen=True, slots=True)
class FilterStepTrace:
    """A filter applied, and the value it gave (`NOVALUE`: none)."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class SkipCheck:
    """A skip rule checked: its id and reason, its place, and whether it matched."""

    id: str
    reason: str
    rule: str
    line: int
    column: int
    matched: bool


@dataclass(slots=True)
class RuleTrace:
    """What one rule did. `value` is `NOVALUE` when the rule had no value (key left out)."""

    path: str
    line: int
    column: int
    expression: str | None = None
    json_path: str | None = None
    when: str | None = None
    when_held: bool | None = None
    found: Any = NOVALUE
    candidates: list[RuleTrace] = field(default_factory=list)
    winner: int | None = None
    filters: list[FilterStepTrace] = field(default_factory=list)
    children: dict[str, RuleTrace] = field(default_factory=dict)
    """The traces of an object's fields, by output key."""
    value: Any = NOVALUE
    error: str | None = None
    error_rule: str | None = None
    description: str = ""
    is_const: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; values with no value are marked rather than given."""
        out: dict[str, Any] = {"rule": self.path, "line": self.line, "column": self.column}
        if self.description:
            out["description"] = self.description
        if self.when is not None:
            out["when"] = {"expression": self.when, "held": self.when_held}
        if self.expression is not None:
            out["expression"] = self.expression
        if self.is_const:
            out["const"] = self.found
        if self.json_path is not None and self.json_path != f"`{self.expression}`":
            out["json_path"] = self.json_path
        if self.found is not NOVALUE:
            out["found"] = self.found
        if self.candidates:
            out["fallbacks"] = [c.to_dict() for c in self.candidates]
            out["winner"] = self.winner
        if self.filters:
            out["filters"] = [{"filter": step.name, "value": step.value} for step in self.filters]
        if self.children:
            out["fields"] = {key: child.to_dict() for key, child in self.children.items()}
        if self.error is not None:
            out["error"] = {"rule": self.error_rule, "message": self.error}
        out["value" if self.value is not NOVALUE else "no_value"] = \
            self.value if self.value is not NOVALUE else True
        return out


@dataclass(slots=True)
class Explanation:
    """A payload's whole story: lets (by name), skip rules checked (`skip`: the one that
    matched), events (one trace per event), and the payload error `apply` would raise."""

    file: str
    payload_id: str | None
    lets: dict[str, RuleTrace] = field(default_factory=dict)
    skips_checked: list[SkipCheck] = field(default_factory=list)
    skip: SkipCheck | None = None
    events: list[RuleTrace] = field(default_factory=list)
    error: PayloadError | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the whole explanation."""
        out: dict[str, Any] = {"mapping": self.file, "payload_id": self.payload_id}
        out["lets"] = {name: trace.to_dict() for name, trace in self.lets.items()}
        out["skip_rules"] = [{"id": s.id, "rule": s.rule, "line": s.line, "column": s.column,
                              "matched": s.matched} for s in self.skips_checked]
        if self.skip is not None:
            skip = self.skip
            out["skip"] = {"id": skip.id, "reason": skip.reason, "rule": skip.rule, "line": skip.line,
                           "column": skip.column}
        if self.error is not None:
            out["error"] = {"rule": self.error.rule, "path": self.error.path, "message": self.error.message}
        out["events"] = [trace.to_dict() for trace in self.events]
        return out

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The events as the traces built them (equal to `apply`'s)."""
        return [trace.value if trace.value is not NOVALUE else {} for trace in self.events]


def explain(mapping: CompiledMapping, payload: Any) -> Explanation:
    """Evaluate `mapping` on `payload`, recording how every value came about."""
    parts = mapping.plan
    mapping.exact()   # the expressions' functions call the lets' functions the exact code defines
    story = Explanation(parts.file, mapping.payload_id(payload))
    env: list[Any] = [UNSET] * parts.slot_count
    env[0] = payload
    tracer = _Tracer(env)
    for let in parts.lets:
        trace = tracer.rule(let.rule)
        budget = parts.output_budget
        if let.name in parts.measured and trace.error is None and json_size(trace.value, budget) > budget:
            trace.error, trace.error_rule, trace.value = over_budget(budget), let.rule.path, NOVALUE
        story.lets[let.name] = trace
        if trace.error is None:
            env[let.slot] = None if trace.value is NOVALUE else trace.value
    try:
        for skip in parts.skips:
            held = not is_false(tracer.evaluate(skip.when, skip.path + ".when"))
            checked = SkipCheck(skip.id, skip.reason, skip.path, skip.line, skip.column, held)
            story.skips_checked.append(checked)
            if held:
                story.skip = checked
                return story
        if parts.each is None:
            story.events.append(tracer.rule(parts.output))
        else:
            items = tracer.evaluate(parts.each.source, "each.from")
            for item in items if isinstance(items, list) else []:
                env[parts.each.slot] = item
                for let in parts.lets:
                    if let.per_item:
                        env[let.slot] = UNSET
                story.events.append(tracer.rule(parts.output))
    except PayloadError as exc:
        story.error = exc
        return story
    failed = _first_error(story.events)
    if failed is not None:
        story.error = failed
    elif "fields" in parts.measured and json_size(story.outputs, parts.output_budget) > parts.output_budget:
        story.error = events_error(story.outputs, parts.output_budget)
    return story


def _first_error(traces: list[RuleTrace]) -> PayloadError | None:
    """The innermost error of the first failing rule: where `apply` would have raised."""
    for trace in traces:
        found = _first_error([*trace.children.values(), *trace.candidates])
        if found is not None:
            return found
        if trace.error is not None:
            return PayloadError(trace.error_rule or trace.path, trace.json_path or "$", trace.error)
    return None


class _Tracer:
    """Evaluates rule specs on one payload with the compiled expressions, recording as it goes."""

    def __init__(self, env: list[Any]) -> None:
        self.env = env

    def evaluate(self, expr: CompiledExpr, rule: str) -> Any:
        try:
            return expr.fn(self.env[0], self.env)
        except (EvalError, JMESPathError, OverBudgetError) as exc:
            raise PayloadError(rule, expr.json_path(), str(exc)) from None

    def rule(self, spec: RuleSpec) -> RuleTrace:
        trace = RuleTrace(spec.path, spec.line, spec.column, description=spec.description)
        try:
            self._rule(spec, trace)
        except PayloadError as exc:
            trace.error = exc.message
            trace.error_rule = exc.rule
            trace.json_path = trace.json_path or exc.path
            trace.value = NOVALUE
        return trace

    def _rule(self, spec: RuleSpec, trace: RuleTrace) -> None:
        if spec.when is not None:
            trace.when = spec.when.text
            trace.when_held = not is_false(self.evaluate(spec.when, spec.path + ".when"))
            if not trace.when_held:
                return
        empty = no_value_test(spec.no_value)
        value: Any = NOVALUE
        if spec.source is not None:
            trace.expression = spec.source.text
            trace.json_path = spec.source.json_path()
            found = self.evaluate(spec.source, spec.path + ".from")
            trace.found = found
            value = NOVALUE if empty(found) else found
            if spec.source.const and isinstance(value, (dict, list)):
                value = deep_copy(value)
        elif spec.first:
            for i, candidate in enumerate(spec.first):
                sub = self.rule(candidate)
                trace.candidates.append(sub)
                if sub.error is not None:
                    raise PayloadError(sub.error_rule or sub.path, sub.json_path or "$", sub.error)
                if sub.value is not NOVALUE:
                    trace.winner = i
                    trace.json_path = sub.json_path
                    value = trace.found = sub.value
                    break
        elif spec.fields is not None or spec.rest is not None:
            value = self._object(spec, trace)
        else:
            value = trace.found = deep_copy(spec.const)
            trace.is_const = True
        for step in spec.filters:
            if value is NOVALUE:
                break
            try:
                value = step.fn(value)
            except FilterValueError as exc:
                raise PayloadError(step.path, trace.json_path or "$", str(exc)) from None
            trace.filters.append(FilterStepTrace(step.name, NOVALUE if value is None else value))
            if value is None:
                value = NOVALUE
        if value is not NOVALUE and spec.filters and empty(value):
            value = NOVALUE
        if value is NOVALUE and spec.required:
            path = trace.json_path or "$"
            raise PayloadError(spec.path, path, missing_message(path))
        trace.value = value

    def _object(self, spec: RuleSpec, trace: RuleTrace) -> Any:
        out: dict[str, Any] = {}
        based = False
        if spec.rest is not None:
            rest = spec.rest
            trace.expression = f"rest of {rest.source.text}"
            trace.json_path = rest.source.json_path()
            source = self.evaluate(rest.source, rest.path + ".from")
            if source is not None:
                if not isinstance(source, dict):
                    raise PayloadError(rest.path + ".from", rest.source.json_path(),
                                       "rest expects an object")
                fixed, conditional = rest_copier(rest)
                if conditional:
                    flags = tuple(not is_false(self.evaluate(when, rest.path + ".except"))
                                  for when in conditional)
                    out = fixed(source, flags)
                else:
                    out = copy_except(source, fixed, rest.prune_empty)
                based = True
        for key, sub in spec.fields or []:
            child = self.rule(sub)
            trace.children[key] = child
            if child.error is not None:
                raise PayloadError(child.error_rule or child.path, child.json_path or "$", child.error)
            if child.value is not NOVALUE:
                out[key] = child.value
        return out if (out or based) else NOVALUE
