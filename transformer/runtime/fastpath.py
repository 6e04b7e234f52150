"""The fast path of a mapping: what runs for a payload that is an object and breaks no rule.

The exact code (`codegen.generate`) reports every failure against its rule, so it reads each
path where a rule reads it and computes each `let` on first use, through a list of slots. The
fast path computes the same values with none of that: each path of the payload that rules read
more than once is read once into a local, the lets are locals computed in order before the
first statement that needs them (a let that calls an expensive function, such as `sha256`, is
computed on first use), and nothing is caught. Everything a mapping computes is a pure function
of the payload, so running the exact code from the start when the fast code raises anything
(an error of the payload, a value over the budget, a bug) gives what the exact code alone
gives: the same events, skip or located error, for twice the time on those payloads only.

`apply` and `outcome` are generated with the fast path inline, calling the exact code (through
the `slow` functions given) for anything else: a payload that is not an object, or a failure.
A mapping with `each` has no fast path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from ..expr import CompiledExpr, Namespace
from ..expr.compile import ROOT
from ..spec.compiler import Plan
from ..spec.plan import RuleSpec
from .codegen import Generator, never
from .result import Result, Skip

__all__ = ["EXPENSIVE", "FastPath", "generate_fast", "rule_exprs"]

EXPENSIVE = frozenset({"sha256", "sort", "sort_by", "max_by", "min_by", "map", "reverse"})
"""Functions whose let is computed on first use, not ahead of the statement needing it."""



class FastPath:
    """The generated `outcome` and `apply` of one mapping."""

    def __init__(self, outcome: Callable[[Any], Any], apply: Callable[[Any], Result]) -> None:
        self.outcome = outcome
        self.apply = apply


def rule_exprs(spec: RuleSpec) -> Iterator[CompiledExpr]:
    """Every expression of a rule, its parts' included, that can run."""
    if never(spec):
        return
    if spec.when is not None:
        yield spec.when
    if spec.source is not None:
        yield spec.source
    for candidate in spec.first:
        yield from rule_exprs(candidate)
    if spec.rest is not None:
        yield spec.rest.source
        yield from (e.when for e in spec.rest.exclusions if e.when is not None)
    for _, sub in spec.fields or []:
        yield from rule_exprs(sub)


def _slots(exprs: list[CompiledExpr]) -> set[int]:
    return {slot for e in exprs for slot in Namespace.slots_in(e.template)}


