"""Apply a compiled mapping to payloads: pure, no I/O, never sees YAML text."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compiler import CompiledParts, compile_spec
from .errors import PayloadError
from .expr.compile import UNSET, is_false
from .rules import NOVALUE, build, evaluate_expr
from .settings import Settings, read_settings_file
from .yaml_source import load_yaml_file

__all__ = ["CompiledMapping", "Result", "Skip", "load_mapping"]


@dataclass(frozen=True, slots=True)
class Skip:
    """A payload deliberately not turned into events: the skip rule's id and reason."""

    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one payload: its events, or a skip, or (from `apply_many`) an error."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skip: Skip | None = None
    error: PayloadError | None = None
    id: str | None = None


class CompiledMapping:
    """A loaded, checked mapping; `apply` turns one payload into a `Result`."""

    def __init__(self, parts: CompiledParts) -> None:
        self.parts = parts
        self.settings: Settings = parts.settings
        self.file = parts.file
        self.name = parts.name
        self._template = [UNSET] * parts.slot_count
        self._skips = [(skip.when, skip.path + ".when", Skip(skip.id, skip.reason))
                       for skip in parts.skips]
        self._output = build(parts.output)
        self._id = parts.input_id
        self._each = parts.each
        self._item_slot = parts.item_slot
        self._per_item = [let.slot for let in parts.lets if let.per_item]

    def __repr__(self) -> str:
        return f"CompiledMapping({self.file!r}, settings={self.settings!r})"

    def payload_id(self, payload: Any) -> str | None:
        """The payload's id by the mapping's `input.id` expression, or None."""
        if self._id is None:
            return None
        try:
            value = self._id.fn(payload, [payload])
        except Exception:  # noqa: BLE001 - an id is only a label; a bad one is no id
            return None
        return value if isinstance(value, str) else (str(value) if type(value) is int else None)

    def apply(self, payload: Any) -> Result:
        """Transform one payload; raises `PayloadError` when the mapping cannot handle it."""
        env = self._template.copy()
        env[0] = payload
        for when, rule, skip in self._skips:
            if not is_false(evaluate_expr(when, env, rule)):
                return Result(skip=skip, id=self.payload_id(payload))
        if self._each is None:
            event = self._output(env)
            return Result(events=[event if event is not NOVALUE else {}], id=self.payload_id(payload))
        return Result(events=self._apply_each(env), id=self.payload_id(payload))

    def _apply_each(self, env: list[Any]) -> list[dict[str, Any]]:
        assert self._each is not None and self._item_slot is not None
        items = evaluate_expr(self._each, env, "each.from")
        if items is None:
            return []
        if not isinstance(items, list):
            raise PayloadError("each.from", self._each.json_path(), "expected a list")
        events = []
        for item in items:
            env[self._item_slot] = item
            for slot in self._per_item:
                env[slot] = UNSET
            event = self._output(env)
            events.append(event if event is not NOVALUE else {})
        return events

    def apply_many(self, payloads: Iterable[Any]) -> Iterator[Result]:
        """Lazily transform a stream; a payload error becomes a `Result` with `.error` set."""
        apply = self.apply
        for payload in payloads:
            try:
                yield apply(payload)
            except PayloadError as exc:
                yield Result(error=exc, id=self.payload_id(payload))


def load_mapping(path: str | Path, settings: Mapping[str, Any] | None = None, *,
                 settings_file: str | Path | None = None,
                 environ: Mapping[str, str] | None = None) -> CompiledMapping:
    """Load, check and compile a mapping spec.

    Setting values come from `settings` (highest precedence), then `settings_file`, then the
    environment (`environ`, default `os.environ`; pass `{}` to ignore it), then defaults.
    Raises `SpecError` (every problem, located) or `SettingsError`.
    """
    located = load_yaml_file(path)
    file_values = read_settings_file(settings_file) if settings_file is not None else None
    return CompiledMapping(compile_spec(located, given=settings, file_values=file_values,
                                        environ=environ))
