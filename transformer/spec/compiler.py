"""Spec data → compiled parts, collecting every problem before raising.

Checks, in one pass: the spec against `schemas/mapping.schema.json`; setting declarations and
their defaults; every expression (syntax, functions, arities, variables); every filter and its
arguments; skip rule ids; the input and output schemas the mapping names. Every problem carries
the file, line, column and rule path; `SpecError` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import Problem, SettingsError, SpecError, did_you_mean, format_rule_path, unknown_name
from ..expr import CompiledExpr, ExprError, Namespace, Scope, compile_expression
from ..expr.budget import DEFAULT_OUTPUT_BUDGET
from ..filters import FILTERS, FilterArgError, FilterFn
from ..io.schema_check import SchemaFile, SchemaFileError, read_schema_file
from .components import Components
from .growth import UNCHECKED_COPIES, Growth
from .origin import Origin, SpecFiles
from .patterns import PatternSpec
from .plan import NO_VALUE_SOURCES, Exclusion, FilterStep, RestSpec, RuleSpec
from .schema import check_spec_schema
from .settings import (
    SETTING_FORMATS,
    SETTING_TYPES,
    SettingDecl,
    Settings,
    resolve_setting_patterns,
    resolve_settings,
)
from .yaml_source import Located, PathKey, SourceIndex

__all__ = ["CoverageSpec", "EachSpec", "LetSpec", "Plan", "SkipSpec", "compile_spec"]

_SOURCE_KEYS = ("from", "const", "first", "rest", "fields")
_RULE_KEYS = {*_SOURCE_KEYS, "description", "when", "filters", "no_value", "required"}


@dataclass(slots=True)
class SkipSpec:
    """A compiled skip rule, at `key` in the spec."""

    id: str
    when: CompiledExpr
    reason: str
    path: str
    line: int
    column: int
    key: PathKey = ()


@dataclass(slots=True)
class EachSpec:
    """`each`: the list expression, and the variable (name and slot) each element is bound to."""

    source: CompiledExpr
    name: str
    slot: int


@dataclass(frozen=True, slots=True)
class CoverageSpec:
    """`lint: coverage:`: the input fields whose value combinations lint tries, and the output
    field that names the event."""

    over: tuple[str, ...]
    names: str


@dataclass(slots=True)
class LetSpec:
    """A compiled `let` value and its variable slot."""

    name: str
    slot: int
    rule: RuleSpec
    per_item: bool


@dataclass(slots=True)
class Plan:
    """Everything a runtime needs, checked: the compiled rules, and the namespace their
    expressions were compiled into (`runtime.codegen` writes the per-payload function from it)."""

    file: str
    name: str
    settings: Settings
    lets: list[LetSpec]
    skips: list[SkipSpec]
    output: RuleSpec
    each: EachSpec | None
    input_id: CompiledExpr | None
    input_schema: SchemaFile | None
    output_schema: SchemaFile | None
    cases: Path | None
    namespace: Namespace
    slot_count: int
    index: SourceIndex
    origin: Origin
    coverage: CoverageSpec | None
    """The text, file name and named files it was compiled from (what a pickled mapping carries)."""
    used_variables: set[str] = field(default_factory=set)
    output_budget: int = DEFAULT_OUTPUT_BUDGET
    measured: list[str] = field(default_factory=list)
    """What is measured against the output budget: lets by name, and "fields" (the events)."""
    destination: str | None = None
    """Where `send` and `serve` deliver the events (the spec's `destination:`, or the override)."""
    source: str | None = None
    """Where `serve` takes payloads from (the spec's `source:`)."""
    components: Components | None = None
    """The destinations and sources the spec could name, as given to the compiler."""


def compile_spec(located: Located, *, given: Mapping[str, Any] | None = None,
                 file_values: Mapping[str, Any] | None = None,
                 environ: Mapping[str, str] | None = None,
                 output_budget: int = DEFAULT_OUTPUT_BUDGET, files: SpecFiles | None = None,
                 components: Components | None = None) -> Plan:
    """Check and compile a composed spec; raises `SpecError` or `SettingsError`.

    `environ` is the environment settings are read from (None: none). The files the spec names
    are found through `files` (default: on disk, beside the spec). `components` are the
    destinations and sources the spec may name, with their settings; without them the names are
    taken unchecked and declare no settings."""
    return _SpecCompiler(located, output_budget, files).run(given, file_values, environ, components)


class _SpecCompiler:
    def __init__(self, located: Located, output_budget: int, files: SpecFiles | None) -> None:
        self.located = located
        self.data = located.data
        self.index = located.index
        self.file = located.index.file
        self.files = files if files is not None else SpecFiles(self.file)
        self.problems: list[Problem] = []
        self.growth = Growth()
        self.scope = Scope(guarded=self.growth.guarded, budget=output_budget)
        self.others: dict[str, SettingDecl] = {}
        """Settings the destination and source declare (not readable by expressions)."""

    # problems ----------------------------------------------------------------------------

    def problem(self, path: PathKey, message: str, *, at_key: bool = False,
                offset: int | None = None) -> None:
        found = self.index.problem(path, format_rule_path(path), message, at_key=at_key, offset=offset)
        if found not in self.problems:
            self.problems.append(found)

    # top level ---------------------------------------------------------------------------

    def run(self, given: Mapping[str, Any] | None, file_values: Mapping[str, Any] | None,
            environ: Mapping[str, str] | None, components: Components | None) -> Plan:
        data = self.data
        if not isinstance(data, dict):
            self.problem((), "a mapping spec must be a YAML mapping (key: value lines)")
            raise SpecError(self.problems)
        schema_problems = check_spec_schema(data, self.index, self.located.text)
        input_spec = _section(data, "input")
        input_schema = self.schema_file(input_spec.get("schema"), ("input", "schema"))
        destination = self.component(data, "destination", components)
        source = self.component(data, "source", components)
        self.others = {d.name: d for name, kind in ((destination, "destination"), (source, "source"))
                       if name is not None and components is not None
                       for d in components.of(kind).get(name, ())}
        decls = self.settings(data.get("settings"), input_schema)
        every = {**decls, **self.others}
        settings_error: SettingsError | None = None
        try:
            settings = resolve_settings(every, given, file_values=file_values, environ=environ)
            if input_schema is not None:
                settings = resolve_setting_patterns(settings, input_schema)
        except SettingsError as exc:
            settings_error = exc
            settings = resolve_settings(every, {})
        scope = self.scope
        scope.constants = {n: settings.resolved.get(n) for n, d in decls.items() if not d.secret}
        scope.secret = frozenset(n for n, d in decls.items() if d.secret)
        self.slot_count = 1
        scope.undefined_hint = self.undefined_hint
        each = self.each(data.get("each"))
        lets = self.lets(data.get("let"), each.slot if each is not None else None)
        skips = self.skips(data.get("skip"))
        output = self.rule(data.get("fields", {}), ("fields",), "null", top=True)
        output_spec = _section(data, "output")
        input_id = self.expression(input_spec.get("id"), ("input", "id"))
        output_schema = self.schema_file(output_spec.get("schema"), ("output", "schema"))
        cases = self.relative_path(data.get("tests"), ("tests",), must_be_dir=True)
        # Where the compiler has its own, more specific word for a place, it wins.
        mine = {p.rule for p in self.problems}
        self.problems.extend(p for p in schema_problems if p.rule not in mine)
        if self.problems:
            raise SpecError(self.problems)
        if settings_error is not None:
            raise settings_error
        assert output is not None
        measured = [let.name for let in lets if self.growth.lets[let.name].copies > UNCHECKED_COPIES]
        if each is not None or self.growth.rule(output).copies > UNCHECKED_COPIES:
            measured.append("fields")
        return Plan(
            file=self.file, name=str(data.get("name", Path(self.file).stem)), settings=settings,
            lets=lets, skips=skips, output=output, each=each, input_id=input_id,
            input_schema=input_schema, output_schema=output_schema, cases=cases,
            namespace=scope.ns, slot_count=self.slot_count, index=self.index,
            origin=Origin(self.located.text, self.file, dict(self.files.found)),
            coverage=_coverage(data.get("lint")),
            used_variables=scope.used, output_budget=scope.budget, measured=measured,
            destination=destination, source=source, components=components)

    def undefined_hint(self, name: str) -> str:
        lets = self.data.get("let") if isinstance(self.data.get("let"), dict) else {}
        if name in lets:
            return f" (let '{name}' is defined later: a let may use settings and earlier lets only)"
        if name in self.others:
            return (f" (setting '{name}' is declared by {self.others[name].owner}: expressions read "
                    "only the mapping's own settings)")
        known = sorted({*self.scope.constants, *self.scope.slots, *self.scope.secret})
        return did_you_mean(name, known) + (f" (known: {', '.join(known)})" if known else "")

    # destination and source --------------------------------------------------------------

    def component(self, data: dict[str, Any], kind: str, components: Components | None) -> str | None:
        """The destination or source the spec names (or the override), checked when known."""
        if kind == "destination" and components is not None and components.destination is not None:
            return components.destination
        name = data.get(kind)
        if not isinstance(name, str):
            return None  # absent, or the schema check reports it
        known = components.of(kind) if components is not None else None
        if known is not None and name not in known:
            self.problem((kind,), unknown_name(kind, name, known))
            return None
        return name

    # settings ----------------------------------------------------------------------------

    def settings(self, raw: Any, input_schema: SchemaFile | None) -> dict[str, SettingDecl]:
        decls: dict[str, SettingDecl] = {}
        if not isinstance(raw, dict):
            return decls
        for name, spec in raw.items():
            path: PathKey = ("settings", name)
            if name in self.others:
                self.problem(path, f"setting '{name}' is declared by {self.others[name].owner}, not by "
                                   "the mapping: remove it here (give its value as before, with --set, "
                                   "a settings file or the environment)", at_key=True)
                continue
            if not isinstance(spec, dict) or spec.get("type") not in SETTING_TYPES:
                continue  # the schema check reports it
            env = spec.get("env", [])
            env = [env] if isinstance(env, str) else env
            choices = spec.get("choices")
            decl = SettingDecl(
                name=name, type=spec["type"], default=None, description=str(spec.get("description", "")),
                secret=bool(spec.get("secret", False)),
                env=tuple(e for e in env if isinstance(e, str)),
                choices=tuple(choices) if isinstance(choices, list) else None,
                minimum=spec.get("minimum") if isinstance(spec.get("minimum"), int) else None,
                format=spec.get("format") if spec.get("format") in SETTING_FORMATS else None,
                patterns=self.pattern_spec(spec, path, input_schema),
                used_by=spec.get("used_by") if isinstance(spec.get("used_by"), str) else None)
            if decl.format is not None and decl.type != "string":
                self.problem((*path, "format"), f"format '{decl.format}' is for string settings")
            if decl.choices is not None:
                for i, choice in enumerate(decl.choices):
                    try:
                        SettingDecl(name, decl.type).coerce(choice)
                    except ValueError as exc:
                        self.problem((*path, "choices", i), str(exc))
            default = spec.get("default")
            if default is not None:
                if decl.secret:
                    self.problem((*path, "default"), "a secret setting cannot have a default "
                                                     "(it would be written in clear in the spec)")
                try:
                    default = decl.coerce(default)
                except ValueError as exc:
                    self.problem((*path, "default"), f"default does not fit type {decl.type}: {exc}")
                    default = None
            decls[name] = replace(decl, default=default)
        return decls

    def pattern_spec(self, spec: dict[str, Any], path: PathKey,
                     input_schema: SchemaFile | None) -> PatternSpec | None:
        raw = spec.get("patterns")
        if not isinstance(raw, dict) or not isinstance(raw.get("over"), list):
            return None  # absent, or the schema check reports it
        if spec.get("type") != "list":
            self.problem((*path, "patterns"), "patterns are for list settings")
            return None
        if input_schema is None:
            self.problem((*path, "patterns"), "patterns are checked against the input schema: "
                                              "give input.schema")
            return None
        also = raw.get("also_joined_by", [])
        return PatternSpec(tuple(str(n) for n in raw["over"]), str(raw.get("separator", "/")),
                           tuple(str(a) for a in also) if isinstance(also, list) else ())

    # variables ---------------------------------------------------------------------------

    def each(self, raw: Any) -> EachSpec | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("from"), str):
            return None
        name = raw.get("as", "item")
        if not isinstance(name, str):
            return None
        expr = self.expression(raw["from"], ("each", "from"))
        if name in self.scope.constants or name in self.scope.secret:
            self.problem(("each", "as"), f"'{name}' is already the name of a setting")
        slot = self.new_slot(name)
        self.growth.each(name, raw["from"])
        return EachSpec(expr, name, slot) if expr is not None else None

    def new_slot(self, name: str) -> int:
        slot = self.slot_count
        self.slot_count += 1
        self.scope.slots[name] = slot
        return slot

    def lets(self, raw: Any, item_slot: int | None) -> list[LetSpec]:
        if not isinstance(raw, dict):
            return []
        out: list[LetSpec] = []
        per_item_names = {n for n, s in self.scope.slots.items() if s == item_slot}
        for name, spec in raw.items():
            path: PathKey = ("let", name)
            if name in self.scope.constants or name in self.scope.secret:
                self.problem(path, f"let '{name}' has the name of a setting", at_key=True)
                continue
            before = set(self.scope.used)
            self.scope.used = set()
            rule = self.rule(spec, path, "null")
            used_here = self.scope.used
            self.scope.used = before | used_here
            slot = self.new_slot(name)
            self.scope.fill[name] = f"_fill{slot}"
            if rule is None:
                continue
            self.growth.let(name, rule)
            per_item = bool(used_here & per_item_names)
            if per_item:
                per_item_names.add(name)
            out.append(LetSpec(name, slot, rule, per_item))
        return out

    # skip rules --------------------------------------------------------------------------

    def skips(self, raw: Any) -> list[SkipSpec]:
        if not isinstance(raw, list):
            return []
        out: list[SkipSpec] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            path: PathKey = ("skip", i)
            if not isinstance(item, dict):
                continue
            rule_id, reason, when = item.get("id"), item.get("reason"), item.get("when")
            if isinstance(rule_id, str):
                if rule_id in seen:
                    self.problem((*path, "id"),
                                 f"skip rule id '{rule_id}' is already used by skip[{seen[rule_id]}]")
                seen.setdefault(rule_id, i)
            compiled = self.expression(when, (*path, "when"), condition=True)
            if compiled is not None and isinstance(rule_id, str) and isinstance(reason, str):
                pos = self.index.value_at(path)
                out.append(SkipSpec(rule_id, compiled, reason, format_rule_path(path), pos.line, pos.column,
                                    path))
        return out

    # expressions -------------------------------------------------------------------------

    def expression(self, text: Any, path: PathKey, *, condition: bool = False) -> CompiledExpr | None:
        if not isinstance(text, str):
            return None
        self.growth.expression(text)
        try:
            return compile_expression(text, self.scope, condition=condition)
        except ExprError as exc:
            self.problem(path, exc.message, offset=exc.offset)
            return None

    # value rules -------------------------------------------------------------------------

    def rule(self, raw: Any, path: PathKey, no_value: str, *, top: bool = False) -> RuleSpec | None:
        pos = self.index.value_at(path)
        shorthand = isinstance(raw, str)
        spec = RuleSpec(path=format_rule_path(path), key=path,
                        source_key=path if shorthand else (*path, "from"),
                        line=pos.line, column=pos.column, no_value=no_value)
        if shorthand:
            raw = {"from": raw}
        if not isinstance(raw, dict):
            return None
        if top:
            raw = {"fields": raw}
        level = raw.get("no_value", no_value)
        if level in NO_VALUE_SOURCES:
            spec.no_value = level
        spec.description = str(raw.get("description", ""))
        spec.required = raw.get("required") is True
        sources = [k for k in _SOURCE_KEYS if k in raw]
        if sorted(sources) == ["fields", "rest"]:
            pass
        elif not sources and not set(raw) <= _RULE_KEYS:
            return None  # an unknown key, reported by the schema check, is the likelier mistake
        elif len(sources) != 1:
            found = f" (found: {', '.join(sources)})" if sources else ""
            self.problem(path, "a rule needs exactly one of from, const, first, rest, fields"
                               f" (only rest and fields go together){found}")
            return None
        ok = True
        if "when" in raw:
            spec.when = self.expression(raw["when"], (*path, "when"), condition=True)
            ok = ok and spec.when is not None
        if "from" in raw:
            spec.source = self.expression(raw["from"], spec.source_key)
            ok = ok and spec.source is not None
        if "const" in raw:
            spec.const = raw["const"]
            if spec.const is None:
                self.problem((*path, "const"), "const cannot be null (a field with no value is left out)")
        if "first" in raw:
            items = raw["first"]
            if isinstance(items, list):
                for i, item in enumerate(items):
                    candidate = self.rule(item, (*path, "first", i), spec.no_value)
                    if candidate is not None:
                        spec.first.append(candidate)
                    else:
                        ok = False
        if "rest" in raw:
            spec.rest = self.rest(raw["rest"], (*path, "rest"))
            ok = ok and spec.rest is not None
        if "fields" in raw:
            fields = raw["fields"]
            spec.fields = []
            base: PathKey = path if top else (*path, "fields")
            if isinstance(fields, dict):
                for key, sub in fields.items():
                    compiled = self.rule(sub, (*base, key), "null")
                    if compiled is not None:
                        spec.fields.append((key, compiled))
                    else:
                        ok = False
        if "filters" in raw:
            spec.filters = self.filters(raw["filters"], (*path, "filters"))
        return spec if ok else None

    def rest(self, raw: Any, path: PathKey) -> RestSpec | None:
        if isinstance(raw, str):
            raw = {"from": raw}
        if not isinstance(raw, dict) or not isinstance(raw.get("from"), str):
            return None
        source = self.expression(raw["from"], (*path, "from"))
        exclusions: list[Exclusion] = []
        excepts = raw.get("except", [])
        for i, item in enumerate(excepts if isinstance(excepts, list) else []):
            item_path: PathKey = (*path, "except", i)
            if isinstance(item, str):
                item = {"path": item}
                key_path = item_path
            elif isinstance(item, dict):
                key_path = (*item_path, "path")
            else:
                continue
            keys = self.key_path(item.get("path"), key_path)
            when = self.expression(item["when"], (*item_path, "when"), condition=True) \
                if "when" in item else None
            if keys is not None and ("when" not in item or when is not None):
                exclusions.append(Exclusion(keys, when, item["path"], key_path))
        if source is None:
            return None
        return RestSpec(source, exclusions, raw.get("prune_empty") is True, format_rule_path(path), path)

    def key_path(self, text: Any, path: PathKey) -> tuple[str, ...] | None:
        if not isinstance(text, str):
            return None
        try:
            compiled = compile_expression(text, Scope())
        except ExprError as exc:
            self.problem(path, exc.message, offset=exc.offset)
            return None
        steps = compiled.steps
        if not steps or compiled.root_var is not None or not all(isinstance(s, str) for s in steps):
            self.problem(path, f"'{text}' is not a path of keys such as identifiers.id")
            return None
        return tuple(str(s) for s in steps)

    # filters -----------------------------------------------------------------------------

    def filters(self, raw: Any, path: PathKey) -> list[FilterStep]:
        steps: list[FilterStep] = []
        if not isinstance(raw, list):
            return steps
        for i, item in enumerate(raw):
            step = self.filter(item, (*path, i))
            if step is not None:
                steps.append(step)
        return steps

    def filter(self, item: Any, path: PathKey) -> FilterStep | None:
        if isinstance(item, str):
            name, args, given = item, None, False
        elif isinstance(item, dict) and len(item) == 1:
            name, args = next(iter(item.items()))
            given = True
        else:
            return None  # the schema check reports it
        fdef = FILTERS.get(name)
        if fdef is None:
            return None  # the schema check reports it, with the known names
        if fdef.takes_args and not given:
            self.problem(path, f"filter '{name}' needs arguments: write it as {{{name}: ...}}")
            return None
        if not fdef.takes_args and given and args is not None:
            self.problem((*path, name), f"filter '{name}' takes no arguments: write it as a bare name")
            return None
        context = _FilterContext(self, (*path, name))
        try:
            fn = fdef.factory(args, context)
        except FilterArgError as exc:
            if exc.message:  # an empty message: a nested filter, already reported
                self.problem((*path, name, *exc.path), exc.message)
            return None
        return FilterStep(name, fn, format_rule_path(path), fdef.inline, fdef.memo)

    # files -------------------------------------------------------------------------------

    def relative_path(self, raw: Any, path: PathKey, *, must_be_dir: bool = False) -> Path | None:
        if not isinstance(raw, str):
            return None
        found = self.files.find(raw)
        if found is None:
            self.problem(path, f"no such {'folder' if must_be_dir else 'file'}: {raw} "
                               f"(relative to {Path(self.file).parent or '.'})")
            return None
        return found

    def schema_file(self, raw: Any, path: PathKey) -> SchemaFile | None:
        found = self.relative_path(raw, path)
        if found is None:
            return None
        try:
            return read_schema_file(found, self.files.read(raw))
        except OSError as exc:
            self.problem(path, f"{raw} is not readable JSON: {exc}")
        except SchemaFileError as exc:
            self.problem(path, f"{raw} is {exc}")
        return None


class _FilterContext:
    def __init__(self, compiler: _SpecCompiler, path: PathKey) -> None:
        self.compiler = compiler
        self.path = path

    def pipeline(self, items: Any, path: tuple[str | int, ...]) -> Sequence[FilterFn]:
        full = (*self.path, *path)
        if not isinstance(items, list):
            raise FilterArgError("expected a list of filters", path)
        steps = self.compiler.filters(items, full)
        if len(steps) != len(items):
            raise FilterArgError("", path)  # the nested problem is already reported
        return [step.fn for step in steps]


def _coverage(raw: Any) -> CoverageSpec | None:
    config = raw.get("coverage") if isinstance(raw, dict) else None
    if not isinstance(config, dict):
        return None
    return CoverageSpec(tuple(str(name) for name in config.get("over") or []), str(config.get("names", "")))


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    found = data.get(key)
    return found if isinstance(found, dict) else {}



