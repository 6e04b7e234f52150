"""A second mapping, to a different output shape, run by the same engine with no engine change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformer import Skip, load_mapping

from .conftest import ROOT

ORDERS = ROOT / "tests" / "mappings" / "orders.yaml"


def order(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"order": {
        "id": 1001, "status": "paid", "currency": " usd ", "tags": [],
        "customer": {"email": "  Ada@Example.COM ", "phone": None},
        "internal": {"secret": "x"},
        "lines": [{"sku": "ab-1", "quantity": 2, "price": 9.99}, {"sku": "zz-0", "quantity": 0, "price": 1}],
    }}
    base["order"].update(overrides)
    return base


def test_one_row_per_selected_line_item() -> None:
    mapping = load_mapping(ORDERS, environ={})
    result = mapping.apply(order())
    assert result.id == "1001"
    assert result.events == [{
        "row_id": "ab-1-1001", "customer": "ada@example.com", "sku": "AB-1", "quantity": 2,
        "unit_price_cents": 9990, "currency": "USD", "status": "PAID",
        "meta": {"id": 1001, "status": "paid", "currency": " usd ", "tags": [],
                 "exported_by": "transformer"},
    }]


def test_settings_reach_the_each_expression() -> None:
    mapping = load_mapping(ORDERS, settings={"min_quantity": 0}, environ={})
    assert [e["sku"] for e in mapping.apply(order()).events] == ["AB-1", "ZZ-0"]


def test_fallbacks_lookup_default_and_skips() -> None:
    mapping = load_mapping(ORDERS, environ={})
    (row,) = mapping.apply(order(currency="  ", status="lost", customer={"phone": "+33 1"})).events
    assert (row["currency"], row["status"], row["customer"]) == ("EUR", "OTHER", "+33 1")
    assert mapping.apply(order(test=True)).skip == Skip("test_order", "test orders are not exported")
    assert mapping.apply(order(customer={"email": " "})).skip.rule == "no_customer"  # type: ignore[union-attr]


def test_no_lines_gives_no_events_and_no_skip() -> None:
    mapping = load_mapping(ORDERS, environ={})
    result = mapping.apply(order(lines=None))
    assert result.events == [] and result.skip is None


def test_lets_that_read_the_each_item_are_recomputed_for_every_item(tmp_path: Path) -> None:
    spec = tmp_path / "items.yaml"
    spec.write_text("version: 1\n"
                    "each: {from: items, as: item}\n"
                    "let:\n"
                    "  label: {from: $item.name, filters: [upper]}\n"
                    "  total: length(items)\n"
                    "fields:\n"
                    "  label: $label\n"
                    "  of: $total\n")
    mapping = load_mapping(spec, environ={})
    assert mapping.apply({"items": [{"name": "a"}, {"name": "b"}, {}]}).events == [
        {"label": "A", "of": 3}, {"label": "B", "of": 3}, {"of": 3}]


def test_rest_exclusions_decided_at_load_follow_jmespath_truth(tmp_path: Path) -> None:
    from transformer.authoring import explain

    spec = tmp_path / "rest.yaml"
    spec.write_text("version: 1\n"
                    "settings:\n  drop_b: {type: boolean, default: false}\n"
                    "fields:\n  copy:\n    rest:\n      from: '@'\n      except:\n"
                    "        - {path: a, when: '`0`'}\n"         # 0 is true in JMESPath: dropped
                    "        - {path: b, when: $drop_b}\n"       # a setting: decided at load
                    "        - {path: c, when: '`[]`'}\n"        # an empty list is false: kept
                    "        - {path: d, when: e == `1`}\n")     # on the payload
    payload = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 1}
    for settings, expected in [({}, {"b": 2, "c": 3, "e": 1}), ({"drop_b": True}, {"c": 3, "e": 1})]:
        mapping = load_mapping(spec, settings, environ={})
        assert mapping.apply(payload).events == [{"copy": expected}]
        assert explain(mapping, payload).outputs == [{"copy": expected}]
    assert load_mapping(spec, environ={}).apply(payload | {"e": 2}).events == \
        [{"copy": {"b": 2, "c": 3, "d": 4, "e": 2}}]
