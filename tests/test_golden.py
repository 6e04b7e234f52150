"""The golden cases shipped beside mappings/amplitude.yaml, run by the engine."""

from __future__ import annotations

import functools

import pytest

from transformer.authoring.golden import CaseResult, load_cases, run_cases

from .conftest import MAPPING, ROOT

CASES = load_cases(ROOT / "mappings" / "amplitude.cases")


@functools.cache
def _results() -> dict[str, CaseResult]:
    """Every case run once, the mapping compiled once per distinct set of settings."""
    return {r.case.name: r for r in run_cases(MAPPING, CASES)}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_amplitude_golden_case(case: object) -> None:
    result = _results()[case.name]  # type: ignore[attr-defined]
    assert result.passed, f"{case.file.name}: {case.description}\n{result.diff}"  # type: ignore[attr-defined]


def test_catalog_covers_every_object_type_and_metric_pair() -> None:
    catalog = {
        "customer": "subscribed unsubscribed cio_subscription_preferences_changed",
        "email": "drafted attempted sent delivered opened clicked converted unsubscribed bounced dropped "
                 "spammed failed undeliverable",
        "push": "drafted attempted sent delivered opened clicked converted bounced dropped failed "
                "undeliverable",
        "sms": "drafted attempted sent delivered clicked converted bounced failed undeliverable replied",
        "whatsapp": "drafted attempted sent delivered opened clicked converted bounced dropped failed "
                    "undeliverable replied",
        "slack": "drafted attempted sent clicked failed undeliverable",
        "webhook": "drafted attempted sent clicked failed undeliverable",
        "in_app": "drafted attempted sent opened clicked converted failed undeliverable",
    }
    wanted = {(o, m) for o, metrics in catalog.items() for m in metrics.split()}
    covered = {(c.payload.get("object_type"), c.payload.get("metric")) for c in CASES
               if isinstance(c.payload, dict) and "events" in c.expect}
    assert wanted - covered == set()


def test_every_case_has_a_description() -> None:
    assert all(c.description.strip() for c in CASES)
