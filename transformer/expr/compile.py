"""Compile a parsed JMESPath AST into a Python closure, checking it first.

Everything that can be known before the first event is checked here: function names, arities,
the types of literal arguments, variable names, slice steps. Sub-expressions that depend on
neither the payload nor per-event variables (settings are constants) are evaluated once, here.
The closures follow jmespath.py's `TreeInterpreter` semantics exactly; they take the current
node and the per-event environment (`env`, a list: `env[0]` is the payload, then one slot per
variable) and return the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jmespath import exceptions as jexc
from jmespath.visitor import _equals, _is_comparable

from .functions import FUNCTIONS, FunctionDef, check_constant_argument, make_call, path_exists
from .parse import Node, ParseFailure, parse_expression

__all__ = ["UNSET", "CompiledExpr", "ExprError", "Scope", "compile_expression", "is_false"]

Fn = Callable[[Any, list[Any]], Any]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()
"""The marker in an `env` slot whose variable has not been computed yet for this event."""


class ExprError(Exception):
    """An expression problem found at compile time, `offset` characters into its text."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


@dataclass(slots=True)
class Scope:
    """What names an expression may use.

    `constants`: settings, folded into the expression. `slots`: per-event variables, their
    index in `env`. `compute[i]` fills slot i on first use. `paths[name]` is the JSON path of a
    variable's value when it is known statically (for error messages).
    """

    constants: dict[str, Any] = field(default_factory=dict)
    secret: frozenset[str] = frozenset()
    slots: dict[str, int] = field(default_factory=dict)
    compute: list[Callable[[list[Any]], Any] | None] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    undefined_hint: Callable[[str], str] | None = None
    used: set[str] = field(default_factory=set)


@dataclass(slots=True)
class CompiledExpr:
    """A compiled expression: `fn(current, env)`; `steps` set when it is a plain path."""

    text: str
    fn: Fn
    const: bool
    value: Any = None
    steps: tuple[str | int, ...] | None = None
    root_var: str | None = None

    def json_path(self) -> str:
        """The JSON path this expression reads, when it is a plain path; else the expression."""
        if self.steps is None:
            return f"`{self.text}`"
        prefix = "$" if self.root_var is None else f"${self.root_var}"
        return prefix + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in self.steps)


def is_false(value: Any) -> bool:
    """JMESPath falsiness: null, false, and empty strings, arrays and objects."""
    return value is None or value is False or value == "" or value == [] or value == {}


@dataclass(slots=True)
class _C:
    """A compiled node: its closure and what it depends on."""

    fn: Fn
    uses_current: bool
    uses_env: bool
    steps: tuple[str | int, ...] | None = None
    root_var: str | None = None

    @property
    def const(self) -> bool:
        return not self.uses_current and not self.uses_env


def compile_expression(text: str, scope: Scope) -> CompiledExpr:
    """Parse and compile `text`; raises `ExprError` with the offset of the first problem."""
    try:
        ast = parse_expression(text)
    except ParseFailure as exc:
        raise ExprError(exc.offset, f"invalid expression: {exc.message}") from None
    compiled = _Compiler(scope).node(ast)
    if compiled.const:
        value = _fold(compiled.fn, ast)
        return CompiledExpr(text, _constant(value), True, value)
    return CompiledExpr(text, compiled.fn, False, None, compiled.steps, compiled.root_var)


def _fold(fn: Fn, ast: Node) -> Any:
    try:
        return fn(None, [])
    except jexc.JMESPathError as exc:
        raise ExprError(ast.get("pos", 0), f"expression always fails: {exc}") from None


def _constant(value: Any) -> Fn:
    def const(current: Any, env: list[Any]) -> Any:
        return value
    return const


