"""Compile a parsed JMESPath AST into Python source, checking it first.

Everything that can be known before the first event is checked here: function names, arities,
the types of literal arguments, variable names, slice steps. Sub-expressions that depend on
neither the payload nor per-event variables (settings are constants) are evaluated once, here.

Each expression becomes one Python expression (`CompiledExpr.source`) over two free names:
`_cur`, the current node, and `env`, the per-event list (`env[0]` is the payload, then one slot
per variable, filled on first use). The rule compiler inlines these sources into one function
per mapping; `CompiledExpr.fn(current, env)` runs one on its own. The generated code follows
jmespath.py's `TreeInterpreter` semantics exactly; `tests/test_expr.py` holds it to that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jmespath import exceptions as jexc

from ..errors import did_you_mean
from .budget import bounded
from .functions import (
    FUNCTIONS,
    EvalError,
    FunctionDef,
    check_constant_argument,
    make_value_call,
    matches_everything,
    path_exists,
    specialize,
)
from .parse import Node, ParseFailure, parse_expression
from .runtime import RUNTIME

__all__ = [
    "ROOT",
    "CompiledExpr",
    "ExprError",
    "Fn",
    "Namespace",
    "Scope",
    "compile_expression",
    "falsy_source",
    "is_false",
    "truthy_source",
]

Fn = Callable[[Any, list[Any]], Any]
ROOT = "_cur"
"""The name of the payload (the current node at the top of an expression) in generated code."""
_TOKEN = re.compile("\x00([PV])(\\d+)\x00")


class ExprError(Exception):
    """An expression problem found at compile time, `offset` characters into its text."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class Namespace:
    """The globals of generated code: runtime helpers, constants, unique temporary names.

    Compiled sources keep two kinds of reads as tokens until code is written (`expand`): a path
    of keys from the payload (`data.identifiers`), so that code that reads it several times can
    read it once, and a `let` variable, so that code can keep it in a local."""

    def __init__(self) -> None:
        self.globals: dict[str, Any] = dict(RUNTIME)
        self._count = 0
        self.paths: list[tuple[str, ...]] = []
        self._path_ids: dict[tuple[str, ...], int] = {}
        self.fills: dict[int, str] = {}
        """The function computing each let's slot on first use (standalone code)."""

    def name(self, prefix: str = "_t") -> str:
        """A fresh identifier."""
        self._count += 1
        return f"{prefix}{self._count}"

    def bind(self, value: Any, prefix: str = "_k") -> str:
        """A global name holding `value`."""
        name = self.name(prefix)
        self.globals[name] = value
        return name

    def literal(self, value: Any) -> str:
        """Source for a constant: inline when it is an immutable scalar, else a global name."""
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        return self.bind(value)

    def path_token(self, path: tuple[str, ...]) -> str:
        """Source standing for the value at `path` (object keys) from the payload."""
        found = self._path_ids.get(path)
        if found is None:
            found = self._path_ids[path] = len(self.paths)
            self.paths.append(path)
        return f"\x00P{found}\x00"

    def var_token(self, slot: int, fill: str) -> str:
        """Source standing for the value of the let in `slot`, computed by `fill` on first use."""
        self.fills[slot] = fill
        return f"\x00V{slot}\x00"

    def expand(self, template: str, path: Callable[[tuple[str, ...]], str],
               var: Callable[[int], str]) -> str:
        """`template` with its tokens replaced: `path(keys)` and `var(slot)` give their sources.
        (A token cannot clash with a literal: `repr` escapes NUL.)"""
        if "\x00" not in template:
            return template
        paths = self.paths
        return _TOKEN.sub(lambda m: path(paths[int(m[2])]) if m[1] == "P" else var(int(m[2])), template)

    def paths_in(self, template: str) -> list[tuple[str, ...]]:
        """The payload paths `template` reads, as tokens (with repeats)."""
        return [self.paths[int(m[2])] for m in _TOKEN.finditer(template) if m[1] == "P"]

    @staticmethod
    def slots_in(template: str) -> set[int]:
        """The let slots `template` reads, as tokens."""
        return {int(m[2]) for m in _TOKEN.finditer(template) if m[1] == "V"}

    def walk(self, base: str, keys: tuple[str, ...]) -> str:
        """Source reading `keys` from the value named `base` (JMESPath fields: null off objects)."""
        src = base
        for key in keys:
            if src.isidentifier():
                src = (f"({src}.get({key!r}) if type({src}) is dict else None if {src} is None"
                       f" else _getf({src}, {key!r}))")
            else:
                t = self.name()
                src = (f"({t}.get({key!r}) if type(({t} := {src})) is dict else None if {t} is None"
                       f" else _getf({t}, {key!r}))")
        return src

    def standalone(self, template: str) -> str:
        """`template` as code that runs on its own over `_cur` and `env` (a let computed on
        first use)."""
        def var(slot: int) -> str:
            t = self.name()
            return f"({t} if ({t} := env[{slot}]) is not _U else {self.fills[slot]}(env))"
        return self.expand(template, lambda keys: self.walk(ROOT, keys), var)

    def function(self, source: str, args: str = "_cur, env") -> Callable[..., Any]:
        """Compile `lambda args: source` in this namespace."""
        code = compile(f"lambda {args}: {source}", "<transformer expression>", "eval")
        fn: Callable[..., Any] = eval(code, self.globals)  # our own generated source
        return fn


