"""The durability scenario, with a poison in the middle: signed webhooks at a fixed rate against a
fake Amplitude that fails (5xx, 5xx after ingesting, 429, dropped connections), the receiver
SIGKILLed three times mid-load and restarted; one webhook nested 300 levels deep (past intake
with --max-depth 512, beyond what orjson can encode) is sent halfway. Before: that webhook
stopped all forwarding for good. `benchmarks/serve_durability.py` runs the same thing bigger."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("serve_durability", ROOT / "benchmarks" / "serve_durability.py")
assert _spec is not None and _spec.loader is not None
durability = importlib.util.module_from_spec(_spec)
sys.modules["serve_durability"] = durability
_spec.loader.exec_module(durability)


def test_every_acknowledged_webhook_is_delivered_once_through_three_kills_and_a_poison(tmp_path: Path) -> None:
    result = durability.run(tmp_path, webhooks=600, rate=150, kills=3, deep_at=300, retry_rate=600)
    assert result.kills == 3
    assert result.acked_first_time < result.webhooks          # the kills landed mid-load
    assert result.lost == set() and result.extra == set()     # every webhook, once after dedupe
    assert result.ingested == result.expected and len(result.expected) == 599
    assert result.letters == [("set_aside", result.deep_id, "cannot be encoded as JSON: Recursion limit reached")]
    assert result.pending_at_end == 0
    # the faults really happened, and copies really arrived for Amplitude to drop
    assert {"429", "502", "503"} <= set(result.amplitude_statuses)
    assert result.amplitude_requests > sum(result.amplitude_statuses.values())   # dropped connections
    assert result.copies_received > len(result.ingested)