class _Compiler:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def node(self, node: Node) -> _C:
        method: Callable[[Node], _C] | None = getattr(self, "_" + node["type"], None)
        if method is None:  # pragma: no cover - every jmespath node type is handled below
            raise ExprError(0, f"unsupported expression node {node['type']}")
        result = method(node)
        if result.const and node["type"] not in ("literal", "variable", "expref"):
            value = _fold(result.fn, node)
            return _C(_constant(value), False, False)
        return result

    # leaves -------------------------------------------------------------------------------

    def _literal(self, node: Node) -> _C:
        return _C(_constant(node["value"]), False, False)

    def _current(self, node: Node) -> _C:
        return _C(_identity, True, False, steps=())

    def _identity(self, node: Node) -> _C:
        return _C(_identity, True, False, steps=())

    def _variable(self, node: Node) -> _C:
        name: str = node["value"]
        scope = self.scope
        scope.used.add(name)
        if name in scope.secret:
            raise ExprError(node["pos"], f"secret setting '${name}' cannot be used in an expression"
                                         " (its value would reach the output)")
        if name in scope.constants:
            return _C(_constant(scope.constants[name]), False, False)
        slot = scope.slots.get(name)
        if slot is None:
            hint = scope.undefined_hint(name) if scope.undefined_hint else ""
            raise ExprError(node["pos"], f"unknown variable '${name}'{hint}")
        compute = scope.compute

        def variable(current: Any, env: list[Any]) -> Any:
            value = env[slot]
            if value is UNSET:
                fill = compute[slot]
                value = env[slot] = fill(env) if fill is not None else None
            return value
        return _C(variable, False, True, steps=(), root_var=name)

    def _field(self, node: Node) -> _C:
        key: str = node["value"]

        def field_(current: Any, env: list[Any]) -> Any:
            try:
                return current.get(key)
            except AttributeError:
                return None
        return _C(field_, True, False, steps=(key,))

    def _index(self, node: Node) -> _C:
        i: int = node["value"]

        def index(current: Any, env: list[Any]) -> Any:
            if not isinstance(current, list):
                return None
            try:
                return current[i]
            except IndexError:
                return None
        return _C(index, True, False, steps=(i,))

    def _slice(self, node: Node) -> _C:
        start, stop, step = node["children"]
        if step == 0:
            raise ExprError(0, "slice step cannot be 0")
        bounds = slice(start, stop, step)

        def slice_(current: Any, env: list[Any]) -> Any:
            if not isinstance(current, list):
                return None
            return current[bounds]
        return _C(slice_, True, False)

    # chains -------------------------------------------------------------------------------

    def _chain(self, node: Node) -> _C:
        parts = [self.node(child) for child in node["children"]]
        first = parts[0]
        uses_env = any(p.uses_env for p in parts)
        plain = (all(p.steps is not None for p in parts)
                 and all(p.root_var is None for p in parts[1:]))
        if plain:
            steps = tuple(s for p in parts for s in (p.steps or ()))
            if first.root_var is None:
                return _C(_path_fn(steps), True, False, steps=steps)
            after = tuple(s for p in parts[1:] for s in (p.steps or ()))
            return _C(_then_path(first.fn, after), False, True, steps=steps,
                      root_var=first.root_var)
        fns = [p.fn for p in parts]

        def chain(current: Any, env: list[Any]) -> Any:
            for fn in fns:
                current = fn(current, env)
            return current
        return _C(chain, first.uses_current, uses_env)

    _subexpression = _chain
    _index_expression = _chain

    def _pipe(self, node: Node) -> _C:
        left, right = (self.node(child) for child in node["children"])
        lf, rf = left.fn, right.fn

        def pipe(current: Any, env: list[Any]) -> Any:
            return rf(lf(current, env), env)
        return _C(pipe, left.uses_current, left.uses_env or right.uses_env)

    # projections --------------------------------------------------------------------------

    def _projection(self, node: Node) -> _C:
        base, rhs = (self.node(child) for child in node["children"])
        bf, rf = base.fn, rhs.fn

        def projection(current: Any, env: list[Any]) -> Any:
            items = bf(current, env)
            if not isinstance(items, list):
                return None
            out = []
            for item in items:
                value = rf(item, env)
                if value is not None:
                    out.append(value)
            return out
        return _C(projection, base.uses_current, base.uses_env or rhs.uses_env)

    def _value_projection(self, node: Node) -> _C:
        base, rhs = (self.node(child) for child in node["children"])
        bf, rf = base.fn, rhs.fn

        def value_projection(current: Any, env: list[Any]) -> Any:
            obj = bf(current, env)
            try:
                items = obj.values()
            except AttributeError:
                return None
            out = []
            for item in items:
                value = rf(item, env)
                if value is not None:
                    out.append(value)
            return out
        return _C(value_projection, base.uses_current, base.uses_env or rhs.uses_env)

    def _filter_projection(self, node: Node) -> _C:
        base, rhs, cond = (self.node(child) for child in node["children"])
        bf, rf, cf = base.fn, rhs.fn, cond.fn

        def filter_projection(current: Any, env: list[Any]) -> Any:
            items = bf(current, env)
            if not isinstance(items, list):
                return None
            out = []
            for item in items:
                if not is_false(cf(item, env)):
                    value = rf(item, env)
                    if value is not None:
                        out.append(value)
            return out
        return _C(filter_projection, base.uses_current,
                  base.uses_env or rhs.uses_env or cond.uses_env)

    def _flatten(self, node: Node) -> _C:
        base = self.node(node["children"][0])
        bf = base.fn

        def flatten(current: Any, env: list[Any]) -> Any:
            items = bf(current, env)
            if not isinstance(items, list):
                return None
            out: list[Any] = []
            for item in items:
                if isinstance(item, list):
                    out.extend(item)
                else:
                    out.append(item)
            return out
        return _C(flatten, base.uses_current, base.uses_env)

    # operators ----------------------------------------------------------------------------

    def _comparator(self, node: Node) -> _C:
        left, right = (self.node(child) for child in node["children"])
        lf, rf = left.fn, right.fn
        op = node["value"]
        fn: Fn
        if op == "eq":
            def fn(current: Any, env: list[Any]) -> Any:
                return _equals(lf(current, env), rf(current, env))
        elif op == "ne":
            def fn(current: Any, env: list[Any]) -> Any:
                return not _equals(lf(current, env), rf(current, env))
        else:
            compare = _ORDERING[op]

            def fn(current: Any, env: list[Any]) -> Any:
                a = lf(current, env)
                b = rf(current, env)
                if not (_is_comparable(a) and _is_comparable(b)):
                    return None
                try:
                    return compare(a, b)
                except TypeError:  # a string against a number
                    return None
        return _C(fn, left.uses_current or right.uses_current, left.uses_env or right.uses_env)

    def _or_expression(self, node: Node) -> _C:
        left, right = (self.node(child) for child in node["children"])
        lf, rf = left.fn, right.fn

        def or_(current: Any, env: list[Any]) -> Any:
            value = lf(current, env)
            return rf(current, env) if is_false(value) else value
        return _C(or_, left.uses_current or right.uses_current, left.uses_env or right.uses_env)

    def _and_expression(self, node: Node) -> _C:
        left, right = (self.node(child) for child in node["children"])
        lf, rf = left.fn, right.fn

        def and_(current: Any, env: list[Any]) -> Any:
            value = lf(current, env)
            return value if is_false(value) else rf(current, env)
        return _C(and_, left.uses_current or right.uses_current, left.uses_env or right.uses_env)

    def _not_expression(self, node: Node) -> _C:
        inner = self.node(node["children"][0])
        f = inner.fn

        def not_(current: Any, env: list[Any]) -> Any:
            value = f(current, env)
            if value == 0 and type(value) in (int, float):
                return False
            return not value
        return _C(not_, inner.uses_current, inner.uses_env)

    # multi-selects ------------------------------------------------------------------------

    def _multi_select_list(self, node: Node) -> _C:
        parts = [self.node(child) for child in node["children"]]
        fns = [p.fn for p in parts]

        def multi_select_list(current: Any, env: list[Any]) -> Any:
            if current is None:
                return None
            return [fn(current, env) for fn in fns]
        return _C(multi_select_list, True, any(p.uses_env for p in parts))

    def _multi_select_dict(self, node: Node) -> _C:
        pairs = [(child["value"], self.node(child["children"][0])) for child in node["children"]]
        fns = [(key, part.fn) for key, part in pairs]

        def multi_select_dict(current: Any, env: list[Any]) -> Any:
            if current is None:
                return None
            return {key: fn(current, env) for key, fn in fns}
        return _C(multi_select_dict, True, any(part.uses_env for _, part in pairs))

    # functions ----------------------------------------------------------------------------

    def _expref(self, node: Node) -> _C:
        inner = self.node(node["children"][0])
        return _C(inner.fn, False, inner.uses_env, steps=inner.steps, root_var=inner.root_var)

    def _function_expression(self, node: Node) -> _C:
        name: str = node["value"]
        pos: int = node.get("pos", 0)
        fdef = FUNCTIONS.get(name)
        if fdef is None:
            from ..errors import did_you_mean

            known = ", ".join(sorted(FUNCTIONS))
            raise ExprError(pos, f"unknown function '{name}()'{did_you_mean(name, FUNCTIONS)}"
                                 f" (known: {known})")
        children: list[Node] = node["children"]
        _check_arity(fdef, len(children), pos)
        args: list[_C] = []
        for i, child in enumerate(children):
            wants_expref = fdef.arg_types(i) == ("expref",)
            if wants_expref != (child["type"] == "expref"):
                need = "an expression reference (&expr)" if wants_expref else "a value, not &expr"
                raise ExprError(pos, f"argument {i + 1} of {name}() must be {need}")
            compiled = self.node(child)
            if compiled.const and not wants_expref:
                problem = check_constant_argument(fdef, i, compiled.fn(None, []))
                if problem:
                    raise ExprError(pos, problem)
            args.append(compiled)
        if fdef.name == "exists":
            return self._exists(args[0], pos)
        expref_args = [fdef.arg_types(i) == ("expref",) for i in range(len(args))]
        call = make_call(fdef, [a.fn for a in args], expref_args)
        uses_current = any(a.uses_current for a in args)
        uses_env = any(a.uses_env for a in args)
        return _C(call, uses_current, uses_env)

    def _exists(self, target: _C, pos: int) -> _C:
        if target.steps is None or (not target.steps and target.root_var is None):
            raise ExprError(pos, "exists() takes a path such as &data.identifiers or &$name.key")
        if target.root_var is None:
            return _C(path_exists(target.steps, None), True, False)
        base = self._variable({"value": target.root_var, "pos": pos})
        return _C(path_exists(target.steps, base.fn), False, True)