@dataclass(slots=True)
class Scope:
    """What names an expression may use, and where generated code lives.

    `constants`: settings, folded into the code. `slots`: per-event variables and their index in
    `env`; `fill[name]` is the global name of the function that computes a slot on first use.
    `guarded` and `budget`: see `transformer.growth`.
    """

    ns: Namespace = field(default_factory=Namespace)
    constants: dict[str, Any] = field(default_factory=dict)
    secret: frozenset[str] = frozenset()
    slots: dict[str, int] = field(default_factory=dict)
    fill: dict[str, str] = field(default_factory=dict)
    undefined_hint: Callable[[str], str] | None = None
    used: set[str] = field(default_factory=set)
    guarded: set[tuple[str, int]] = field(default_factory=set)
    """`(expression text, position)` of join / to_string calls that must respect `budget`."""
    budget: int = 0


@dataclass(slots=True)
class CompiledExpr:
    """A compiled expression: `source` over `_cur` and `env`; `steps` set for a plain path.
    `template` is `source` with its payload paths and let variables as tokens (see
    `Namespace.expand`), and `calls` the functions it calls."""

    text: str
    source: str
    ns: Namespace = field(repr=False, compare=False)
    const: bool
    value: Any = None
    steps: tuple[str | int, ...] | None = None
    root_var: str | None = None
    is_bool: bool = False
    template: str = ""
    calls: frozenset[str] = frozenset()
    _fn: Fn | None = field(default=None, repr=False, compare=False)

    @property
    def fn(self) -> Fn:
        """`source` as a function of `(current, env)`, compiled on first use: the generated
        code of a mapping does not call it, so loading one compiles none (explain does)."""
        fn = self._fn
        if fn is None:
            fn = self._fn = self.ns.function(self.source)
        return fn

    def json_path(self) -> str:
        """The JSON path this expression reads, when it is a plain path; else the expression."""
        if self.steps is None:
            return f"`{self.text}`"
        prefix = "$" if self.root_var is None else f"${self.root_var}"
        return prefix + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in self.steps)


def is_false(value: Any) -> bool:
    """JMESPath falsiness: null, false, and empty strings, arrays and objects."""
    return not value and type(value) is not int and type(value) is not float


def falsy_source(first: str, name: str) -> str:
    """Source testing JMESPath falsiness; `first` (e.g. `(t := x)`) binds `name`."""
    return f"(not {first} and type({name}) is not int and type({name}) is not float)"


def truthy_source(first: str, name: str) -> str:
    """Source testing JMESPath truthiness, for `if` contexts (0 is true in JMESPath)."""
    return f"({first} or type({name}) is int or type({name}) is float)"


