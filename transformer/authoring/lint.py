"""Warnings that `validate` does not raise: a valid mapping that is probably wrong.

Lint walks the compiled plan (`mapping.plan`: its rules, lets, skips, settings and the schemas it
names) and places each warning through the plan's source index; each warning's `Problem.code` is
a `LintCode`:

- `unknown-path`: a payload path the input schema does not describe (a typo), with a suggestion;
- `output-key`: an output key the output schema does not allow;
- `or-fallback`: `a || b` where `a` can be false or 0, which `||` treats as missing;
- `bare-literal`: `null`, `true` or `false` written without backquotes (a field of that name);
- `coverage`: an input combination (object_type x metric) that yields no named event and no skip,
  or two combinations that yield the same name (configured under `lint: coverage:`);
- `unused-setting`: a setting no expression reads (unless its `used_by` says who does).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..catalog import load_mapping
from ..errors import Problem, Severity, format_rule_path
from ..expr.parse import ParseFailure, parse_expression
from ..runtime.mapping import CompiledMapping
from ..spec.plan import RestSpec, RuleSpec
from ..spec.yaml_source import PathKey
from .lint_codes import LintCode
from .paths import PathWalker, Place
from .shapes import Shape, shape_of
from .synth import allowed_combinations

__all__ = ["lint_compiled", "lint_mapping"]


def lint_mapping(path: str | Path, settings: Mapping[str, Any] | None = None, *,
                 settings_file: str | Path | None = None,
                 environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every lint warning for a mapping (raises `SpecError` if it is not even valid)."""
    return lint_compiled(load_mapping(path, settings, settings_file=settings_file,
                                      environ=environ if environ is not None else {}))


def lint_compiled(mapping: CompiledMapping) -> list[Problem]:
    """Every lint warning for a compiled mapping, in the order of their places in the spec."""
    return _Linter(mapping).run()


