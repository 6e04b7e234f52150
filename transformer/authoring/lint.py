"""Warnings that `validate` does not raise: a valid mapping that is probably wrong.

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

from ..errors import PayloadError, Problem
from ..expr.parse import ParseFailure, parse_expression
from ..io.schema_check import SchemaFile
from ..runtime.mapping import CompiledMapping, load_mapping
from ..spec.compiler import Plan
from ..spec.yaml_source import SourceIndex, load_yaml_file
from .paths import Finding, PathWalker, Place
from .shapes import Shape, shape_of
from .synth import allowed_combinations

__all__ = ["lint_mapping"]

PathKey = tuple[str | int, ...]


def lint_mapping(path: str | Path, settings: Mapping[str, Any] | None = None, *,
                 settings_file: str | Path | None = None,
                 environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every lint warning for a mapping (raises `SpecError` if it is not even valid)."""
    mapping = load_mapping(path, settings, settings_file=settings_file,
                           environ=environ if environ is not None else {})
    located = load_yaml_file(path)
    return _Linter(mapping, located.data, located.index).run()


def _load_shape(schema: SchemaFile | None) -> tuple[Shape | None, dict[str, Any] | None]:
    if schema is None:
        return None, None
    return shape_of(schema.document), schema.document


class _Linter:
    def __init__(self, mapping: CompiledMapping, data: dict[str, Any], index: SourceIndex) -> None:
        self.mapping = mapping
        self.plan: Plan = mapping.plan
        self.data = data
        self.index = index
        self.input_shape, self.input_schema = _load_shape(self.plan.input_schema)
        self.output_shape, _ = _load_shape(self.plan.output_schema)
        self.input_name = self.plan.input_schema.name if self.plan.input_schema else "the input schema"
        self.places: dict[str, Place | None] = {}
        self.problems: list[Problem] = []
        settings = data.get("settings") or {}
        self.boolean_settings = {n for n, d in settings.items()
                                 if isinstance(d, dict) and d.get("type") in ("boolean", "integer")}

    def warn(self, path: PathKey, code: str, message: str, *, offset: int | None = None,
             at_key: bool = False, severity: str = "warning") -> None:
        problem = self.index.problem(path, _rule(path), f"{message} [{code}]", at_key=at_key,
                                     offset=offset, severity=severity)
        if problem not in self.problems:
            self.problems.append(problem)

    def run(self) -> list[Problem]:
        root = Place(self.input_shape, "") if self.input_shape is not None else None
        each = self.data.get("each")
        if isinstance(each, dict) and isinstance(each.get("from"), str):
            found = self.expression(each["from"], ("each", "from"), root)
            item = each.get("as", "item")
            self.places[item] = Place(found.shape.items, found.name + "[]") \
                if found is not None and found.shape.items is not None else None
        for name, rule in (self.data.get("let") or {}).items():
            self.places[name] = self.rule(rule, ("let", name), root)
        for i, skip in enumerate(self.data.get("skip") or []):
            if isinstance(skip, dict) and isinstance(skip.get("when"), str):
                self.expression(skip["when"], ("skip", i, "when"), root)
        input_spec = self.data.get("input") or {}
        if isinstance(input_spec.get("id"), str):
            self.expression(input_spec["id"], ("input", "id"), root)
        self.fields(self.data.get("fields") or {}, ("fields",), root, self.output_shape)
        self.unused_settings()
        self.coverage()
        return sorted(self.problems, key=lambda p: (p.line, p.column, p.message))

    # expressions and rules -----------------------------------------------------------------

    def expression(self, text: str, path: PathKey, here: Place | None) -> Place | None:
        try:
            ast = parse_expression(text)
        except ParseFailure:
            return None
        walker = PathWalker(self.input_name, lambda name: self.places.get(name), self.boolean_settings)
        found = walker.walk(ast, here)
        for finding in walker.findings:
            self.report(finding, path)
        return found

    def report(self, finding: Finding, path: PathKey) -> None:
        self.warn(path, finding.code, finding.message, offset=finding.offset)

    def rule(self, raw: Any, path: PathKey, here: Place | None) -> Place | None:
        if isinstance(raw, str):
            return self.expression(raw, path, here)
        if not isinstance(raw, dict):
            return None
        if isinstance(raw.get("when"), str):
            self.expression(raw["when"], (*path, "when"), here)
        found: Place | None = None
        if isinstance(raw.get("from"), str):
            found = self.expression(raw["from"], (*path, "from"), here)
        for i, candidate in enumerate(raw.get("first") or []):
            place = self.rule(candidate, (*path, "first", i), here)
            found = found or place
        rest = raw.get("rest")
        if rest is not None:
            self.rest(rest, (*path, "rest"), here)
        if isinstance(raw.get("fields"), dict):
            self.fields(raw["fields"], (*path, "fields"), here, None)
        return found

    def rest(self, rest: Any, path: PathKey, here: Place | None) -> None:
        rest = {"from": rest} if isinstance(rest, str) else rest
        if not isinstance(rest, dict) or not isinstance(rest.get("from"), str):
            return
        source = self.expression(rest["from"], (*path, "from"), here)
        for i, item in enumerate(rest.get("except") or []):
            key_path, item_path = (item, (*path, "except", i)) if isinstance(item, str) else \
                (item.get("path"), (*path, "except", i, "path"))
            if isinstance(item, dict) and isinstance(item.get("when"), str):
                self.expression(item["when"], (*path, "except", i, "when"), here)
            if isinstance(key_path, str) and source is not None:
                self.expression(key_path, item_path, source)

    def fields(self, fields: dict[str, Any], path: PathKey, here: Place | None,
               output: Shape | None) -> None:
        for key, raw in fields.items():
            child_path = (*path, key)
            if output is not None and (output.properties or output.closed) and key not in output.properties:
                allowed = ", ".join(sorted(output.properties)[:12])
                name = self.plan.output_schema.name if self.plan.output_schema else "the output schema"
                self.warn(child_path, "output-key", f"output key '{key}' is not allowed by {name} "
                                                    f"(allowed: {allowed}, …)", at_key=True)
            self.rule(raw, child_path, here)
            nested = output.properties.get(key) if output is not None else None
            if isinstance(raw, dict) and isinstance(raw.get("fields"), dict) and nested is not None:
                for sub_key in raw["fields"]:
                    if (nested.properties or nested.closed) and sub_key not in nested.properties:
                        self.warn((*child_path, "fields", sub_key), "output-key",
                                  f"output key '{key}.{sub_key}' is not allowed by the output schema",
                                  at_key=True)

    # settings and coverage -------------------------------------------------------------------

    def unused_settings(self) -> None:
        used = self.plan.used_variables
        for name, decl in (self.data.get("settings") or {}).items():
            if name in used or (isinstance(decl, dict) and decl.get("used_by")):
                continue
            self.warn(("settings", name), "unused-setting",
                      f"setting '{name}' is declared but no expression reads it "
                      "(say `used_by:` if something outside the mapping does)", at_key=True)

    def coverage(self) -> None:
        config = (self.data.get("lint") or {}).get("coverage")
        if not isinstance(config, dict) or self.input_schema is None:
            return
        over = [str(name) for name in config.get("over") or []]
        names = str(config.get("names", ""))
        declared = self.data.get("fields") or {}
        where: PathKey = ("fields", names) if names in declared else ("lint", "coverage")
        by_name: dict[Any, list[str]] = {}
        for combo, payload in allowed_combinations(self.input_schema, over):
            label = "/".join(str(v) for v in combo)
            for problem in self.coverage_gap(label, payload, names, by_name):
                self.warn(where, "coverage", problem)
        for value, labels in by_name.items():
            if len(labels) > 1:
                shown = ", ".join(labels[:5]) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
                self.warn(where, "coverage", f"{len(labels)} input combinations all become {names} "
                                             f"{value} ({shown}): one name for different events")

    def coverage_gap(self, label: str, payload: Any, names: str,
                     by_name: dict[Any, list[str]]) -> Iterator[str]:
        try:
            result = self.mapping.apply(payload)
        except PayloadError as exc:
            yield f"{label}: the mapping fails on a payload the input schema allows: {exc}"
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


def _rule(path: PathKey) -> str:
    from ..errors import format_rule_path

    return format_rule_path(path)
