"""The expression compiler: the same answers as jmespath.py, checks at compile time."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer.expr import ExprError, Scope, compile_expression
from transformer.expr.functions import EvalError

EXPRESSIONS = [
    "a", "a.b", "a.b.c", "a.b.c.d", "a[0]", "a[-1]", "a[0].b", "a.b[1].c", "a[*]", "a[*].b", "a[].b",
    "a[]", "a[?b]", "a[?b == `1`]", "a[?b != 'x'].c", "a[?b > `1`]", "a[?b <= `2`]", "a[?!b]",
    "a[:2]", "a[::-1]", "a[1:]", "a.*", "a.*.b", "*.b", "@", "a | b", "a | [0]", "a || b",
    "a && b", "!a", "[a, b]", "{x: a, y: b.c}", "a.[b, c]", "a.{k: b}", "length(a)", "keys(a)",
    "values(a)", "type(a)", "to_string(a)", "to_number(a)", "not_null(a, b, `\"z\"`)",
    "join(', ', a)", "contains(a, 'x')", "starts_with(a, 'x')", "sort(a)", "max(a)", "sum(a)",
    "sort_by(a, &b)", "max_by(a, &b)", "map(&b, a)", "merge(a, b)", "reverse(a)", "to_array(a)",
    "a[?contains(b, 'x')]", "a == b", "a < b", "`[1, 2]`", "'lit'", "a.b | length(@)",
    "a[?b].c | [0]", "a[0][0]", "a[*][0]", "abs(a)", "floor(a)", "avg(a)", "min(a)",
    # the shortcuts for a boolean left side, and the inline join of a list of items
    "a == b && c", "!a || b", "!a && b", "(a == b) || c", "a[?b == `1` && c]", "join('-', [a, b])",
    "join('-', [a, 'x'])",
]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False),
                    st.sampled_from(["", "x", "ab", "xy z"]))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(["a", "b", "c", "d", "k"]), children,
                                               max_size=4)),
    max_leaves=12)


def reference(expression: str, document: Any) -> tuple[str, Any]:
    try:
        return "ok", jmespath.search(expression, document)
    except jmespath.exceptions.JMESPathError:
        return "error", None
    except (TypeError, ValueError):  # jmespath.py crashes here (e.g. '' > 1); we must not
        return "crash", None


def ours(expression: str, document: Any) -> tuple[str, Any]:
    try:
        compiled = compile_expression(expression, Scope())
    except ExprError:
        return "error", None
    try:
        return "ok", compiled.fn(document, [document])
    except EvalError:
        return "error", None


@settings(max_examples=150, deadline=None)
@given(document=st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3))
def test_compiled_expressions_agree_with_jmespath(document: dict[str, Any]) -> None:
    for expression in EXPRESSIONS:
        expected = reference(expression, document)
        actual = ours(expression, document)
        if expected[0] == "crash":
            assert actual[0] in ("ok", "error"), expression
        else:
            assert actual == expected, expression


def test_variables_read_settings_as_constants() -> None:
    compiled = compile_expression("[$account]", Scope(constants={"account": "1"}))
    assert compiled.fn({}, [{}]) == ["1"]
    folded = compile_expression("$flag && `true`", Scope(constants={"flag": False}))
    assert folded.const and folded.value is False


def test_exists_tells_a_missing_key_from_a_null_one() -> None:
    compiled = compile_expression("exists(&data.identifiers)", Scope())
    assert compiled.fn({"data": {"identifiers": None}}, []) is True
    assert compiled.fn({"data": {}}, []) is False
    assert compiled.fn({"data": "text"}, []) is False


def test_is_blank_and_matches_any() -> None:
    blank = compile_expression("is_blank(a)", Scope())
    values: tuple[Any, ...] = (None, "", "  ", [], {}, "x", 0, False)
    assert [blank.fn({"a": v}, []) for v in values] == \
        [True, True, True, True, True, False, False, False]
    patterns = Scope(constants={"patterns": ["email/*", "*/clicked"]})
    match = compile_expression("matches_any(a, $patterns)", patterns)
    subjects = ("email/sent", "push/clicked", "push/sent")
    assert [match.fn({"a": v}, []) for v in subjects] == [True, True, False]


def test_sha256_hashes_canonical_json_whatever_the_spacing_or_key_order() -> None:
    import hashlib

    import orjson

    digest = compile_expression("sha256(@)", Scope())
    spaced = orjson.loads(b'{ "b" : [1, 2.5, "\\u00e9"],\n "a": {"y": null, "x": true} }')
    packed = orjson.loads('{"a":{"x":true,"y":null},"b":[1,2.5,"é"]}'.encode())
    canonical = '{"a":{"x":true,"y":null},"b":[1,2.5,"é"]}'.encode()
    assert digest.fn(spaced, []) == digest.fn(packed, []) == hashlib.sha256(canonical).hexdigest()
    assert digest.fn({"a": 1}, []) != digest.fn({"a": 2}, [])
    assert compile_expression("sha256(a)", Scope()).fn({"a": "x"}, []) == hashlib.sha256(b'"x"').hexdigest()
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(EvalError, match=r"sha256\(\): the value is nested too deeply to hash"):
        digest.fn(deep, [])


def test_plain_paths_know_their_json_path() -> None:
    assert compile_expression("data.recipients[0].device_id", Scope()).json_path() == \
        "$.data.recipients[0].device_id"
    assert compile_expression("length(data)", Scope()).json_path() == "`length(data)`"


def test_wrong_argument_type_at_run_time_names_the_argument() -> None:
    compiled = compile_expression("join('/', [a, b])", Scope())
    message = r'argument 2 of join\(\) must be array of strings, got array \[1, "x"\]'
    with pytest.raises(EvalError, match=message):
        compiled.fn({"a": 1, "b": "x"}, [])


def test_values_in_error_texts_are_json_not_python() -> None:
    compiled = compile_expression("join('/', [a, b])", Scope())
    with pytest.raises(EvalError) as caught:
        compiled.fn({}, [])
    assert str(caught.value) == "argument 2 of join() must be array of strings, got array [null, null]"


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("a.", 2, "invalid expression: expression ends too early"),
    ("foo(a)", 0, "unknown function 'foo()' (did you mean 'floor'?)"),
    ("length(a, b)", 0, "length() takes 1 argument, got 2"),
    ("a | $nope", 4, "unknown variable '$nope'"),
    ("a[::0]", 0, "slice step cannot be 0"),
    ("exists(a)", 0, "argument 1 of exists() must be an expression reference (&expr)"),
])
def test_compile_errors_carry_the_offset(text: str, offset: int, message: str) -> None:
    with pytest.raises(ExprError) as caught:
        compile_expression(text, Scope())
    assert caught.value.offset == offset
    assert caught.value.message.startswith(message)


def test_conditions_on_settings_are_decided_when_the_mapping_loads() -> None:
    on, off = Scope(constants={"flag": True}), Scope(constants={"flag": False})
    plain = compile_expression("metric == 'sent'", Scope())
    assert compile_expression("metric == 'sent' && $flag", on, condition=True).source == plain.source
    folded = compile_expression("metric == 'sent' && $flag", off, condition=True)
    assert folded.const and folded.value is False
    # as a value, `x && false` is x when x is falsy: only a condition may drop the left side
    value = compile_expression("metric && $flag", off)
    assert not value.const and value.fn({"metric": ""}, []) == ""
    # a left side that can fail on the payload is kept, so that its error is still reported
    kept = compile_expression("length(metric) > `1` && $flag", off, condition=True)
    assert not kept.const


def test_constant_left_side_decides_and_or_in_any_context() -> None:
    scope = Scope(constants={"yes": True, "no": False})
    assert compile_expression("$no && metric", scope).const
    assert compile_expression("$yes || metric", scope).const
    assert compile_expression("$yes && metric", scope).source == compile_expression("metric", Scope()).source
