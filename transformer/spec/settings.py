"""Declared settings: their types, and resolving values from every source.

Precedence, highest first: values given by the caller (library call or `--set`), a settings
file (`--settings FILE`), environment variables, the declared default. Text values (from the
command line, the environment or a file) are parsed by the declared type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SettingsError, SpecError, describe_value, did_you_mean, short_repr
from ..io.schema_check import SchemaFile
from .patterns import PatternSpec, allowed_value_combinations, resolve_patterns
from .yaml_source import load_yaml_file

__all__ = [
    "ENV_PREFIX",
    "SETTING_FORMATS",
    "SETTING_TYPES",
    "SettingDecl",
    "Settings",
    "check_url",
    "env_names",
    "parse_assignments",
    "read_settings_file",
    "resolve_setting_patterns",
    "resolve_settings",
]

SETTING_TYPES = ("string", "integer", "boolean", "list")
ENV_PREFIX = "TRANSFORMER_"

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True, slots=True)
class SettingDecl:
    """One declared setting."""

    name: str
    type: str
    default: Any = None
    description: str = ""
    secret: bool = False
    env: tuple[str, ...] = ()
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    format: str | None = None
    patterns: PatternSpec | None = None
    used_by: str | None = None  # who reads it besides expressions (the embedding code)
    owner: str | None = None    # who declares it when not the mapping: "destination amplitude"

    def coerce(self, value: Any) -> Any:
        """Check a value against the declared type, parsing text; raises `ValueError`."""
        if value is None:
            return None
        kind = self.type
        if kind == "string" and type(value) is int:
            value = str(value)  # account_id: 1 means the id "1"
        if isinstance(value, str) and kind != "string":
            value = _parse_text(kind, value)
        if kind == "string" and not isinstance(value, str):
            raise ValueError(f"expected a string, got {describe_value(value, integer=True)}")
        if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"expected an integer, got {describe_value(value, integer=True)}")
        if kind == "boolean" and not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {describe_value(value, integer=True)}")
        if kind == "list":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"expected a list of strings, got {describe_value(value, integer=True)}")
            value = list(value)
        if self.choices is not None and value not in self.choices:
            known = ", ".join(str(c) for c in self.choices)
            raise ValueError(f"{short_repr(value)} is not one of: {known}")
        if self.minimum is not None and isinstance(value, int) and value < self.minimum:
            raise ValueError(f"must be at least {self.minimum}, got {value}")
        if self.format == "url":
            check_url(value)
        return value


SETTING_FORMATS = ("url",)


def check_url(value: str) -> None:
    """An absolute http(s) URL with a host (and a valid port, if any); raises `ValueError`."""
    problem = (f"{short_repr(value)} is not an http:// or https:// URL with a host "
               "(for example http://127.0.0.1:8787)")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(problem)


def _parse_text(kind: str, text: str) -> Any:
    raw = text.strip()
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {short_repr(text)}") from None
    if kind == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {short_repr(text)}")
    # list: a JSON array, or comma-separated words
    if raw.startswith("["):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ValueError("expected a JSON array or comma-separated list, "
                             f"got {short_repr(text)}") from None
        return parsed
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_names(decl: SettingDecl) -> tuple[str, ...]:
    """The environment variables read for a setting, in order of preference."""
    return (*decl.env, ENV_PREFIX + decl.name.upper())


@dataclass(frozen=True)
class Settings(Mapping[str, Any]):
    """Resolved setting values; secret values never appear in `repr` or `str`."""

    decls: Mapping[str, SettingDecl]
    resolved: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        if name not in self.decls:
            raise KeyError(name)
        return self.resolved.get(name)

    def __iter__(self) -> Any:
        return iter(self.decls)

    def __len__(self) -> int:
        return len(self.decls)

    def redacted(self) -> dict[str, Any]:
        """Values with every secret replaced by `'***'` (or None when unset)."""
        return {n: ("***" if d.secret and self.resolved.get(n) is not None else self.resolved.get(n))
                for n, d in self.decls.items()}

    def __repr__(self) -> str:
        return f"Settings({self.redacted()!r})"

    __str__ = __repr__


def resolve_settings(decls: Mapping[str, SettingDecl], given: Mapping[str, Any] | None = None, *,
                     file_values: Mapping[str, Any] | None = None,
                     environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every declared setting; raises `SettingsError` listing every bad name or value.

    `environ` is the environment to read (None: none); the caller decides whether that is
    `os.environ`: nothing here reads it."""
    given = dict(given or {})
    file_values = dict(file_values or {})
    environ = environ if environ is not None else {}
    errors: list[str] = []
    for where, supplied in (("", given), ("settings file: ", file_values)):
        for name in supplied:
            if name not in decls:
                known = ", ".join(sorted(decls)) or "none"
                errors.append(f"{where}unknown setting '{name}'{did_you_mean(name, decls)} (known: {known})")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, decl in decls.items():
        raw: Any = None
        origin = "default"
        if name in given:
            raw, origin = given[name], "given"
        elif name in file_values:
            raw, origin = file_values[name], "settings file"
        else:
            for var in env_names(decl):
                if var in environ:
                    raw, origin = environ[var], f"environment variable {var}"
                    break
            else:
                raw = decl.default
        try:
            values[name] = decl.coerce(raw)
        except ValueError as exc:
            detail = "invalid value" if decl.secret else str(exc)
            errors.append(f"setting '{name}' ({origin}): {detail}")
            continue
        sources[name] = origin
    if errors:
        raise SettingsError(errors)
    return Settings(decls, values, sources)


def resolve_setting_patterns(settings: Settings, input_schema: SchemaFile) -> Settings:
    """Settings with `patterns` checked against the input schema's combinations and written in
    the canonical spelling (see `setting_patterns`); raises `SettingsError`."""
    values = dict(settings.resolved)
    errors: list[str] = []
    for name, decl in settings.decls.items():
        given = values.get(name)
        if decl.patterns is None or not given or all(p == "*" for p in given):
            continue
        combinations = allowed_value_combinations(input_schema, decl.patterns.over)
        try:
            values[name] = resolve_patterns(given, decl.patterns, combinations)
        except ValueError as exc:
            errors.append(f"setting '{name}' ({settings.sources.get(name, 'default')}): {exc}")
    if errors:
        raise SettingsError(errors)
    return Settings(settings.decls, values, settings.sources)


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """`["a=1", "b=x"]` → `{"a": "1", "b": "x"}`; raises `SettingsError` on a pair without `=`."""
    out: dict[str, str] = {}
    bad: list[str] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            bad.append(f"--set expects NAME=VALUE, got {pair!r}")
            continue
        out[name.strip()] = value
    if bad:
        raise SettingsError(bad)
    return out


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON settings file: a mapping of setting name to value. It is read as a
    mapping spec is, within the same limits (size, aliases, nesting, core tags only)."""
    if not Path(path).is_file():
        reason = "no such file" if not Path(path).exists() else "not a file"
        raise SettingsError([f"cannot read settings file {path}: {reason}"])
    try:
        # integers keep their text: `account_id: 0123` is the id "0123" (an integer setting
        # parses the text all the same)
        data = load_yaml_file(path, integers_as_text=True).data
    except SpecError as exc:
        raise SettingsError([f"settings file {p.file}:{p.line}:{p.column}: {p.message}"
                             for p in exc.problems]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError([f"settings file {path}: expected a mapping of setting names to values"])
    return {str(k): v for k, v in data.items()}