@dataclass(slots=True)
class _C:
    """A compiled node: its source and what it depends on."""

    src: str
    uses_current: bool
    uses_env: bool
    steps: tuple[str | int, ...] | None = None
    root_var: str | None = None
    is_bool: bool = False
    root_path: tuple[str, ...] | None = None
    """Set when the value is the payload's at these keys (its source is a path token)."""

    @property
    def const(self) -> bool:
        return not self.uses_current and not self.uses_env


_BOOL_FUNCTIONS = {"exists", "is_blank", "matches_any", "contains", "starts_with", "ends_with"}


def compile_expression(text: str, scope: Scope, *, condition: bool = False) -> CompiledExpr:
    """Parse and compile `text`; raises `ExprError` with the offset of the first problem.

    With `condition`, only the truth of the result matters (a `when`), which allows more to be
    decided now: `metric == 'sent' && $flag` is just `metric == 'sent'` when the flag is true.
    """
    try:
        ast = parse_expression(text)
    except ParseFailure as exc:
        raise ExprError(exc.offset, f"invalid expression: {exc.message}") from None
    compiler = _Compiler(scope, text)
    compiled = compiler.node(ast, ROOT, truth=condition)
    ns = scope.ns
    if compiled.const:
        value = _fold(ns, compiled.src, ast)
        source = ns.literal(value)
        return CompiledExpr(text, source, ns, True, value, template=source)
    source = ns.standalone(compiled.src)
    return CompiledExpr(text, source, ns, False, None, compiled.steps,
                        compiled.root_var, compiled.is_bool, compiled.src, frozenset(compiler.calls))


def _fold(ns: Namespace, source: str, ast: Node) -> Any:
    try:
        return ns.function(source)(None, None)
    except (jexc.JMESPathError, EvalError) as exc:
        raise ExprError(ast.get("pos", 0), f"expression always fails: {exc}") from None