def _identity(current: Any, env: list[Any]) -> Any:
    return current


def _check_arity(fdef: FunctionDef, count: int, pos: int) -> None:
    if fdef.variadic and count < fdef.min_args:
        raise ExprError(pos, f"{fdef.name}() takes at least {fdef.min_args} arguments, got {count}")
    if not fdef.variadic and count != fdef.min_args:
        word = "argument" if fdef.min_args == 1 else "arguments"
        raise ExprError(pos, f"{fdef.name}() takes {fdef.min_args} {word}, got {count}")


def _path_fn(steps: tuple[str | int, ...]) -> Fn:
    """A fused walk down keys and indexes: the hot path of most rules."""
    if len(steps) == 1 and isinstance(steps[0], str):
        k0 = steps[0]

        def path1(current: Any, env: list[Any]) -> Any:
            try:
                return current.get(k0)
            except AttributeError:
                return None
        return path1
    if len(steps) == 2 and isinstance(steps[0], str) and isinstance(steps[1], str):
        k0, k1 = steps[0], steps[1]

        def path2(current: Any, env: list[Any]) -> Any:
            try:
                return current.get(k0).get(k1)
            except AttributeError:
                return None
        return path2
    if all(isinstance(s, str) for s in steps):
        keys = steps

        def path_keys(current: Any, env: list[Any]) -> Any:
            try:
                for key in keys:
                    current = current.get(key)
            except AttributeError:
                return None
            return current
        return path_keys
    walk = steps

    def path(current: Any, env: list[Any]) -> Any:
        for step in walk:
            if isinstance(step, int):
                if not isinstance(current, list):
                    return None
                try:
                    current = current[step]
                except IndexError:
                    return None
            else:
                try:
                    current = current.get(step)
                except AttributeError:
                    return None
        return current
    return path


def _then_path(first: Fn, steps: tuple[str | int, ...]) -> Fn:
    if not steps:
        return first
    rest = _path_fn(steps)

    def var_path(current: Any, env: list[Any]) -> Any:
        return rest(first(current, env), env)
    return var_path


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {"lt": _lt, "lte": _le, "gt": _gt, "gte": _ge}