def generate_fast(plan: Plan, slow_outcome: Callable[[Any], Any], slow_apply: Callable[[Any], Result],
                  ident: Callable[[Any], str | None]) -> FastPath | None:
    """`outcome` and `apply` with the fast path inline; None for a mapping with `each`."""
    if plan.each is not None:
        return None
    gen = Generator(plan.namespace, plan.output_budget)
    ns = gen.ns
    ns.globals.update({"_slow_outcome": slow_outcome, "_slow_apply": slow_apply, "_ident": ident,
                       "_Result": Result, "_make": tuple.__new__})
    lets = {let.slot: let for let in plan.lets}
    exprs = {slot: list(rule_exprs(let.rule)) for slot, let in lets.items()}
    deps = {slot: sorted(_slots(found)) for slot, found in exprs.items()}
    lazy = {slot for slot, found in exprs.items() if any(e.calls & EXPENSIVE for e in found)}
    measured = set(plan.measured)

    def var(slot: int) -> str:
        if slot not in lazy:
            return f"_v{slot}"
        args = "".join(f", {var(d)}" for d in deps[slot])
        return f"(_v{slot} if _v{slot} is not _U else (_v{slot} := _lazy{slot}(_cur{args})))"

    # a lazy let: a function of the payload and the lets it reads (paths read from the payload)
    gen.fast, gen.nv = True, "None"
    gen.path = lambda keys: _walk(ns, "_cur", keys)
    for slot in sorted(lazy):
        gen.var = lambda d: f"_v{d}"
        gen.emit(0, f"def _lazy{slot}(_cur{''.join(f', _v{d}' for d in deps[slot])}):")
        _let_body(gen, lets[slot].rule, "_r", lets[slot].name in measured)
        gen.emit(1, "return _r")
        gen.finish(f"_lazy{slot}")
    gen.var = var

    # the paths read more than once (a prefix of a path read counts as read), from the payload
    id_expr = plan.input_id if plan.input_id is not None and not _slots([plan.input_id]) else None
    everything = [e for slot in lets if slot not in lazy for e in exprs[slot]]
    everything += [skip.when for skip in plan.skips] + list(rule_exprs(plan.output))
    everything += [id_expr] if id_expr is not None else []
    counts: Counter[tuple[str, ...]] = Counter()
    for expr in everything:
        for keys in ns.paths_in(expr.template):
            counts.update(keys[:n] for n in range(1, len(keys) + 1))
    hoisted = {keys: ns.name("_p") for keys in sorted(counts, key=len) if counts[keys] > 1}

    def path(keys: tuple[str, ...]) -> str:
        for n in range(len(keys), 0, -1):
            if keys[:n] in hoisted:
                return _walk(ns, hoisted[keys[:n]], keys[n:])
        return _walk(ns, ROOT, keys)
    gen.path = path

    skips = [ns.bind(Skip(skip.id, skip.reason), "_skip") for skip in plan.skips]
    done: set[int] = set()
    functions = []
    for name, apply in (("_outcome", False), ("_apply", True)):
        gen.emit(0, f"def {name}(_cur):")
        gen.emit(1, "if type(_cur) is dict:")
        gen.emit(2, "try:")
        for keys, local in hoisted.items():
            gen.emit(3, f"{local} = {_path_of(ns, hoisted, keys)}")
        for slot in sorted(lazy):
            gen.emit(3, f"_v{slot} = _U")
        if apply:
            _payload_id(gen, id_expr, 3)
        done.clear()
        for skip, ref in zip(plan.skips, skips, strict=True):
            _lets_for(gen, [skip.when], lets, deps, lazy, done, measured)
            test = gen.condition(3, skip.when, skip.path + ".when")
            gen.emit(3, f"if {test}:")
            gen.emit(4, f"return _make(_Result, ([], {ref}, None, _id))" if apply else f"return {ref}")
        _lets_for(gen, list(rule_exprs(plan.output)), lets, deps, lazy, done, measured)
        gen.value(plan.output, "_out", 3)
        if "fields" in measured:
            gen.emit(3, "if _json_size(_out, _BUDGET) > _BUDGET:")
            gen.emit(4, "raise _BAIL")
        events = "[{} if _out is None else _out]"
        gen.emit(3, f"return _make(_Result, ({events}, None, None, _id))" if apply else f"return {events}")
        gen.emit(2, "except _Exception:")
        gen.emit(3, "pass")
        gen.emit(1, f"return {'_slow_apply' if apply else '_slow_outcome'}(_cur)")
        functions.append(gen.finish(name))
    return FastPath(functions[0], functions[1])


def _path_of(ns: Namespace, hoisted: dict[tuple[str, ...], str], keys: tuple[str, ...]) -> str:
    """The read of a hoisted path: from its parent's local (parents are read first)."""
    if len(keys) == 1:
        return _walk(ns, ROOT, keys)
    return _walk(ns, hoisted[keys[:-1]], keys[-1:])


def _walk(ns: Namespace, base: str, keys: tuple[str, ...]) -> str:
    """Read `keys` from `base` (the payload, an object here, or a hoisted path's local)."""
    if not keys:
        return base
    if base == ROOT:
        first = f"{ROOT}.get({keys[0]!r})"
        return ns.walk(first, keys[1:]) if len(keys) > 1 else first
    return ns.walk(base, keys)


def _let_body(gen: Generator, rule: RuleSpec, target: str, measured: bool, depth: int = 1) -> None:
    gen.value(rule, target, depth)   # "no value" is None here, as a let's value
    if measured:
        gen.emit(depth, f"if _json_size({target}, _BUDGET) > _BUDGET:")
        gen.emit(depth + 1, "raise _BAIL")


def _lets_for(gen: Generator, exprs: list[CompiledExpr], lets: dict[int, Any], deps: dict[int, list[int]],
              lazy: set[int], done: set[int], measured: set[str]) -> None:
    """Compute, in order, the lets that `exprs` read (and those they read) not computed yet."""
    wanted: set[int] = set()
    todo = list(_slots(exprs))
    while todo:
        slot = todo.pop()
        if slot not in wanted:
            wanted.add(slot)
            todo.extend(deps[slot])
    for slot in sorted(wanted - done - lazy):
        _let_body(gen, lets[slot].rule, f"_v{slot}", lets[slot].name in measured, 3)
        done.add(slot)


def _payload_id(gen: Generator, expr: CompiledExpr | None, depth: int) -> None:
    """`_id`: the payload's id as `generate_id` gives it (any failure: None)."""
    if expr is None:
        gen.emit(depth, "_id = _ident(_cur)")
        return
    gen.emit(depth, "try:")
    gen.emit(depth + 1, f"_id = {gen.source(expr)}")
    gen.emit(depth + 1, "_id = _id if type(_id) is str else (str(_id) if type(_id) is int else None)")
    gen.emit(depth, "except _Exception:")
    gen.emit(depth + 1, "_id = None")