class _Compiler:
    def __init__(self, scope: Scope, text: str) -> None:
        self.scope = scope
        self.ns = scope.ns
        self.text = text
        self.calls: set[str] = set()

    def node(self, node: Node, cur: str, prev: str | None = None, *, truth: bool = False) -> _C:
        """Source for `node` evaluated on the value named `cur`.

        With `prev`, the source of the value to evaluate on, the code binds `cur := prev` where
        it first reads it (the condition of a conditional expression runs before its branches).
        """
        kind = node["type"]
        method: Callable[..., _C] | None = getattr(self, "_" + kind, None)
        if method is None:  # pragma: no cover - every jmespath node type is handled below
            raise ExprError(0, f"unsupported expression node {kind}")
        if prev is not None and kind in _BINDS_PREV:
            return method(node, cur, prev)
        result: _C = method(node, cur, truth=truth) if kind in _TRUTH_AWARE else method(node, cur)
        if result.const and kind not in ("literal", "variable", "expref"):
            value = _fold(self.ns, result.src, node)
            result = _C(self.ns.literal(value), False, False, is_bool=type(value) is bool)
        if prev is None:
            return result
        return _C(f"({result.src} if (({cur} := {prev}) is {cur}) else None)", True, result.uses_env,
                  result.steps, result.root_var, result.is_bool)

    def _bind(self, cur: str, prev: str | None) -> str:
        """The first read of `cur`: its binding when there is a `prev`."""
        return cur if prev is None else f"({cur} := {prev})"

    # leaves -------------------------------------------------------------------------------

    def _literal(self, node: Node, cur: str) -> _C:
        return _C(self.ns.literal(node["value"]), False, False, is_bool=type(node["value"]) is bool)

    def _current(self, node: Node, cur: str, prev: str | None = None) -> _C:
        return _C(cur if prev is None else prev, True, False, steps=())

    _identity = _current

    def _variable(self, node: Node, cur: str) -> _C:
        name: str = node["value"]
        scope = self.scope
        scope.used.add(name)
        if name in scope.secret:
            raise ExprError(node["pos"], f"secret setting '${name}' cannot be used in an expression"
                                         " (its value would reach the output)")
        if name in scope.constants:
            return _C(self.ns.literal(scope.constants[name]), False, False)
        slot = scope.slots.get(name)
        if slot is None:
            hint = scope.undefined_hint(name) if scope.undefined_hint else ""
            raise ExprError(node["pos"], f"unknown variable '${name}'{hint}")
        fill = scope.fill.get(name)
        if fill is None:  # a slot set directly (the `each` item)
            return _C(f"env[{slot}]", False, True, steps=(), root_var=name)
        return _C(self.ns.var_token(slot, fill), False, True, steps=(), root_var=name)

    def _field(self, node: Node, cur: str, prev: str | None = None) -> _C:
        if prev is None and cur == ROOT:
            path = (node["value"],)
            return _C(self.ns.path_token(path), True, False, steps=path, root_path=path)
        key = repr(node["value"])
        return _C(f"({cur}.get({key}) if type({self._bind(cur, prev)}) is dict"
                  f" else None if {cur} is None else _getf({cur}, {key}))",
                  True, False, steps=(node["value"],))

    def _index(self, node: Node, cur: str, prev: str | None = None) -> _C:
        i: int = node["value"]
        if i >= 0:  # inline: no call
            t, base = self.ns.name(), prev if prev is not None else cur
            return _C(f"({t}[{i}] if type({t} := {base}) is list and len({t}) > {i} else None)", True, False,
                      steps=(i,))
        return _C(f"_index({prev if prev is not None else cur}, {i})", True, False, steps=(i,))

    def _slice(self, node: Node, cur: str, prev: str | None = None) -> _C:
        start, stop, step = node["children"]
        if step == 0:
            raise ExprError(0, "slice step cannot be 0")
        bounds = self.ns.bind(slice(start, stop, step))
        return _C(f"({cur}[{bounds}] if type({self._bind(cur, prev)}) is list else None)", True, False)

    # chains -------------------------------------------------------------------------------

    def _chain(self, node: Node, cur: str, prev: str | None = None) -> _C:
        children: list[Node] = node["children"]
        result = self.node(children[0], cur, prev)
        steps = result.steps
        for child in children[1:]:
            if result.root_path is not None and child["type"] == "field":  # one path read
                path = (*result.root_path, child["value"])
                result = _C(self.ns.path_token(path), True, False, root_path=path)
                steps = (*steps, child["value"]) if steps is not None else None
                continue
            t = self.ns.name()
            part = self.node(child, t, result.src)
            steps = (*steps, *part.steps) if (steps is not None and part.steps is not None
                                              and part.root_var is None) else None
            result = _C(part.src, result.uses_current, result.uses_env or part.uses_env)
        if result.const:
            return result
        return _C(result.src, result.uses_current, result.uses_env, steps=steps,
                  root_var=_root_var(self.node_root(children[0])) if steps is not None else None,
                  root_path=result.root_path)

    def node_root(self, node: Node) -> Node:
        while node["type"] in ("subexpression", "index_expression", "pipe"):
            node = node["children"][0]
        return node

    _subexpression = _chain
    _index_expression = _chain
    _pipe = _chain

    # projections --------------------------------------------------------------------------

    def _projection(self, node: Node, cur: str, prev: str | None = None) -> _C:
        base = self.node(node["children"][0], cur, prev)
        b, e, v = self.ns.name(), self.ns.name("_e"), self.ns.name()
        rhs = self.node(node["children"][1], e)
        if rhs.src == e:
            body = f"[{e} for {e} in {b} if {e} is not None]"
        else:
            body = f"[{v} for {e} in {b} if ({v} := {rhs.src}) is not None]"
        return _C(f"({body} if type({b} := {base.src}) is list else None)",
                  base.uses_current, base.uses_env or rhs.uses_env)

    def _value_projection(self, node: Node, cur: str, prev: str | None = None) -> _C:
        base = self.node(node["children"][0], cur, prev)
        b, e, v = self.ns.name(), self.ns.name("_e"), self.ns.name()
        rhs = self.node(node["children"][1], e)
        body = f"[{v} for {e} in {b}.values() if ({v} := {rhs.src}) is not None]"
        return _C(f"({body} if isinstance({b} := {base.src}, dict) else _values_or_none({b}))"
                  if rhs.src != e else
                  f"([{e} for {e} in {b}.values() if {e} is not None] if isinstance({b} := {base.src}, dict)"
                  f" else _values_or_none({b}))",
                  base.uses_current, base.uses_env or rhs.uses_env)

    def _filter_projection(self, node: Node, cur: str, prev: str | None = None) -> _C:
        base = self.node(node["children"][0], cur, prev)
        b, e, v, c = self.ns.name(), self.ns.name("_e"), self.ns.name(), self.ns.name()
        rhs = self.node(node["children"][1], e)
        cond = self.node(node["children"][2], e)
        keep = cond.src if cond.is_bool else truthy_source(f"({c} := {cond.src})", c)
        if rhs.src == e:
            body = f"[{e} for {e} in {b} if {keep} and {e} is not None]"
        else:
            body = f"[{v} for {e} in {b} if {keep} and ({v} := {rhs.src}) is not None]"
        return _C(f"({body} if type({b} := {base.src}) is list else None)", base.uses_current,
                  base.uses_env or rhs.uses_env or cond.uses_env)

    def _flatten(self, node: Node, cur: str, prev: str | None = None) -> _C:
        base = self.node(node["children"][0], cur, prev)
        return _C(f"_flatten({base.src})", base.uses_current, base.uses_env)

    # operators ----------------------------------------------------------------------------

    def _comparator(self, node: Node, cur: str) -> _C:
        left, right = (self.node(child, cur) for child in node["children"])
        op = node["value"]
        uses = (left.uses_current or right.uses_current, left.uses_env or right.uses_env)
        if op in ("eq", "ne"):
            negate = "not " if op == "ne" else ""
            for this, other in ((left, right), (right, left)):
                if other.const and other.src == "None":
                    return _C(f"({this.src} is {'not ' if op == 'ne' else ''}None)", *uses, is_bool=True)
                if other.const and other.src.startswith(("'", '"')):  # a string: no bool quirk
                    return _C(f"({this.src} {'!=' if op == 'ne' else '=='} {other.src})", *uses,
                              is_bool=True)
            return _C(f"({negate}_eq({left.src}, {right.src}))", *uses, is_bool=True)
        return _C(f"_order_{op}({left.src}, {right.src})", *uses)

    def _and_or(self, node: Node, cur: str, truth: bool, is_and: bool) -> _C:
        """`&&` / `||`. A constant left side decides now (the result is the constant or the
        right side); a constant right side too when only the truth of the result matters."""
        left_node, right_node = node["children"]
        left = self.node(left_node, cur, truth=truth)
        if left.const:
            left_true = not is_false(_fold(self.ns, left.src, left_node))
            return self.node(right_node, cur, truth=truth) if left_true == is_and else left
        right = self.node(right_node, cur, truth=truth)
        if truth and right.const:
            right_true = not is_false(_fold(self.ns, right.src, right_node))
            if right_true == is_and:
                return left
            if _cannot_fail(left_node):
                return _C(repr(right_true), False, False, is_bool=True)
        uses = (left.uses_current or right.uses_current, left.uses_env or right.uses_env)
        if left.is_bool and right.is_bool:
            return _C(f"({left.src} {'and' if is_and else 'or'} {right.src})", *uses, is_bool=True)
        if left.is_bool:  # the left side is its own truth
            return _C(f"({right.src} if {left.src} else False)" if is_and else
                      f"(True if {left.src} else {right.src})", *uses)
        t = self.ns.name()
        test = falsy_source(f"({t} := {left.src})", t)
        if is_and:
            return _C(f"({t} if {test} else {right.src})", *uses)
        return _C(f"({right.src} if {test} else {t})", *uses)

    def _and_expression(self, node: Node, cur: str, truth: bool = False) -> _C:
        return self._and_or(node, cur, truth, is_and=True)

    def _or_expression(self, node: Node, cur: str, truth: bool = False) -> _C:
        return self._and_or(node, cur, truth, is_and=False)

    def _not_expression(self, node: Node, cur: str, truth: bool = False) -> _C:
        inner = self.node(node["children"][0], cur, truth=True)
        if inner.is_bool:
            return _C(f"(not {inner.src})", inner.uses_current, inner.uses_env, is_bool=True)
        t = self.ns.name()
        return _C(falsy_source(f"({t} := {inner.src})", t), inner.uses_current, inner.uses_env,
                  is_bool=True)

    # multi-selects ------------------------------------------------------------------------

    def _multi_select_list(self, node: Node, cur: str) -> _C:
        parts = [self.node(child, cur) for child in node["children"]]
        items = ", ".join(p.src for p in parts)
        return _C(f"(None if {cur} is None else [{items}])", True, any(p.uses_env for p in parts))

    def _multi_select_dict(self, node: Node, cur: str) -> _C:
        pairs = [(child["value"], self.node(child["children"][0], cur)) for child in node["children"]]
        items = ", ".join(f"{key!r}: {part.src}" for key, part in pairs)
        return _C(f"(None if {cur} is None else {{{items}}})", True, any(p.uses_env for _, p in pairs))

    # functions ----------------------------------------------------------------------------

    def _expref(self, node: Node, cur: str) -> _C:
        e = self.ns.name("_e")
        inner = self.node(node["children"][0], e)
        return _C(f"_Expression(lambda {e}: {inner.src})", False, inner.uses_env,
                  steps=inner.steps, root_var=inner.root_var)

    def _function_expression(self, node: Node, cur: str) -> _C:
        name: str = node["value"]
        pos: int = node.get("pos", 0)
        fdef = FUNCTIONS.get(name)
        if fdef is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExprError(pos, f"unknown function '{name}()'{did_you_mean(name, FUNCTIONS)}"
                                 f" (known: {known})")
        children: list[Node] = node["children"]
        _check_arity(fdef, len(children), pos)
        self.calls.add(name)
        args: list[_C] = []
        for i, child in enumerate(children):
            wants_expref = fdef.arg_types(i) == ("expref",)
            if wants_expref != (child["type"] == "expref"):
                need = "an expression reference (&expr)" if wants_expref else "a value, not &expr"
                raise ExprError(pos, f"argument {i + 1} of {name}() must be {need}")
            compiled = self.node(child, cur)
            if compiled.const and not wants_expref:
                problem = check_constant_argument(fdef, i, _fold(self.ns, compiled.src, child))
                if problem:
                    raise ExprError(pos, problem)
            args.append(compiled)
        uses_current = any(a.uses_current for a in args)
        uses_env = any(a.uses_env for a in args)
        if name == "exists":
            return self._exists(args[0], pos, cur)
        if (self.text, pos) in self.scope.guarded:  # its argument may be large: measure it first
            call = self.ns.bind(bounded(name, make_value_call(fdef), self.scope.budget), f"_f_{name}_")
            return _C(f"{call}({', '.join(a.src for a in args)})", uses_current, uses_env)
        consts = [_fold(self.ns, a.src, children[i]) if a.const else _NOT_CONST for i, a in enumerate(args)]
        special = specialize(fdef, [None if c is _NOT_CONST else c for c in consts],
                             [c is not _NOT_CONST for c in consts])
        if name == "is_blank":  # null and plain strings inline; anything else by the call
            call, t = self.ns.bind(make_value_call(fdef), f"_f_{name}_"), self.ns.name()
            return _C(f"(True if ({t} := {args[0].src}) is None else (not {t}.strip() if type({t}) is str"
                      f" else {call}({t})))", uses_current, uses_env, is_bool=True)
        if special is not None and name == "matches_any" and matches_everything(consts[1]):
            # `*` among the patterns (the default of a selection setting): true for any string
            call, t = self.ns.bind(special, f"_f_{name}_"), self.ns.name()
            return _C(f"(True if type({t} := {args[0].src}) is str else {call}({t}))", uses_current,
                      uses_env, is_bool=True)
        if (special is not None and name == "join" and children[1]["type"] == "multi_select_list"
                and children[1]["children"]):
            return self._join_items(special, consts[0], children[1]["children"], cur, uses_current, uses_env)
        if special is not None:
            call = self.ns.bind(special, f"_f_{name}_")
            live = ", ".join(a.src for a, c in zip(args, consts, strict=True) if c is _NOT_CONST)
            return _C(f"{call}({live})", uses_current, uses_env, is_bool=name in _BOOL_FUNCTIONS)
        call = self.ns.bind(make_value_call(fdef), f"_f_{name}_")
        return _C(f"{call}({', '.join(a.src for a in args)})", uses_current, uses_env,
                  is_bool=name in _BOOL_FUNCTIONS)

    def _join_items(self, join: Callable[..., Any], separator: str, items: list[Node], cur: str,
                    uses_current: bool, uses_env: bool) -> _C:
        """`join(separator, [a, b])`: strings concatenated inline (every item evaluated, in
        order, as the list would be); anything else by the call, which words the error."""
        call = self.ns.bind(join, "_f_join_")
        parts = [self.node(item, cur) for item in items]
        held = [self.ns.name() for _ in parts]
        test = " & ".join(f"(type({t} := {p.src}) is str)" for t, p in zip(held, parts, strict=True))
        joined = f" + {separator!r} + ".join(held)
        listed = ", ".join(held)
        return _C(f"({call}(None) if {cur} is None else ({joined}) if {test} else {call}([{listed}]))",
                  uses_current, uses_env)

    def _keys_exist(self, keys: tuple[str | int, ...], cur: str) -> str:
        """`path_exists` of object keys as one expression over `cur`."""
        test = f"isinstance({cur}, dict) and {keys[0]!r} in {cur}"
        prev, key = cur, keys[0]
        for step in keys[1:]:
            held = self.ns.name()
            test += f" and isinstance({held} := {prev}[{key!r}], dict) and {step!r} in {held}"
            prev, key = held, step
        return test

    def _exists(self, target: _C, pos: int, cur: str) -> _C:
        if target.steps is None or (not target.steps and target.root_var is None):
            raise ExprError(pos, "exists() takes a path such as &data.identifiers or &$name.key")
        if target.root_var is None:
            if cur == ROOT and len(target.steps) > 1 and all(type(s) is str for s in target.steps):
                # the object holding the last key, read as a path (once, where code reads it again)
                held, last = self.ns.name(), target.steps[-1]
                keys = tuple(str(s) for s in target.steps[:-1])
                return _C(f"(isinstance({held} := {self.ns.path_token(keys)}, dict) and {last!r} in {held})",
                          True, False, is_bool=True)
            if all(type(step) is str for step in target.steps):  # inline: no call, no loop
                return _C(f"({self._keys_exist(target.steps, cur)})", True, False, is_bool=True)
            test = self.ns.bind(path_exists(target.steps), "_exists")
            return _C(f"{test}({cur})", True, False, is_bool=True)
        base = self._variable({"value": target.root_var, "pos": pos}, cur)
        test = self.ns.bind(path_exists(target.steps), "_exists")
        return _C(f"{test}({base.src})", False, True, is_bool=True)