class _Linter:
    def __init__(self, mapping: CompiledMapping) -> None:
        self.mapping = mapping
        self.plan = plan = mapping.plan
        self.input_shape = shape_of(plan.input_schema.document) if plan.input_schema else None
        self.output_shape = shape_of(plan.output_schema.document) if plan.output_schema else None
        self.input_name = plan.input_schema.name if plan.input_schema else "the input schema"
        self.places: dict[str, Place | None] = {}
        self.problems: list[Problem] = []
        self.boolean_settings = {name for name, decl in plan.settings.decls.items()
                                 if decl.type in ("boolean", "integer")}

    def warn(self, path: PathKey, code: LintCode, message: str, *, offset: int | None = None,
             at_key: bool = False) -> None:
        problem = self.plan.index.problem(path, format_rule_path(path), message, at_key=at_key,
                                          offset=offset, severity=Severity.WARNING, code=code)
        if problem not in self.problems:
            self.problems.append(problem)

    def run(self) -> list[Problem]:
        plan = self.plan
        root = Place(self.input_shape, "") if self.input_shape is not None else None
        if plan.each is not None:
            found = self.expression(plan.each.source.text, ("each", "from"), root)
            self.places[plan.each.name] = Place(found.shape.items, found.name + "[]") \
                if found is not None and found.shape.items is not None else None
        for let in plan.lets:
            self.places[let.name] = self.rule(let.rule, root)
        for skip in plan.skips:
            self.expression(skip.when.text, (*skip.key, "when"), root)
        if plan.input_id is not None:
            self.expression(plan.input_id.text, ("input", "id"), root)
        self.fields(plan.output, root, self.output_shape)
        self.unused_settings()
        self.coverage()
        return sorted(self.problems, key=lambda p: (p.line, p.column, p.message))

    # expressions and rules -----------------------------------------------------------------

    def expression(self, text: str, path: PathKey, here: Place | None) -> Place | None:
        try:
            ast = parse_expression(text)
        except ParseFailure:
            return None
        walker = PathWalker(self.input_name, self.places.get, self.boolean_settings)
        found = walker.walk(ast, here)
        for finding in walker.findings:
            self.warn(path, finding.code, finding.message, offset=finding.offset)
        return found

    def rule(self, spec: RuleSpec, here: Place | None) -> Place | None:
        if spec.when is not None:
            self.expression(spec.when.text, (*spec.key, "when"), here)
        found: Place | None = None
        if spec.source is not None:
            found = self.expression(spec.source.text, spec.source_key, here)
        for candidate in spec.first:
            place = self.rule(candidate, here)
            found = found or place
        if spec.rest is not None:
            self.rest(spec.rest, here)
        if spec.fields is not None:
            self.fields(spec, here, None)
        return found

    def rest(self, rest: RestSpec, here: Place | None) -> None:
        source = self.expression(rest.source.text, (*rest.key, "from"), here)
        for exclusion in rest.exclusions:
            if exclusion.when is not None:  # only an `except` item written as a mapping has one
                self.expression(exclusion.when.text, (*exclusion.key[:-1], "when"), here)
            if source is not None:
                self.expression(exclusion.text, exclusion.key, source)

    def fields(self, spec: RuleSpec, here: Place | None, output: Shape | None) -> None:
        for key, sub in spec.fields or []:
            if output is not None and (output.properties or output.closed) and key not in output.properties:
                allowed = ", ".join(sorted(output.properties)[:12])
                name = self.plan.output_schema.name if self.plan.output_schema else "the output schema"
                self.warn(sub.key, LintCode.OUTPUT_KEY, f"output key '{key}' is not allowed by {name} "
                                                        f"(allowed: {allowed}, …)", at_key=True)
            self.rule(sub, here)
            nested = output.properties.get(key) if output is not None else None
            if sub.fields is not None and nested is not None:
                for sub_key, leaf in sub.fields:
                    if (nested.properties or nested.closed) and sub_key not in nested.properties:
                        self.warn(leaf.key, LintCode.OUTPUT_KEY,
                                  f"output key '{key}.{sub_key}' is not allowed by the output schema",
                                  at_key=True)

    # settings and coverage -------------------------------------------------------------------

    def unused_settings(self) -> None:
        used = self.plan.used_variables
        for name, decl in self.plan.settings.decls.items():
            if name in used or decl.used_by or decl.owner is not None:  # owned: the destination's or source's
                continue
            self.warn(("settings", name), LintCode.UNUSED_SETTING,
                      f"setting '{name}' is declared but no expression reads it "
                      "(say `used_by:` if something outside the mapping does)", at_key=True)

    def coverage(self) -> None:
        config, schema = self.plan.coverage, self.plan.input_schema
        if config is None or schema is None:
            return
        names = config.names
        declared = {key for key, _ in self.plan.output.fields or []}
        where: PathKey = ("fields", names) if names in declared else ("lint", "coverage")
        by_name: dict[Any, list[str]] = {}
        for combo, payload in allowed_combinations(schema.document, list(config.over)):
            label = "/".join(str(v) for v in combo)
            for problem in self.coverage_gap(label, payload, names, by_name):
                self.warn(where, LintCode.COVERAGE, problem)
        for value, labels in by_name.items():
            if len(labels) > 1:
                shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
                self.warn(where, LintCode.COVERAGE, f"{len(labels)} input combinations all become {names} "
                                                    f"{value} ({shown}): one name for different events")

    def coverage_gap(self, label: str, payload: Any, names: str,
                     by_name: dict[Any, list[str]]) -> Iterator[str]:
        result = self.mapping.result(payload)
        if result.error is not None:
            yield f"{label}: the mapping fails on a payload the input schema allows: {result.error}"
            return
        if result.skip is not None:
            return
        if not result.events:
            yield f"{label}: allowed by the input schema, but gives no event and no skip"
        for event in result.events:
            value = event.get(names)
            if value in (None, ""):
                yield f"{label}: the event has no {names}"
            else:
                by_name.setdefault(json.dumps(value), []).append(label)
