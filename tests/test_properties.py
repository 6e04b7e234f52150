"""Invariants over arbitrary input (hypothesis)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer import PayloadError, Result, ResultKind
from transformer.filters import FILTERS, FilterValueError

from .conftest import MAPPING, ROOT, compiled_mapping

AMPLITUDE = compiled_mapping(MAPPING, {"body_content": True, "account_id": "1"})
ORDERS = compiled_mapping(ROOT / "tests" / "mappings" / "orders.yaml")

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         st.text(max_size=8), st.sampled_from(["0", " ", "", "sent", "email", "ios"]))
keys = st.one_of(st.text(max_size=6), st.sampled_from([
    "data", "identifiers", "id", "email", "recipients", "device_id", "device_platform", "platform",
    "object_type", "metric", "timestamp", "event_id", "content", "headers", "customer_id",
    "email_address", "order", "lines", "customer", "quantity", "sku", "price", "test"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)), max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=json_values)
def test_apply_on_any_json_returns_a_result_or_raises_payload_error(payload: Any) -> None:
    for mapping in (AMPLITUDE, ORDERS):
        total = mapping.result(payload)  # never raises
        try:
            result = mapping.apply(payload)
        except PayloadError as exc:
            assert exc.rule and exc.path.startswith(("$", "`"))
            assert total.kind == ResultKind.ERROR and total.events == [] and total.error is not None
            assert (total.error.rule, total.error.path, total.error.message) == (exc.rule, exc.path, exc.message)
            continue
        assert isinstance(result, Result) and total == result and total.kind != ResultKind.ERROR
        assert (result.skip is None) or result.events == []
        for event in result.events:
            assert isinstance(event, dict)
            assert None not in event.values()


@settings(max_examples=300, deadline=None)
@given(text=st.text(), limit=st.integers(0, 50))
def test_truncate_never_exceeds_its_bound_and_keeps_a_prefix(text: str, limit: int) -> None:
    cut = FILTERS["truncate"].factory(limit, None)(text)  # type: ignore[arg-type]
    assert len(cut) <= limit and text.startswith(cut)
    assert cut == text or len(cut) == limit


@given(value=json_scalars | st.lists(st.integers(), max_size=2))
def test_filters_raise_only_filter_value_errors(value: Any) -> None:
    for name in ("title", "lower", "upper", "strip", "upper_first", "seconds_to_ms", "to_string"):
        with contextlib.suppress(FilterValueError):
            FILTERS[name].factory(None, None)(value)  # type: ignore[arg-type]
