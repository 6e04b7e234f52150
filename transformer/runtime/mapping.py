"""Apply a compiled mapping to payloads: pure, no I/O, never sees YAML text."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import PayloadError
from ..expr.budget import DEFAULT_OUTPUT_BUDGET
from ..spec.compiler import Plan, compile_spec
from ..spec.components import Components
from ..spec.settings import Settings, read_settings_file
from ..spec.yaml_source import load_yaml_file
from .codegen import describe_failure, generate
from .result import Result, Skip

__all__ = ["CompiledMapping", "Result", "Skip", "load_mapping"]


class CompiledMapping:
    """A loaded, checked mapping; `apply` turns one payload into a `Result`."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.settings: Settings = plan.settings
        self.file = plan.file
        self.name = plan.name
        self._run, self.source = generate(plan)
        self._id_fn = plan.input_id.fn if plan.input_id is not None else None

    def __repr__(self) -> str:
        return f"CompiledMapping({self.file!r}, settings={self.settings!r})"

    def payload_id(self, payload: Any) -> str | None:
        """The payload's id by the mapping's `input.id` expression, or None."""
        if self._id_fn is None:
            return None
        try:
            value = self._id_fn(payload, [payload])
        except Exception:  # noqa: BLE001 - an id is only a label; a bad one is no id
            return None
        return value if type(value) is str else (str(value) if type(value) is int else None)

    def apply(self, payload: Any) -> Result:
        """Transform one payload; raises `PayloadError` when the mapping cannot handle it, and
        nothing else: whatever goes wrong while applying it is a payload error."""
        try:
            out = self._run(payload)
        except PayloadError:
            raise
        except Exception as exc:  # noqa: BLE001 - outside any rule's own handler (memory, a bug)
            raise PayloadError("fields", "$", describe_failure(exc)) from None
        if type(out) is Skip:
            return Result([], out, None, self.payload_id(payload))
        return Result(out, None, None, self.payload_id(payload))

    def result(self, payload: Any) -> Result:
        """Transform one payload and never raise: a payload error is the `Result`'s `.error`."""
        try:
            return self.apply(payload)
        except PayloadError as exc:
            return Result([], None, exc, self.payload_id(payload))

    def apply_many(self, payloads: Iterable[Any]) -> Iterator[Result]:
        """Lazily transform a stream; a payload error becomes a `Result` with `.error` set."""
        return map(self.result, payloads)


def load_mapping(path: str | Path, settings: Mapping[str, Any] | None = None, *,
                 settings_file: str | Path | None = None,
                 environ: Mapping[str, str] | None = None,
                 output_budget: int = DEFAULT_OUTPUT_BUDGET,
                 components: Components | None = None) -> CompiledMapping:
    """Load, check and compile a mapping spec.

    Setting values come from `settings` (highest precedence), then `settings_file`, then the
    environment, then defaults. The environment is read only when the caller gives it: `environ`
    (`os.environ`, or a mapping of your own; None, the default: no environment).
    `output_budget`: about how many bytes of JSON the events of one payload may take (values
    that can grow beyond the payload are measured against it; see `transformer.growth`).
    `components`: the destinations and sources the spec may name, whose settings are resolved
    with the mapping's (`transformer.load_mapping` passes the built-in ones); None: the names are
    not checked and declare no settings.
    Raises `SpecError` (every problem, located) or `SettingsError`.
    """
    if output_budget < 1:
        raise ValueError(f"output_budget must be at least 1 byte, got {output_budget}")
    located = load_yaml_file(path)
    file_values = read_settings_file(settings_file) if settings_file is not None else None
    return CompiledMapping(compile_spec(located, given=settings, file_values=file_values,
                                        environ=environ, output_budget=output_budget,
                                        components=components))
