"""Apply a compiled mapping to payloads: pure, no I/O.

A compiled mapping pickles as its `Recipe`: the YAML text, its file name, the files it names (as
read), the resolved values of its non-secret settings, the output budget, and the destinations
and sources it could name (with the settings they declare). Unpickling
compiles the recipe again, once per process (later copies of the same recipe are the same
object), without reading the environment or any file.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PayloadError
from ..expr.budget import DEFAULT_OUTPUT_BUDGET
from ..io.jsonio import dumps
from ..io.schema_check import trust_schema_digests
from ..spec.compiler import Plan, compile_spec
from ..spec.components import Components
from ..spec.origin import Origin, SpecFiles
from ..spec.settings import Settings, read_settings_file
from ..spec.yaml_source import load_yaml_file, load_yaml_text
from .codegen import describe_failure, generate, generate_id, generated_source
from .fastpath import generate_fast
from .result import Result, Skip

__all__ = ["CompiledMapping", "Recipe", "encode_event", "load_mapping"]


@dataclass(frozen=True, slots=True)
class Recipe:
    """What a mapping is compiled from, all plain data: what a pickled mapping holds. Secret
    settings are left out (a process that needs one resolves it there)."""

    origin: Origin
    settings: Mapping[str, Any]
    output_budget: int
    components: Components | None = None

    def key(self) -> str:
        """A SHA-256 of everything the compiled mapping depends on."""
        files = {name: [found.path, None if found.raw is None else hashlib.sha256(found.raw).hexdigest()]
                 for name, found in sorted(self.origin.files.items())}
        text = json.dumps([self.origin.text, self.origin.file, files, self.settings, self.output_budget,
                           repr(self.components)], sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def compile(self) -> CompiledMapping:
        """Compile the recipe (its schemas trusted as checked where it was made)."""
        origin = self.origin
        trust_schema_digests([hashlib.sha256(found.raw).hexdigest()
                              for found in origin.files.values() if found.raw is not None])
        located = load_yaml_text(origin.text, origin.file, stored=True)
        plan = compile_spec(located, given=self.settings, environ={},
                            output_budget=self.output_budget, files=SpecFiles(origin.file, origin.files),
                            components=self.components)
        return CompiledMapping(plan)


_COMPILED: dict[str, CompiledMapping] = {}
_KEPT = 16  # compiled recipes a process keeps


def _from_recipe(recipe: Recipe) -> CompiledMapping:
    """What unpickling does: the recipe compiled, once per process."""
    key = recipe.key()
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = recipe.compile()
        while len(_COMPILED) > _KEPT:
            del _COMPILED[next(iter(_COMPILED))]
    return found


class CompiledMapping:
    """A loaded, checked mapping; `apply` turns one payload into a `Result`. Picklable: see
    `Recipe`."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.settings: Settings = plan.settings
        self.file = plan.file
        self.name = plan.name
        self.payload_id: Callable[[Any], str | None] = generate_id(plan)
        """The payload's id by the mapping's `input.id` expression, or None."""
        # the exact code (each failure reported against its rule), generated when first needed:
        # the fast path serves object payloads until one fails (or no fast path could be made)
        self._run: Callable[[Any], Any] = self._exact_first
        self._exact_lock = threading.Lock()
        slow_apply = self._make_apply()
        fast = generate_fast(plan, self._outcome, slow_apply, self.payload_id)
        self.apply: Callable[[Any], Result] = slow_apply if fast is None else fast.apply
        """Transform one payload; raises `PayloadError` when the mapping cannot handle it, and
        nothing else: whatever goes wrong while applying it is a payload error."""
        self.outcome: Callable[[Any], list[dict[str, Any]] | Skip] = (
            self._outcome if fast is None else fast.outcome)
        """The events of one payload, or the `Skip` that holds: `apply` without the `Result`
        and without reading the payload's id (for streams, which need it only to report).
        Raises `PayloadError` and nothing else, as `apply` does."""

    def __repr__(self) -> str:
        return f"CompiledMapping({self.file!r}, settings={self.settings!r})"

    @property
    def source(self) -> str:
        """All of the generated code: the fast path (`fastpath.py`) and the exact code."""
        self.exact()
        return generated_source(self.plan.namespace)

    def exact(self) -> Callable[[Any], Any]:
        """The exact code (payload → its events, or the `Skip` that holds), generated on first use:
        about 5 ms for the shipped mapping, which a run that never needs it does not spend. The
        compiled expressions' own functions (`CompiledExpr.fn`, what `explain` evaluates) call
        the lets' functions it defines."""
        with self._exact_lock:
            if self._run == self._exact_first:
                self._run = generate(self.plan)
            return self._run

    def _exact_first(self, payload: Any) -> Any:
        return self.exact()(payload)

    @property
    def recipe(self) -> Recipe:
        """What this mapping is compiled from; `recipe.compile()` makes an equal mapping."""
        plan = self.plan
        values = {name: value for name, value in plan.settings.resolved.items()
                  if not plan.settings.decls[name].secret}
        return Recipe(plan.origin, values, plan.output_budget, plan.components)

    def __reduce__(self) -> tuple[Any, tuple[Recipe]]:
        return _from_recipe, (self.recipe,)

    def _outcome(self, payload: Any) -> list[dict[str, Any]] | Skip:
        """`outcome` by the exact code alone."""
        try:
            out: list[dict[str, Any]] | Skip = self._run(payload)
        except PayloadError:
            raise
        except Exception as exc:  # noqa: BLE001 - outside any rule's own handler (memory, a bug)
            raise PayloadError("fields", "$", describe_failure(exc)) from None
        return out

    def _make_apply(self) -> Callable[[Any], Result]:
        ident, make = self.payload_id, tuple.__new__

        def apply(payload: Any) -> Result:
            """`apply` by the exact code alone."""
            try:
                out = self._run(payload)
            except PayloadError:
                raise
            except Exception as exc:  # noqa: BLE001 - outside any rule's own handler (memory, a bug)
                raise PayloadError("fields", "$", describe_failure(exc)) from None
            if type(out) is list:  # a Result, made as NamedTuple's own _make does
                return make(Result, (out, None, None, ident(payload)))
            return make(Result, ([], out, None, ident(payload)))
        return apply

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
    located = load_yaml_file(path, stored=True)
    file_values = read_settings_file(settings_file) if settings_file is not None else None
    return CompiledMapping(compile_spec(located, given=settings, file_values=file_values,
                                        environ=environ, output_budget=output_budget,
                                        components=components))


def encode_event(event: Any) -> bytes:
    """An event as an NDJSON line; a `PayloadError` when it cannot be written as JSON."""
    try:
        return dumps(event)
    except Exception as exc:  # noqa: BLE001 - e.g. nested too deeply for either JSON encoder
        raise PayloadError("fields", "$", f"the event cannot be written as JSON ({describe_failure(exc)})"
                           ) from None
