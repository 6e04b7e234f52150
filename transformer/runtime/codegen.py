"""Compiled rules → one Python function per mapping: the per-event path.

Each value rule becomes straight-line code that leaves its value, or `_NV` (no value), in a
local name; expressions are inlined from their compiled sources. Each `let` becomes a function
that fills its `env` slot on first use. Every expression and filter call sits in its own `try`
(free in Python 3.11 until something raises) so that a failure names its rule and JSON path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jmespath.exceptions import JMESPathError

from ..errors import PayloadError, short_repr
from ..expr import CompiledExpr, Namespace
from ..expr.budget import OverBudgetError, events_error, json_size, over_budget
from ..expr.compile import is_false, truthy_source
from ..expr.functions import EvalError
from ..expr.runtime import UNSET
from ..filters import FilterValueError
from ..spec.compiler import Plan
from ..spec.plan import NO_VALUE_SOURCES, NOVALUE, RestSpec, RuleSpec, missing_message
from .rest_code import MAX_LEVELS, rest_copy_lines, rest_copy_source, trie_depth
from .result import Skip
from .values import ATOMS, Trie, copy_except, deep_copy, locate, rest_copier, rest_tries

__all__ = ["MEMO_ENTRIES", "MEMO_LENGTH", "BailError", "Generator", "describe_failure", "generate",
           "generate_id", "generated_source", "never"]


MEMO_ENTRIES = 4096   # per filter in a mapping
MEMO_LENGTH = 128     # longer texts are not remembered


def describe_failure(exc: BaseException) -> str:
    """The message of a payload error for an exception raised while applying a rule."""
    if isinstance(exc, (EvalError, JMESPathError, FilterValueError, OverBudgetError)):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "value nested too deeply"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"failed unexpectedly ({type(exc).__name__}: {exc})"


def _expr_error(rule: str, expr: CompiledExpr, exc: Exception) -> PayloadError:
    if isinstance(exc, PayloadError):  # from a let computed inside the expression: it names its rule
        return exc
    return PayloadError(rule, expr.json_path(), describe_failure(exc))


def _filter_error(spec: RuleSpec, index: int, env: list[Any], exc: Exception) -> PayloadError:
    return PayloadError(spec.filters[index].path, locate(spec, env), describe_failure(exc))


def _required_error(spec: RuleSpec, env: list[Any]) -> PayloadError:
    path = locate(spec, env)
    return PayloadError(spec.path, path, missing_message(path))


def _budget_error(spec: RuleSpec, env: list[Any], budget: int) -> PayloadError:
    return PayloadError(spec.path, locate(spec, env), over_budget(budget))


def _rest_error(rest: RestSpec, value: Any) -> PayloadError:
    return PayloadError(rest.path + ".from", rest.source.json_path(),
                        f"rest expects an object, got {short_repr(value)}")


def _rest_copy_error(rest: RestSpec, exc: Exception) -> PayloadError:
    return PayloadError(rest.path + ".from", rest.source.json_path(), describe_failure(exc))


class BailError(Exception):
    """Raised by the fast path (`fastpath.py`) where the exact code would raise: that code then
    runs and says what went wrong."""


class Generator:
    """Writes the code of one mapping into a namespace shared with its expressions.

    Exact code (the default) reports each failure against its rule; with `fast` set, failures
    raise `BailError` (or whatever was raised) without a word, payload paths and let variables are read
    through `path` and `var` (see `Namespace.expand`), and the caller runs the exact code when
    the fast code fails."""

    def __init__(self, ns: Namespace, budget: int) -> None:
        self.ns = ns
        self.lines: list[str] = []
        self.fast = False
        self.nv = "_NV"
        """What stands for "no value": `_NV`, or None in the fast code (after the rules' tests
        for no value, None is never a value)."""
        self.path: Callable[[tuple[str, ...]], str] = lambda keys: ns.walk("_cur", keys)
        self.var: Callable[[int], str] = lambda slot: f"_v{slot}"
        ns.globals.update({
            "_BUDGET": budget, "_json_size": json_size, "_events_error": events_error,
            "_budget_error": _budget_error,
            # Every name the code uses, exception classes included, is a global of its own
            # namespace: its builtins are restricted, and a name looked up only when an
            # exception is being handled would fail then (a NameError hiding the exception).
            "_NV": NOVALUE, "_PayloadError": PayloadError, "_Exception": Exception,
            "_expr_error": _expr_error, "_filter_error": _filter_error,
            "_required_error": _required_error, "_rest_error": _rest_error,
            "_rest_copy_error": _rest_copy_error, "_deep_copy": deep_copy,
            "_ATOMS": ATOMS, "_BAIL": BailError(), "_copy_except": copy_except,
        })

    # output ------------------------------------------------------------------------------

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def finish(self, name: str) -> Callable[..., Any]:
        """Compile what was emitted (one `def`) and return the function called `name`."""
        source = "\n".join(self.lines) + "\n"
        self.lines = []
        self.ns.globals.setdefault("__sources__", []).append(source)
        exec(compile(source, f"<transformer mapping: {name}>", "exec"), self.ns.globals)
        fn: Callable[..., Any] = self.ns.globals[name]
        return fn

    # pieces ------------------------------------------------------------------------------

    def source(self, expr: CompiledExpr) -> str:
        """The code of an expression, as this generator reads paths and variables."""
        return self.ns.expand(expr.template, self.path, self.var) if self.fast else expr.source

    def fail(self, depth: int, error: str) -> None:
        """`raise error` (the exact code), or `raise _BAIL` (the fast code)."""
        self.emit(depth, "raise _BAIL" if self.fast else f"raise {error}")

    def assign(self, depth: int, target: str, src: str, error: str) -> None:
        """`target = src`; in the exact code, a failure raises `error` (which may name `exc`);
        the fast code lets it fall through to the exact code."""
        if self.fast:
            self.emit(depth, f"{target} = {src}")
            return
        self.emit(depth, "try:")
        self.emit(depth + 1, f"{target} = {src}")
        self.emit(depth, "except _Exception as exc:")
        self.emit(depth + 1, f"raise {error} from None")

    def expression(self, depth: int, target: str, expr: CompiledExpr, rule: str) -> None:
        """`target = <expr>`, its failures reported against `rule`."""
        if expr.const:
            value = expr.value
            src = self.ns.literal(value)
            if isinstance(value, (dict, list)):
                src = f"_deep_copy({src})"
            self.emit(depth, f"{target} = {src}")
            return
        error = "" if self.fast else f"_expr_error({rule!r}, {self.ns.bind(expr, '_x')}, exc)"
        self.assign(depth, target, self.source(expr), error)

    def measure(self, depth: int, target: str, spec: RuleSpec) -> None:
        """Refuse `target`, the value of `spec`, when it is larger than the output budget."""
        self.emit(depth, f"if _json_size({target}, _BUDGET) > _BUDGET:")
        self.fail(depth + 1, f"_budget_error({self.ns.bind(spec, '_rule')}, env, _BUDGET)")

    def condition(self, depth: int, expr: CompiledExpr, rule: str) -> str:
        """Evaluate a condition; returns the source of its truth test."""
        t = self.ns.name("_c")
        self.expression(depth, t, expr, rule)
        return t if expr.is_bool else truthy_source(t, t)

    # value rules -------------------------------------------------------------------------

    def value(self, spec: RuleSpec, target: str, depth: int) -> None:
        """Code that leaves the rule's value, or `_NV`, in `target`."""
        when = spec.when
        if when is not None and when.const:
            if never(spec):
                self.emit(depth, f"{target} = {self.nv}")
                return
            when = None
        if when is not None:
            test = self.condition(depth, when, spec.path + ".when")
            self.emit(depth, f"if {test}:")
            self._value_body(spec, target, depth + 1)
            self.emit(depth, "else:")
            self.emit(depth + 1, f"{target} = {self.nv}")
        else:
            self._value_body(spec, target, depth)

    def _value_body(self, spec: RuleSpec, target: str, depth: int) -> None:
        empty = NO_VALUE_SOURCES[spec.no_value].format(v=target)
        if spec.source is not None:
            self.expression(depth, target, spec.source, spec.path + ".from")
            self._empty(depth, target, empty, spec.no_value)
        elif spec.first:
            self._first(spec.first, target, depth)
        elif spec.fields is not None or spec.rest is not None:
            self._object(spec, target, depth)
        else:
            value = spec.const
            src = self.ns.literal(value)
            copied = f"_deep_copy({src})" if isinstance(value, (dict, list)) else src
            self.emit(depth, f"{target} = {copied}")
        if spec.filters:
            self._filters(spec, target, depth, empty)
        if spec.required:
            self.emit(depth, f"if {target} is {self.nv}:")
            self.fail(depth + 1, f"_required_error({self.ns.bind(spec, '_rule')}, env)")

    def _first(self, candidates: list[RuleSpec], target: str, depth: int) -> None:
        self.value(candidates[0], target, depth)
        for candidate in candidates[1:]:
            self.emit(depth, f"if {target} is {self.nv}:")
            self.value(candidate, target, depth + 1)
            depth += 1

    def _empty(self, depth: int, target: str, empty: str, level: str) -> None:
        """`target` becomes "no value" when it is empty at `level` (no code where None already
        is "no value")."""
        if self.nv != "None" or level != "null":
            self.emit(depth, f"if {empty}:")
            self.emit(depth + 1, f"{target} = {self.nv}")

    def _filters(self, spec: RuleSpec, target: str, depth: int, empty: str) -> None:
        ref = self.ns.bind(spec, "_rule")
        self.emit(depth, f"if {target} is not {self.nv}:")
        depth += 1
        for i, step in enumerate(spec.filters):
            fn = self.ns.bind(step.fn, f"_filter_{step.name}_")
            call = step.inline.format(v=target, f=fn) if step.inline else f"{fn}({target})"
            error = f"_filter_error({ref}, {i}, env, exc)"
            if step.memo:
                self._remembered(depth, target, call, step.fn, error)
            else:
                self.assign(depth, target, call, error)
            if i < len(spec.filters) - 1:
                if self.fast:
                    self.emit(depth, f"if {target} is not None:")
                else:
                    self.emit(depth, f"if {target} is None:")
                    self.emit(depth + 1, f"{target} = {self.nv}")
                    self.emit(depth, "else:")
                depth += 1
        self._empty(depth, target, empty, spec.no_value)

    def _remembered(self, depth: int, target: str, call: str, fn: Any, error: str) -> None:
        """`target = call` for a filter whose result on a short string is remembered (`memo` in
        its `FilterDef`): a dictionary lookup after the first payload with that string."""
        memos = self.ns.globals.setdefault("__memos__", {})
        memo = memos.get(id(fn))
        if memo is None:
            memo = memos[id(fn)] = self.ns.bind({}, "_memo")
        held = self.ns.name("_h")
        self.emit(depth, f"{held} = {memo}.get({target}) if type({target}) is str else None")
        self.emit(depth, f"if {held} is None:")
        self.assign(depth + 1, held, call, error)
        self.emit(depth + 1, f"if type({held}) is str and type({target}) is str"
                             f" and len({target}) <= {MEMO_LENGTH} and len({memo}) < {MEMO_ENTRIES}:")
        self.emit(depth + 2, f"{memo}[{target}] = {held}")
        self.emit(depth, f"{target} = {held}")

    def _object(self, spec: RuleSpec, target: str, depth: int) -> None:
        live = [(key, sub) for key, sub in spec.fields or []
                if not never(sub)]   # a field whose condition is false with these settings: no code
        if spec.rest is None and not live:   # always empty: "no value"
            self.emit(depth, f"{target} = {self.nv}")
            return
        out = self.ns.name("_o")
        if spec.rest is not None:
            based = self._rest(spec.rest, out, depth)
        else:
            self.emit(depth, f"{out} = {{}}")
        for key, sub in live:
            t = self.ns.name("_f")
            self.value(sub, t, depth)
            self.emit(depth, f"if {t} is not {self.nv}:")
            self.emit(depth + 1, f"{out}[{key!r}] = {t}")
        kept = f"{out} or {based}" if spec.rest is not None else out
        self.emit(depth, f"{target} = {out} if {kept} else {self.nv}")

    def _copier(self, rest: RestSpec, i: int, trie: Trie) -> str:
        """A function copying an object without the paths of `trie` (`rest_code.py`), the
        `i`-th of `rest`'s (made once, for whichever of the fast path and the exact code is generated
        first: the other calls the same)."""
        made = self.ns.globals.setdefault("__copiers__", {})
        name: str | None = made.get((id(rest), i))
        if name is None:
            name = made[id(rest), i] = self.ns.name("_rest_copy")
            source = rest_copy_source(trie, rest.prune_empty, name)
            self.ns.globals.setdefault("__sources__", []).append(source)
            exec(compile(source, f"<transformer mapping: {name}>", "exec"), self.ns.globals)
        return name

    def _rest(self, rest: RestSpec, out: str, depth: int) -> str:
        src = self.ns.name("_s")
        self.expression(depth, src, rest.source, rest.path + ".from")
        ref = self.ns.bind(rest, "_rest")
        tries, conditional = rest_tries(rest)
        self.emit(depth, f"if {src} is None:")
        self.emit(depth + 1, f"{out} = {{}}")
        self.emit(depth, f"elif not isinstance({src}, dict):")
        self.fail(depth + 1, f"_rest_error({ref}, {src})")
        self.emit(depth, "else:")
        flags = [self.condition(depth + 1, when, rest.path + ".except") for when in conditional]
        if not tries or max(map(trie_depth, tries)) > MAX_LEVELS:
            # more than 4 conditional exclusions, or paths too deep to nest blocks: the trie walk
            pick = self.ns.bind(rest_copier(rest)[0], "_tries")
            call = (f"{pick}({src}, ({', '.join(f'bool({f})' for f in flags)},))" if flags else
                    f"_copy_except({src}, {pick}, {rest.prune_empty})")   # `pick` is the trie
        elif self.fast and len(tries) == 1:   # the copy inline
            for line in rest_copy_lines(tries[0], rest.prune_empty, src, out):
                self.emit(depth + 1, line)
            return f"{src} is not None"
        else:  # straight-line code for each combination of the conditions
            copiers = [self._copier(rest, i, trie) for i, trie in enumerate(tries)]
            if len(copiers) == 1:
                call = f"{copiers[0]}({src})"
            else:
                table = self.ns.bind(tuple(self.ns.globals[c] for c in copiers), "_copiers")
                index = " | ".join(f"(1 if {f} else 0) << {i}" if i else f"(1 if {f} else 0)"
                                   for i, f in enumerate(flags))
                call = f"{table}[{index}]({src})"
        self.assign(depth + 1, out, call, f"_rest_copy_error({ref}, exc)")
        return f"{src} is not None"


