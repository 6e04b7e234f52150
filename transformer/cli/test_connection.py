"""`transformer test-connection`: send one `Email Sent` test event, say which host answered."""

from __future__ import annotations

import time
import uuid

import typer

from ..delivery import AmplitudeSender
from .common import DEFAULT_MAPPING, MappingOpt, SetOpt, SettingsOpt, err, fail, load_from_options


def test_connection(
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
) -> None:
    """Send one test `Email Sent` event; exit 0 only when Amplitude accepts it."""
    compiled = load_from_options(mapping, assignments, settings_file)
    if not compiled.settings.get("api_key"):
        fail("error: no Amplitude API key: export AMPLITUDE_API_KEY=… (or set api_key in a settings file)", 2)
    event = {
        "event_type": "Email Sent",
        "user_id": "transformer-test-connection",
        "insert_id": f"transformer-test-{uuid.uuid4()}",
        "time": int(time.time() * 1000),
        "event_properties": {"test_connection": True, "sent_by": "transformer test-connection"},
    }
    with AmplitudeSender.from_settings(compiled.settings, deadline=30.0, concurrency=1) as sender:
        region = "EU" if sender.endpoint.is_eu else ("US" if "amplitude.com" in sender.endpoint.host
                                                      else "custom endpoint")
        err(f"host: {sender.endpoint.host} ({region}), {sender.endpoint.url}")
        report = sender.send([event])
    if report.accepted == 1:
        err(f"ok: Amplitude accepted the test event (insert_id {event['insert_id']}); "
            "look for an 'Email Sent' event of user 'transformer-test-connection' in the project")
        raise typer.Exit(0)
    reason = report.fatal or next(
        (d["dead_letter"]["reason"] for d in report.dead_letters), "not accepted")
    err(f"failed: {reason}")
    raise typer.Exit(1)