_NOT_CONST: Any = object()
_TRUTH_AWARE = {"and_expression", "or_expression", "not_expression"}
_NEVER_FAIL = {"exists", "is_blank", "not_null", "type", "to_array", "to_string", "to_number"}


def _cannot_fail(node: Node) -> bool:
    """Whether evaluating `node` can never raise (no function that type-checks its input)."""
    if node["type"] == "function_expression" and node["value"] not in _NEVER_FAIL:
        return False
    return all(_cannot_fail(child) for child in node.get("children", []) if isinstance(child, dict))
_BINDS_PREV = {"current", "identity", "field", "index", "slice", "subexpression", "index_expression",
               "pipe", "projection", "value_projection", "filter_projection", "flatten"}


def _root_var(node: Node) -> str | None:
    return node["value"] if node["type"] == "variable" else None


def _check_arity(fdef: FunctionDef, count: int, pos: int) -> None:
    if fdef.variadic and count < fdef.min_args:
        raise ExprError(pos, f"{fdef.name}() takes at least {fdef.min_args} arguments, got {count}")
    if not fdef.variadic and count != fdef.min_args:
        word = "argument" if fdef.min_args == 1 else "arguments"
        raise ExprError(pos, f"{fdef.name}() takes {fdef.min_args} {word}, got {count}")

