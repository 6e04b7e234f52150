"""The engine running amplitude.yaml agrees with an independent hand-written implementation.

`benchmarks/amplitude_handwritten.py` was written from the rules M1-M13 alone, without the
engine or the mapping. Hypothesis generates Customer.io-shaped payloads (with the edge values
the rules care about) and settings; both must give the same event, skip rule, or error.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transformer import CompiledMapping

from .conftest import MAPPING, ROOT, compiled_mapping

_spec = importlib.util.spec_from_file_location("amplitude_handwritten",
                                               ROOT / "benchmarks" / "amplitude_handwritten.py")
assert _spec is not None and _spec.loader is not None
handwritten = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handwritten)

OBJECT_TYPES = ["customer", "email", "push", "sms", "whatsapp", "slack", "webhook", "in_app"]
METRICS = ["sent", "delivered", "opened", "clicked", "subscribed", "cio_subscription_preferences_changed",
           "bounced", "failed"]
SELECTIONS = [["*"], ["email/*", "push/*"], ["*/sent"], ["sms/sent", "in_app/?licked"], []]

ids = st.one_of(st.none(), st.sampled_from(["", "  ", "0", "00", "user-1", " x ", "42"]),
                st.integers(-2, 99),
                st.floats(0, 50).map(lambda f: round(f, 1)))
emails = st.one_of(st.none(), st.sampled_from(["", " ", "ada@example.com"]))
platform_names = ["ios", "IOS", "android", "web", "windows", "tvOS", "", " "]
platforms = st.one_of(st.none(), st.sampled_from(platform_names))
devices = st.fixed_dictionaries({}, optional={
    "device_id": st.one_of(st.none(), st.sampled_from(["", " ", "tok-1", "tok-2"]), st.integers(0, 9)),
    "device_platform": platforms, "platform": platforms, "failure_message": st.text(max_size=5)})
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=1100)
data = st.fixed_dictionaries({}, optional={
    "identifiers": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "id": ids, "email": emails, "cio_id": st.just("a3b1")})),
    "customer_id": ids.filter(lambda v: not isinstance(v, float)),
    "email_address": emails,
    "recipients": st.lists(devices, max_size=3),
    "content": st.one_of(st.none(), texts),
    "headers": st.just({"X-Campaign": ["spring"]}),
    "subject": st.text(max_size=10),
    "nested": st.recursive(st.none() | st.integers() | st.text(max_size=3),
                           lambda c: st.lists(c, max_size=2)
                           | st.dictionaries(st.text(max_size=3), c, max_size=2),
                           max_leaves=5),
})
payloads = st.fixed_dictionaries({
    "event_id": st.sampled_from(["01GJBCEYDJMH4VCDKXC98JNQ2D", "01HF7YAG7GQ4K2V9N7M3P5R6S8", None, "", "  "]),
    "metric": st.sampled_from(METRICS),
}, optional={"data": data, "extra": st.integers(),
             "object_type": st.sampled_from(OBJECT_TYPES),
             "object_type_type": st.sampled_from(OBJECT_TYPES),
             "timestamp": st.one_of(st.integers(1_600_000_000, 1_800_000_000),
                                    st.floats(1_600_000_000, 1_800_000_000, allow_nan=False), st.none())})
setting_choices = st.fixed_dictionaries({
    "events": st.sampled_from(range(len(SELECTIONS))), "body_content": st.booleans(),
    "account_id": st.sampled_from([None, "1"]), "workspace_id": st.sampled_from([None, "56354"])})

def engine_mapping(chosen: dict[str, Any]) -> CompiledMapping:
    """The shipped mapping with these settings (compiled once per test session)."""
    values = {k: v for k, v in chosen.items() if v is not None}
    values["events"] = SELECTIONS[chosen["events"]]
    return compiled_mapping(MAPPING, values)


def engine_outcome(payload: Any, chosen: dict[str, Any]) -> Any:
    result = engine_mapping(chosen).result(payload)
    if result.error is not None:
        return ("error", result.error.rule, result.error.path)
    return ("skip", result.skip.rule) if result.skip else ("event", result.events[0])


def oracle_outcome(payload: Any, chosen: dict[str, Any]) -> Any:
    try:
        out = handwritten.transform(payload, events=SELECTIONS[chosen["events"]],
                                    body_content=chosen["body_content"], account_id=chosen["account_id"],
                                    workspace_id=chosen["workspace_id"])
    except handwritten.PayloadError as exc:
        return ("error", exc.rule, exc.path)
    return ("skip", out) if isinstance(out, str) else ("event", out)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, chosen=setting_choices)
def test_engine_and_handwritten_agree(payload: dict[str, Any], chosen: dict[str, Any]) -> None:
    assert engine_outcome(payload, chosen) == oracle_outcome(payload, chosen)
