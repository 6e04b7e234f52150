"""Already-parsed values given to the library: whatever they hold, `apply` answers with a
result or a `PayloadError` naming the rule, never another exception."""

from __future__ import annotations

from typing import Any

import pytest

from transformer import PayloadError, load_mapping

from ..conftest import MAPPING

AMPLITUDE = load_mapping(MAPPING, environ={})


def webhook(data: Any) -> dict[str, Any]:
    return {"event_id": "01HDEEP", "object_type": "email", "metric": "sent", "timestamp": 1,
            "data": data}


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [600, 5_000, 100_000])
def test_nesting_beyond_python_recursion_is_a_payload_error_naming_the_rule(levels: int) -> None:
    # above ~500 levels the `rest` copy of `data` recurses past Python's limit; the generated
    # code used to catch that with a name its restricted builtins lacked (NameError)
    with pytest.raises(PayloadError) as caught:
        AMPLITUDE.apply(webhook({"identifiers": {"id": "person-1"}, "deep": nested(levels)}))
    assert (caught.value.rule, caught.value.path, caught.value.message) == (
        "fields.event_properties.rest.from", "$.data", "value nested too deeply")


def test_apply_many_yields_the_deep_payload_as_an_error_and_goes_on() -> None:
    payloads = [webhook({"identifiers": {"id": "person-1"}, "deep": nested(2_000)}),
                webhook({"identifiers": {"id": "person-2"}})]
    results = list(AMPLITUDE.apply_many(payloads))
    assert results[0].error is not None and results[0].error.message == "value nested too deeply"
    assert results[1].error is None and results[1].events[0]["user_id"] == "person-2"


class _Raising(dict[str, Any]):
    """A payload value whose iteration raises: stands for a bug met while copying it."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(identifiers={"id": "person-1"})
        self.exc = exc

    def items(self) -> Any:
        raise self.exc


def test_a_keyboard_interrupt_inside_generated_code_stays_a_keyboard_interrupt() -> None:
    # the `except` clause of the rest copy looked up RecursionError when the exception passed:
    # a Ctrl-C landing there became NameError: name 'RecursionError' is not defined
    with pytest.raises(KeyboardInterrupt):
        AMPLITUDE.apply(webhook(_Raising(KeyboardInterrupt())))


@pytest.mark.parametrize(("exc", "message"), [
    (MemoryError(), "out of memory"),
    (ValueError("boom"), "failed unexpectedly (ValueError: boom)"),
    (RecursionError("too deep"), "value nested too deeply"),
])
def test_any_exception_while_applying_is_a_payload_error_naming_the_rule(exc: Exception,
                                                                          message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        AMPLITUDE.apply(webhook(_Raising(exc)))
    assert (caught.value.rule, caught.value.path, caught.value.message) == (
        "fields.event_properties.rest.from", "$.data", message)


class _BadText(str):
    def casefold(self) -> str:
        raise TypeError("a bug in a filter")


def test_a_failing_filter_is_a_payload_error_naming_the_filter() -> None:
    payload = webhook({"identifiers": {"id": "person-1"}, "recipients": [{"device_id": "d1"}]})
    payload["object_type"], payload["metric"] = "push", "sent"
    payload["data"]["recipients"][0]["device_platform"] = _BadText("ios")
    with pytest.raises(PayloadError) as caught:
        AMPLITUDE.apply(payload)
    assert (caught.value.rule, caught.value.path, caught.value.message) == (
        "fields.platform.filters[0]", "$device.device_platform",
        "failed unexpectedly (TypeError: a bug in a filter)")


def test_an_exception_outside_every_rule_is_still_a_payload_error(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = load_mapping(MAPPING, environ={})

    def broken(payload: Any) -> Any:
        raise ValueError("not a rule's")
    monkeypatch.setattr(mapping, "_run", broken)   # the exact code, which runs the rules one by one
    # a payload that is not an object goes to the exact code at once (the fast path is for objects)
    for call in (mapping.apply, mapping.outcome):
        with pytest.raises(PayloadError) as caught:
            call(["not", "an", "object"])
        assert (caught.value.rule, caught.value.path, caught.value.message) == (
            "fields", "$", "failed unexpectedly (ValueError: not a rule's)")
