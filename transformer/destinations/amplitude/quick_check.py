"""A quick check that accepts the events the event schema accepts, compiled to plain Python.

The preflight checks every event against `schemas/amplitude-event.schema.json`. The full
validator (fastjsonschema) walks all ~40 declared properties of every event; this compiles the
schema's few rules into one straight-line function that looks only at the keys an event has.
It may say "valid" only for an event the schema accepts; anything else, or anything unusual (a
subclass of dict or str, a float where an integer is declared), it leaves to the full validator,
so the messages for refused events are the validator's own. A schema using a keyword this does
not know gets no quick check at all (`compile_quick_check` returns None).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["compile_quick_check"]

# Keywords that say nothing about validity.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default"})
_OBJECT = frozenset({"required", "properties", "additionalProperties", "if", "then", "else"})
_STRING = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_ARRAY = frozenset({"items", "minItems", "maxItems"})
_KNOWN = _ANNOTATIONS | _OBJECT | _STRING | _NUMBER | _ARRAY | {"type"}

# The exact classes accepted quickly for each JSON type: bool is not an integer, and a float
# with an integral value (which the schema may accept as an integer) goes to the full validator.
_CLASSES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "null": (type(None),), "object": (dict,), "array": (list,),
}

# fastjsonschema reads an unescaped `$` in a pattern as the very end of the string (\Z), not
# Python's "end or before a final newline"; patterns are compiled the same way here.
_DOLLAR = re.compile(r"(?<!\\)\$")


class _UnsupportedError(Exception):
    """The schema uses something the quick check does not compile."""


def compile_quick_check(schema: Any) -> Callable[[Any], bool] | None:
    """`check(event)`: True only for an event `schema` accepts (False: ask the full validator);
    None when the schema uses a keyword this does not compile."""
    writer = _Writer()
    try:
        writer.node(schema, "e", 1)
    except _UnsupportedError:
        return None
    source = "def check(e):\n" + "".join(writer.lines) + "    return True\n"
    namespace: dict[str, Any] = dict(writer.constants)
    exec(compile(source, "<amplitude quick check>", "exec"), namespace)
    check: Callable[[Any], bool] = namespace["check"]
    check.__doc__ = source
    return check


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._names = 0
        self._patterns: dict[str, str] = {}  # pattern → the name of its `_Matches`

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line + "\n")

    def block(self, depth: int, header: str, body: Callable[[int], None]) -> None:
        """`header:` and the lines `body(depth + 1)` writes (`pass` when none)."""
        self.emit(depth, header)
        start = len(self.lines)
        body(depth + 1)
        if len(self.lines) == start:
            self.emit(depth + 1, "pass")

    def const(self, value: Any) -> str:
        self._names += 1
        name = f"_c{self._names}"
        self.constants[name] = value
        return name

    def class_test(self, v: str, classes: set[type], *, negate: bool = True) -> str:
        """An expression true when `v`'s class is none of `classes` (`negate=False`: one of them)."""
        if len(classes) == 1:
            (only,) = classes
            return f"{v}.__class__ {'is not' if negate else 'is'} {self.const(only)}"
        return f"{v}.__class__ {'not in' if negate else 'in'} {self.const(frozenset(classes))}"

    def var(self) -> str:
        self._names += 1
        return f"v{self._names}"

    def node(self, schema: Any, v: str, depth: int, *, is_dict: bool = False) -> None:
        """Lines that `return False` unless the value in variable `v` is accepted quickly
        (`is_dict`: it is known to be a dict, not a subclass)."""
        if schema is True or schema == {}:
            return
        if not isinstance(schema, dict) or not _KNOWN.issuperset(schema):
            raise _UnsupportedError
        types = schema.get("type")
        names = [types] if isinstance(types, str) else types
        allowed: set[type] | None = None  # the exact classes the value can have, when known
        if names is not None:
            if not isinstance(names, list) or not names or not all(n in _CLASSES for n in names):
                raise _UnsupportedError
            allowed = {c for n in names for c in _CLASSES[n]}
            self.emit(depth, f"if {self.class_test(v, allowed)}: return False")
        elif is_dict:
            allowed = {dict}
        if "if" in schema and allowed != {dict}:
            raise _UnsupportedError  # `if` applies to values of every type: compiled for objects only
        # each family of keywords applies to values of its type only
        for family, keys in (("string", _STRING), ("number", _NUMBER), ("array", _ARRAY),
                             ("object", _OBJECT)):
            if not keys.intersection(schema):
                continue
            classes = set(_CLASSES[family])

            def checks(inner: int, family: str = family) -> None:
                self.family(family, schema, v, inner)

            if allowed is not None and allowed <= classes:
                checks(depth)
            elif allowed is not None:
                if allowed & classes:  # else the keywords never apply
                    self.block(depth, f"if {self.class_test(v, allowed & classes, negate=False)}:", checks)
            else:
                # no type: check the family on values of its exact classes only, and leave
                # subclasses (which a validator may count as this type) to the full validator
                def guarded(inner: int, family: str = family, classes: set[type] = classes) -> None:
                    self.emit(inner, f"if {self.class_test(v, classes)}: return False")
                    self.family(family, schema, v, inner)

                self.block(depth, "if " + " or ".join(f"isinstance({v}, {c.__name__})" for c in classes)
                           + ":", guarded)

    def family(self, family: str, schema: dict[str, Any], v: str, depth: int) -> None:
        getattr(self, f"_{family}")(schema, v, depth)

    def lengths(self, schema: dict[str, Any], v: str, depth: int, least: str, most: str) -> None:
        """The bounds on `len(v)` named `least` and `most` (minLength, maxItems, …)."""
        for key, op in ((least, "<"), (most, ">")):
            if key in schema:
                self.emit(depth, f"if len({v}) {op} {_integer(schema[key])}: return False")

    def _string(self, schema: dict[str, Any], v: str, depth: int) -> None:
        self.lengths(schema, v, depth, "minLength", "maxLength")
        if "pattern" in schema:
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                raise _UnsupportedError
            if pattern not in self._patterns:
                self._patterns[pattern] = self.const(_Matches(re.compile(_DOLLAR.sub(r"\\Z", pattern))))
            self.emit(depth, f"if not {self._patterns[pattern]}[{v}]: return False")

    def _number(self, schema: dict[str, Any], v: str, depth: int) -> None:
        for key, op in (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<="),
                        ("exclusiveMaximum", ">=")):
            if key in schema:
                bound = schema[key]
                if bound.__class__ not in (int, float):
                    raise _UnsupportedError
                self.emit(depth, f"if {v} {op} {bound!r}: return False")

    def _array(self, schema: dict[str, Any], v: str, depth: int) -> None:
        self.lengths(schema, v, depth, "minItems", "maxItems")
        if "items" in schema:
            if not isinstance(schema["items"], (dict, bool)):
                raise _UnsupportedError  # the tuple form
            item = self.var()
            self.block(depth, f"for {item} in {v}:", lambda inner: self.node(schema["items"], item, inner))

    def _object(self, schema: dict[str, Any], v: str, depth: int) -> None:
        for key in _strings(schema.get("required", [])):
            self.emit(depth, f"if {key!r} not in {v}: return False")
        if "if" in schema:  # without `if`, `then` and `else` are ignored
            self._conditional(schema, v, depth)
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise _UnsupportedError
        extra = schema.get("additionalProperties", True)
        if extra is False:
            self.emit(depth, f"if not {v}.keys() <= {self.const(frozenset(properties))}: return False")
        # properties whose whole rule is one type: one lookup per key the value has
        simple: dict[str, frozenset[type]] = {}
        for name, sub in properties.items():
            kind = sub.get("type") if isinstance(sub, dict) else None
            if isinstance(kind, str) and kind in _CLASSES and set(sub) - _ANNOTATIONS == {"type"}:
                simple[name] = frozenset(_CLASSES[kind])
            elif sub is not True and sub != {}:
                got = self.var()

                def present(inner: int, name: str = name, sub: Any = sub, got: str = got) -> None:
                    self.emit(inner, f"{got} = {v}[{name!r}]")
                    self.node(sub, got, inner)

                self.block(depth, f"if {name!r} in {v}:", present)
        key, value = self.var(), self.var()
        if simple:
            table = self.const(simple)
            self.emit(depth, f"for {key}, {value} in {v}.items():")
            self.emit(depth + 1, f"classes = {table}.get({key})")
            self.emit(depth + 1, f"if classes is not None and {value}.__class__ not in classes: return False")
        if extra is not False and extra is not True:
            known = self.const(frozenset(properties))
            if properties:
                self.emit(depth, f"for {key}, {value} in {v}.items():")
                self.block(depth + 1, f"if {key} not in {known}:",
                           lambda inner: self.node(extra, value, inner))
            else:
                self.block(depth, f"for {value} in {v}.values():",
                           lambda inner: self.node(extra, value, inner))

    def _conditional(self, schema: dict[str, Any], v: str, depth: int) -> None:
        """`if` decided exactly: only an `if` made of `required` is compiled."""
        condition = schema["if"]
        if not isinstance(condition, dict) or set(condition) - _ANNOTATIONS != {"required"}:
            raise _UnsupportedError
        keys = _strings(condition["required"])
        test = " and ".join(f"{key!r} in {v}" for key in keys) or "True"
        self.block(depth, f"if {test}:", lambda inner: self.node(schema.get("then", True), v, inner,
                                                                  is_dict=True))
        self.block(depth, "else:", lambda inner: self.node(schema.get("else", True), v, inner,
                                                           is_dict=True))


class _Matches(dict[str, bool]):
    """Whether a string matches a pattern, remembered for up to `_REMEMBERED` strings: ids and
    event types repeat, and a lookup costs a fraction of a search."""

    __slots__ = ("search",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.search = pattern.search

    def __missing__(self, text: str) -> bool:
        found = self.search(text) is not None
        if len(self) < _REMEMBERED:
            self[text] = found
        return found


_REMEMBERED = 20_000


def _integer(value: Any) -> int:
    if value.__class__ is not int or value < 0:
        raise _UnsupportedError
    return int(value)


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _UnsupportedError
    return value