def never(spec: RuleSpec) -> bool:
    """Whether the rule's condition is false with these settings (it never has a value)."""
    when = spec.when
    return when is not None and when.const and is_false(when.value)


def generate(plan: Plan) -> Callable[[Any], Any]:
    """The per-payload function of a plan (the exact code), returning a `Skip` or the list of
    events; its source joins the namespace's `__sources__` (`generated_source`).

    Skip rules first, then the output object (one per element with `each`). Lets and events that
    can grow beyond the payload (`plan.measured`) are measured against the output budget."""
    gen = Generator(plan.namespace, plan.output_budget)
    measured = set(plan.measured)
    for let in plan.lets:
        fill = f"_fill{let.slot}"
        gen.emit(0, f"def {fill}(env):")
        gen.emit(1, "_cur = env[0]")
        gen.value(let.rule, "_r", 1)
        gen.emit(1, "_r = None if _r is _NV else _r")
        if let.name in measured:
            gen.measure(1, "_r", let.rule)
        gen.emit(1, f"env[{let.slot}] = _r")
        gen.emit(1, "return _r")
        gen.finish(fill)
    template = gen.ns.bind([UNSET] * plan.slot_count, "_template")
    gen.emit(0, "def _run(_cur):")
    gen.emit(1, f"env = {template}.copy()")
    gen.emit(1, "env[0] = _cur")
    for skip in plan.skips:
        test = gen.condition(1, skip.when, skip.path + ".when")
        gen.emit(1, f"if {test}:")
        gen.emit(2, f"return {gen.ns.bind(Skip(skip.id, skip.reason), '_skip')}")
    each = plan.each
    if each is None:
        gen.value(plan.output, "_out", 1)
        if "fields" in measured:
            gen.emit(1, "if _json_size(_out, _BUDGET) > _BUDGET:")
            gen.emit(2, "raise _events_error(_out, _BUDGET)")
        gen.emit(1, "return [{} if _out is _NV else _out]")
    else:
        gen.expression(1, "_items", each.source, "each.from")
        gen.emit(1, "if _items is None:")
        gen.emit(2, "return []")
        gen.emit(1, "if type(_items) is not list:")
        gen.emit(2, f"raise _PayloadError('each.from', {each.source.json_path()!r}, 'expected a list')")
        gen.emit(1, "_events = []")
        gen.emit(1, "_left = _BUDGET")
        gen.emit(1, "for _item in _items:")
        gen.emit(2, f"env[{each.slot}] = _item")
        for let in plan.lets:
            if let.per_item:
                gen.emit(2, f"env[{let.slot}] = _U")
        gen.value(plan.output, "_out", 2)
        gen.emit(2, "_events.append({} if _out is _NV else _out)")
        gen.emit(2, "_left -= _json_size(_out, _left)")  # each event measured as it comes
        gen.emit(2, "if _left < 0:")
        gen.emit(3, "raise _events_error(_events, _BUDGET)")
        gen.emit(1, "return _events")
    return gen.finish("_run")


def generated_source(ns: Namespace) -> str:
    """All of the code generated in a namespace, in the order it was compiled."""
    return "\n".join(ns.globals.get("__sources__", []))


def generate_id(plan: Plan) -> Callable[[Any], str | None]:
    """The payload's id by `input.id` as one function: the expression inline, a string or an
    integer (as text) kept, anything else (or a failure: an id is only a label) None."""
    if plan.input_id is None:
        return lambda payload: None
    gen = Generator(plan.namespace, plan.output_budget)
    gen.emit(0, "def _ident(_cur):")
    gen.emit(1, "env = [_cur]")
    gen.emit(1, "try:")
    gen.emit(2, f"_v = {plan.input_id.source}")
    gen.emit(1, "except _Exception:")
    gen.emit(2, "return None")
    gen.emit(1, "return _v if type(_v) is str else (str(_v) if type(_v) is int else None)")
    return gen.finish("_ident")
