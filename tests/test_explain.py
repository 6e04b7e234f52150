"""`explain`: the traced values equal what the generated code produces, and read well."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from transformer import CompiledMapping, load_mapping
from transformer.authoring import explain, render_explanation
from transformer.authoring.golden import load_cases
from transformer.cli import app

from . import test_oracle as oracle
from .conftest import MAPPING, ROOT, SAMPLES

ORDERS = ROOT / "tests" / "mappings" / "orders.yaml"


def outcome_of_apply(mapping: CompiledMapping, payload: Any) -> Any:
    result = mapping.result(payload)
    if result.error is not None:
        return ("error", result.error.rule, result.error.path, result.error.message)
    return ("skip", result.skip.rule) if result.skip else ("events", result.events)


def outcome_of_explain(mapping: CompiledMapping, payload: Any) -> Any:
    story = explain(mapping, payload)
    if story.error is not None:
        return ("error", story.error.rule, story.error.path, story.error.message)
    return ("skip", story.skip.id) if story.skip else ("events", story.outputs)


def test_explain_agrees_with_apply_on_every_golden_case(compiled: Callable[..., CompiledMapping]) -> None:
    cases = load_cases(ROOT / "mappings" / "amplitude.cases")
    for case in cases:
        if "settings_error" in case.expect:
            continue  # nothing to explain: the settings are refused
        mapping = compiled(MAPPING, case.settings)
        assert outcome_of_explain(mapping, case.payload) == outcome_of_apply(mapping, case.payload), case.name
    assert len(cases) > 200


def test_explain_agrees_with_apply_on_the_second_mapping_with_each() -> None:
    mapping = load_mapping(ORDERS, environ={})
    payload = {"order": {"id": 7, "status": "refunded", "customer": {"email": "A@B.C "},
                         "lines": [{"sku": "a1", "quantity": 1, "price": 2.5}, {"sku": "b2", "quantity": 3, "price": 1}]}}
    assert outcome_of_explain(mapping, payload) == outcome_of_apply(mapping, payload)
    assert len(explain(mapping, payload).events) == 2


def test_text_shows_locations_fallbacks_and_filter_steps() -> None:
    mapping = load_mapping(ORDERS, environ={})
    payload = {"order": {"id": 7, "currency": " ", "status": "lost", "customer": {"email": " ", "phone": "+33 1"},
                         "lines": [{"sku": "a1", "quantity": 1, "price": 2.5}]}}
    text = render_explanation(explain(mapping, payload), where="order.json")
    currency = text[text.index("  currency  "):text.index("  status  ")]
    assert currency == (
        f"  currency  ({ORDERS}:35:5)\n"
        f"    fallback [0] ({ORDERS}:36:9)\n"
        f"      from order.currency → \" \"\n"
        f"      = no value (left out)\n"
        f"    fallback [1] ({ORDERS}:39:9)  ← first with a value\n"
        f"      const \"EUR\"\n"
        f"      = \"EUR\"\n"
        f"    = \"EUR\"\n")
    status = text[text.index("  status  "):text.index("  tags  ")]
    assert status == (f"  status  ({ORDERS}:41:5)\n"
                      "    from order.status → \"lost\"\n"
                      "    | lookup → \"OTHER\"\n"
                      "    = \"OTHER\"\n")
    assert text.startswith("order.json: payload 7\nlet\n  $customer")
    assert text.rstrip().endswith("result: 1 event")


def test_skips_and_payload_errors_are_explained_with_their_rule() -> None:
    mapping = load_mapping(MAPPING, settings={"events": ["email/*"]}, environ={})
    sms = json.loads((SAMPLES / "sms_sent.json").read_text())
    text = render_explanation(explain(mapping, sms))
    line = MAPPING.read_text().splitlines().index("  - id: not_selected") + 1
    assert f"  not_selected  ({MAPPING}:{line}:5, skip[0]): MATCHED: payload skipped" in text
    assert text.endswith("result: skipped by not_selected: the events setting does not select this object_type/metric")
    broken = explain(mapping, json.loads((SAMPLES / "email_sent.json").read_text()) | {"timestamp": "noon"})
    assert broken.error is not None
    assert (broken.error.rule, broken.error.path, broken.error.message) == (
        "fields.time.filters[0]", "$.timestamp", "seconds_to_ms expects a number of seconds, got string \"noon\"")
    assert broken.to_dict()["error"] == {"rule": "fields.time.filters[0]", "path": "$.timestamp",
                                         "message": broken.error.message}


def test_cli_explain_text_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["explain", str(SAMPLES / "push_opened.json"), "--set", "account_id=1"])
    assert result.exit_code == 0
    assert "  platform  (" in result.stdout and "| lookup → \"Android\"" in result.stdout
    result = runner.invoke(app, ["explain", str(SAMPLES / "events.ndjson"), "--json"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 40
    first = lines[0]["events"][0]["fields"]
    assert first["event_type"]["filters"] == [{"filter": "title", "value": first["event_type"]["value"]}]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=oracle.payloads, chosen=oracle.setting_choices)
def test_explain_agrees_with_apply_on_generated_payloads(payload: dict[str, Any], chosen: dict[str, Any]) -> None:
    mapping = oracle.engine_mapping(chosen)
    assert outcome_of_explain(mapping, payload) == outcome_of_apply(mapping, payload)
