"""The Customer.io input schema describes what Customer.io sends: the envelope is required, no
key inside `data` is, and the verdict is the same whatever the object_type.

The bodies are written here in the shapes public Customer.io examples and integrations use
(the shared corpus itself is checked by .ci/run, not by these tests).
"""

from __future__ import annotations

from typing import Any

import pytest

from transformer.io.schema_check import SchemaCheck, read_schema_file

from .conftest import ROOT

CHECK = SchemaCheck(read_schema_file(ROOT / "schemas" / "customerio-webhook.schema.json"), "input")


def body(object_type: str | None, metric: str, data: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event_id": "01J9SCHQ5M8N3R7V2W4X6Y0001", "metric": metric,
                           "timestamp": 1722000001, "data": data}
    if object_type is not None:
        out["object_type"] = object_type
    return out | envelope


ACCEPTED = {
    "email sent without subject (the OpenAPI example)": body(
        "email", "sent", {"action_id": 7, "delivery_id": "d1", "identifiers": {"id": "7"},
                          "recipient": "a@example.com"}),
    "email delivered without identifiers or customer_id": body(
        "email", "delivered", {"campaign_id": 3, "recipient": "a@example.com"}),
    "email subscribed without customer_id or email_address": body(
        "email", "subscribed", {"identifiers": {"id": "u7"}, "transactional_message_id": "9"}),
    "customer subscribed with customer_id only (legacy)": body(
        "customer", "subscribed", {"customer_id": "7", "email_address": "a@example.com"}),
    "email subscribed with customer_id only (legacy)": body(
        "email", "subscribed", {"customer_id": "7", "email_address": "a@example.com"}),
    "sms delivered with empty data": body("sms", "delivered", {}),
    "sms clicked with a string link_id": body(
        "sms", "clicked", {"identifiers": {"id": "7"}, "href": "https://example.com", "link_id": "link_1"}),
    "email drafted without subject or recipient": body(
        "email", "drafted", {"action_id": 1, "identifiers": {"id": "7"}}),
    "preferences changed spelled object_type_type": body(
        None, "cio_subscription_preferences_changed", {"identifiers": {"id": "7"}},
        object_type_type="email"),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_bodies_in_the_shapes_customer_io_and_integrations_send_are_accepted(name: str) -> None:
    assert [str(e) for e in CHECK.errors(ACCEPTED[name])] == []


def test_a_missing_person_reference_gets_the_same_verdict_for_every_object_type() -> None:
    for object_type in ("customer", "email", "sms", "push"):
        assert CHECK.errors(body(object_type, "subscribed", {"email_address": "a@example.com"})) == []


@pytest.mark.parametrize(("payload", "path", "message"), [
    (body("email", "sent", {}) | {"timestamp": "1722000001"}, "$.timestamp",
     'expected integer, got string "1722000001"'),
    ({k: v for k, v in body("email", "sent", {}).items() if k != "timestamp"}, "$.timestamp",
     "required key is missing"),
    (body(None, "unsubscribed", {}), "$.object_type", "required key is missing"),
    (body(None, "unsubscribed", {}, object_type_type="email"), "$.object_type", "required key is missing"),
    (body("customer", "opened", {}), "$.metric",
     'expected one of "subscribed", "unsubscribed", "cio_subscription_preferences_changed", got string "opened"'),
])
def test_envelope_violations_name_the_field(payload: dict[str, Any], path: str, message: str) -> None:
    errors = CHECK.errors(payload)
    assert [(e.path, e.message) for e in errors] == [
        (path, f"does not match customerio-webhook.schema.json: {message}")]
